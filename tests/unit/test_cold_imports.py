"""What each function's module loads at a cold start: only what every invocation needs.

Lambda compiles every module of ours (and of the layer) at each cold start, so
a module imported at load costs every invocation, also the ones that never use
it (docs/performance.md, "Cold start"). These tests import each
functions/<name>/app.py in a fresh interpreter, as Lambda would (and as
tests/conftest.load_function does, through devtools.lambdas), and check that
none of the modules listed for it is in sys.modules afterwards. A route or path
that needs one imports it inside the function that uses it.

Not listed, because the baseline (`import boto3` and a client) loads them
anyway: `concurrent.futures` (botocore.httpsession, s3transfer), `dateutil`'s
tz and parser (botocore.utils), `json`, `threading`. Nor
`aws_lambda_powertools.metrics`: powertools' own __init__ imports it whatever
part of powertools is imported.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TEMPLATE

# -- what the lists are made of ----------------------------------------------------------------

# Request bodies are validated with pydantic models: only POST and PATCH need them.
REQUEST_MODELS = frozenset({"pydantic", "pydantic_core", "maintsvc.edge.models"})
# Expanding an RRULE (dateutil.rrule, time zones): materialisation only (create, a schedule
# change, the tick's top-up), imported lazily by maintsvc.lifecycle.materialise.
RECURRENCE = frozenset({"maintsvc.rrules", "dateutil.rrule", "zoneinfo"})
# The Idempotency-Key replay: only requests that carry the header.
IDEMPOTENCY = frozenset(
    {"aws_lambda_powertools.utilities.idempotency", "maintsvc.edge.idempotency"}
)
# Writing a schedule's events or purging a deleted maintenance.
MATERIALISATION = frozenset({"maintsvc.lifecycle.materialise", "maintsvc.lifecycle.deletion"})
# The conditional writes that move an event's status.
STATUS_WRITES = frozenset({"maintsvc.lifecycle.status_changes"})
# The scheduler's tick and the transition queue.
TICK = frozenset({"maintsvc.lifecycle.scheduler", "maintsvc.lifecycle.transition_queue"})
# The HTTP edge and powertools' resolvers (which bring asyncio): API functions only.
HTTP = frozenset({"aws_lambda_powertools.event_handler", "asyncio", "maintsvc.edge"})
# The API's use cases.
RESOURCES = frozenset({"maintsvc.resources"})
# What no function needs at load.
NEVER_AT_LOAD = REQUEST_MODELS | RECURRENCE | IDEMPOTENCY

# A name stands for the module and everything under it ("maintsvc.derived" covers
# "maintsvc.derived.feed", not "maintsvc.derived_x").
FORBIDDEN: dict[str, frozenset[str]] = {
    # GET, the listing, POST, PATCH, DELETE: the reads (most requests) need no write path.
    "maintenances": NEVER_AT_LOAD
    | MATERIALISATION
    | STATUS_WRITES
    | TICK
    | {"maintsvc.derived", "maintsvc.storage.access.event_items"},
    # A maintenance's events, one event, its PATCH and DELETE, and the global feed (whose
    # modules its route imports).
    "events": NEVER_AT_LOAD | MATERIALISATION | STATUS_WRITES | TICK | {"maintsvc.derived"},
    # Reads the window index only.
    "monitors": NEVER_AT_LOAD
    | MATERIALISATION
    | STATUS_WRITES
    | TICK
    | RESOURCES
    | {"maintsvc.derived.feed", "maintsvc.derived.feed_counters", "maintsvc.derived.reconcile"},
    # A tick advances statuses and enqueues the next minute's changes; it tops up and
    # purges only when those queues have work.
    "scheduler": NEVER_AT_LOAD | HTTP | MATERIALISATION | RESOURCES | {"maintsvc.derived"},
    "transitions": NEVER_AT_LOAD
    | HTTP
    | MATERIALISATION
    | RESOURCES
    | {"maintsvc.derived", "maintsvc.lifecycle.scheduler"},
    "notifier": NEVER_AT_LOAD
    | HTTP
    | MATERIALISATION
    | STATUS_WRITES
    | TICK
    | RESOURCES
    | {"maintsvc.derived.feed", "maintsvc.derived.monitor_windows"},
    "indexer": NEVER_AT_LOAD
    | HTTP
    | MATERIALISATION
    | STATUS_WRITES
    | TICK
    | RESOURCES
    | {"maintsvc.derived.reconcile", "maintsvc.derived.notifications", "maintsvc.derived.feed"},
    "reconciler": NEVER_AT_LOAD
    | HTTP
    | MATERIALISATION
    | STATUS_WRITES
    | TICK
    | RESOURCES
    | {"maintsvc.derived.notifications", "maintsvc.derived.feed"},
}

# Run in the fresh interpreter: import the handler file the way devtools.lambdas does,
# noting the first line of ours that imported each forbidden module, for the message.
PROBE = """
import importlib.util, json, sys, traceback

forbidden = json.loads(sys.argv[2])

def listed(name):
    return any(name == f or name.startswith(f + ".") for f in forbidden)

harness = sorted(m for m in sys.modules if listed(m))
culprits = {}

class Watch:
    def find_spec(self, name, path=None, target=None):
        if listed(name) and name not in culprits:
            ours = [f for f in traceback.extract_stack()[:-1]
                    if "/maintsvc/" in f.filename or f.filename.endswith("app.py")]
            culprits[name] = f"{ours[-1].filename}:{ours[-1].lineno}" if ours else "?"
        return None

from devtools.lambdas import import_handler_module
from devtools.template import load_template

(function,) = [f for f in load_template().functions.values() if f.code_dir.name == sys.argv[1]]
sys.meta_path.insert(0, Watch())
import_handler_module(function, "app")
loaded = {m: culprits.get(m, "?") for m in sorted(sys.modules) if listed(m)}
exists = {f: importlib.util.find_spec(f) is not None for f in forbidden}
print(json.dumps({"harness": harness, "loaded": loaded, "exists": exists}))
"""


def probe(folder: str) -> dict[str, dict[str, object]]:
    forbidden = sorted(FORBIDDEN[folder])
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, folder, json.dumps(forbidden)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, dict[str, object]] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_every_function_has_a_list() -> None:
    assert set(FORBIDDEN) == {f.code_dir.name for f in TEMPLATE.functions.values()}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_a_cold_start_loads_none_of_the_listed_modules(folder: str) -> None:
    result = probe(folder)
    # Every name is a real module (a typo would pass for ever) and the harness loads none.
    assert [name for name, found in result["exists"].items() if not found] == []
    assert result["harness"] == []
    loaded = "\n".join(
        f"  {module}, imported at {where}" for module, where in result["loaded"].items()
    )
    assert not loaded, f"functions/{folder}/app.py loads at import:\n{loaded}"
