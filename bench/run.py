"""Benchmarks that print numbers: `make bench` (or `python -m bench.run [--quick]`).

- DynamoDB round trips per API operation, counted with a botocore event hook
  on every request the handlers send (moto in-process, so only counts and
  ratios are meaningful, not milliseconds).
- Cold-start import time of each function module, against
  `import boto3; boto3.client("dynamodb")` alone, in fresh interpreters.
- Cold-start first request of each function: the handler imported and invoked
  once with a representative event, against `import boto3`, a client and one
  GetItem; fresh interpreters, both sides calling the same moto server over
  HTTP (`first_requests`).
- Scheduler throughput: a tick over N due events against N bare moto
  UpdateItem calls.
- Write items and write units per status change (a tick of N due events, a
  transition-worker batch, the first start of an event held by a pause), through a
  botocore hook on every write request (devtools.writecost).
"""

import argparse
import compileall
import json
import logging
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import offline_environment

ROOT = Path(__file__).resolve().parent.parent
offline_environment("maintenance-windows-bench")

# After the environment: moto reads it on import.
from devtools.gateway import Gateway, Request, target  # noqa: E402
from devtools.itemsread import ItemsRead  # noqa: E402
from devtools.lambdas import LocalLambda  # noqa: E402
from devtools.localaws import EmbeddedMoto, MotoSandbox, ensure_table, take_stream_records  # noqa: E402
from devtools.seeding import seed_due_events  # noqa: E402
from devtools.template import load_template  # noqa: E402
from devtools.triggers import (  # noqa: E402
    consuming_stream,
    deliver_stream_now,
    lambda_record,
    read_model_streams,
)

NOW = 1_900_000_000 - 1_900_000_000 % 3600
REGION = "us-east-1"
TEMPLATE = load_template(table_name=os.environ["TABLE_NAME"], region=REGION)
SANDBOX = MotoSandbox(TEMPLATE.table, os.environ["TABLE_NAME"], REGION)


class CallCounter:
    """Counts DynamoDB requests by operation through botocore's event system."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        if not consuming_stream():  # the indexer, run between requests
            self.calls[event_name.rsplit(".", 1)[-1]] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.calls = Counter()
        yield self.calls


@contextmanager
def moto_table() -> Iterator[CallCounter]:
    """A fresh moto table (devtools.localaws.MotoSandbox); DynamoDB requests are counted."""
    from maintsvc.edge import apikeys
    from maintsvc.storage import store

    with SANDBOX.active():
        store.reset_clients()
        apikeys.clear_cache()
        counter = CallCounter()
        client = store._client("dynamodb")
        client.meta.events.register("before-call.dynamodb.*", counter)
        yield counter
    store.reset_clients()


def round_trips() -> list[tuple[str, int, str]]:
    """(operation, DynamoDB requests, detail) for each API operation on a warm function."""
    from maintsvc.edge.apikeys import create_api_key
    from maintsvc.storage.store import Store

    time.time = lambda: float(NOW)
    rows: list[tuple[str, int, str]] = []
    lambdas = LocalLambda(TEMPLATE.functions.values(), REGION)
    gateway = Gateway(TEMPLATE.routes, lambdas)
    with moto_table() as counter:
        key = create_api_key(Store(os.environ["TABLE_NAME"]), "bench")

        def call(method: str, path: str, body: Any = None, query: Any = None) -> Any:
            deliver_stream_now(  # the indexer has read the stream before each request
                read_model_streams(TEMPLATE.streams),
                SANDBOX.new_stream_records(),
                lambdas.invoke,
                "stream",
            )
            headers = [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
            data = b"" if body is None else json.dumps(body).encode()
            routed = gateway.event(Request(method, target(path, query), headers, data))
            assert routed is not None, f"no route for {method} {path}"
            match, event = routed
            return gateway.invoker.invoke(match.route.function, event)

        def measure(label: str, method: str, path: str, body: Any = None, query: Any = None) -> Any:
            call("GET", "/api/v4/maintenances/1")  # a warm function has the key cached
            with counter.counting() as calls:
                response = call(method, path, body, query)
            assert response["statusCode"] < 300, response
            detail = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
            rows.append((label, sum(calls.values()), detail))
            return response

        def body(rrule: str, **extra: Any) -> dict[str, Any]:
            return {"title": "b", "start_date_time": NOW + 600, "rrule": rrule,
                    "duration_seconds": 600, **extra}  # fmt: skip

        measure("create, INACTIVE (no events)", "POST", "/api/v4/maintenances",
                body("FREQ=DAILY", status="INACTIVE"))  # fmt: skip
        measure("create, 1 event", "POST", "/api/v4/maintenances", body("FREQ=DAILY;COUNT=1"))
        tagged = {"monitors": [{"monitor_tag": "db", "impact": "DOWN"}]}
        measure("create, 30 events", "POST", "/api/v4/maintenances", body("FREQ=DAILY", **tagged))
        measure("create, 500 events", "POST", "/api/v4/maintenances",
                body("FREQ=HOURLY", **tagged))  # fmt: skip
        measure("get", "GET", "/api/v4/maintenances/3")
        measure("list (4 maintenances)", "GET", "/api/v4/maintenances")
        measure("list by monitor_tag", "GET", "/api/v4/maintenances", query={"monitor_tag": "x"})
        measure("patch title", "PATCH", "/api/v4/maintenances/3", {"title": "renamed"})
        measure("patch duration (regenerate 30)", "PATCH", "/api/v4/maintenances/3",
                {"duration_seconds": 900})  # fmt: skip
        measure("patch INACTIVE", "PATCH", "/api/v4/maintenances/3", {"status": "INACTIVE"})
        measure("events page (30 events)", "GET", "/api/v4/maintenances/3/events")
        measure("feed page", "GET", "/api/v4/maintenances/events")
        measure("feed page, one maintenance", "GET", "/api/v4/maintenances/events",
                query={"maintenance_id": "3"})  # fmt: skip
        measure("monitor status (2 maintenances, 530 windows)", "GET",
                "/api/v4/monitors/db/maintenance", query={"at": str(NOW + 700)})  # fmt: skip
        measure("monitor status, unknown tag", "GET", "/api/v4/monitors/nobody/maintenance")
        events = call("GET", "/api/v4/maintenances/4/events")
        first = json.loads(events["body"])["events"][0]["id"]
        measure("event get", "GET", f"/api/v4/maintenances/4/events/{first}")
        measure("event reschedule", "PATCH", f"/api/v4/maintenances/4/events/{first}",
                {"start_date_time": NOW + 7200, "end_date_time": NOW + 9000})  # fmt: skip
        measure("event cancel", "PATCH", f"/api/v4/maintenances/4/events/{first}",
                {"status": "CANCELLED"})  # fmt: skip
        measure("event delete", "DELETE", f"/api/v4/maintenances/4/events/{first + 1}")
        measure("delete (30 events)", "DELETE", "/api/v4/maintenances/3")
    lambdas.close()
    return rows


def page_reads(scales: list[int]) -> list[tuple[str, int, int, int, float]]:
    """(page, scale, matching events, items read, ratio to 1x) for the two paged reads."""
    from maintsvc.derived.feed import list_feed
    from maintsvc.derived.feed_counters import count_stream_batch
    from maintsvc.resources.events import list_events
    from maintsvc.storage.store import Store, _client

    rows: list[tuple[str, int, int, int, float]] = []
    base: dict[str, int] = {}
    for scale in scales:
        cases = {
            # one maintenance whose history grows
            "events page 2 of 20": (1, 30 * scale),
            # more maintenances, each with 30 future events
            "feed page 1 of 20": (scale, 30),
        }
        for label, (maintenances, per) in cases.items():
            with moto_table():
                store = Store(os.environ["TABLE_NAME"])
                seed_due_events(store, maintenances, per, NOW + 60)
                records = [lambda_record(r, "stream") for r in SANDBOX.new_stream_records()]
                count_stream_batch(store, records, NOW)  # what IndexerFunction does
                counter = ItemsRead()
                _client("dynamodb").meta.events.register("after-call.dynamodb.*", counter)
                if label.startswith("events"):
                    list_events(store, "1", 1, 2, 20)
                else:
                    list_feed(store, {}, 1, 20, NOW)
            base.setdefault(label, counter.items)
            ratio = counter.items / base[label]
            rows.append((label, scale, maintenances * per, counter.items, ratio))
    return rows


DELAY_SECONDS = 0.1


def sequential_depth() -> list[tuple[str, int, float, str]]:
    """(read, calls, sequential round trips, target): each DynamoDB call delayed by
    DELAY_SECONDS; the wall time added, over the delay, is how many calls waited in a row
    (moto's own time, measured without the delay, is taken out)."""
    from maintsvc.config import load_settings
    from maintsvc.derived.feed import list_feed
    from maintsvc.derived.feed_counters import count_stream_batch
    from maintsvc.derived.monitor_windows import index_stream_batch, monitor_status
    from maintsvc.storage import keys
    from maintsvc.storage.store import Store, _client

    rows: list[tuple[str, int, float, str]] = []
    with moto_table():
        store = Store(os.environ["TABLE_NAME"])
        seed_due_events(store, 30, 30, NOW + 60)
        for mid in (1, 2):
            store.update(
                keys.maintenance_key(mid), "SET monitors = :m",
                {":m": [{"monitor_tag": "db", "impact": "DOWN"}]},
            )  # fmt: skip
        records = [lambda_record(r, "stream") for r in SANDBOX.new_stream_records()]
        index_stream_batch(store, records)
        count_stream_batch(store, records, NOW)
        calls = Counter[str]()

        def delayed(event_name: str, **kwargs: Any) -> None:
            calls[event_name.rsplit(".", 1)[-1]] += 1
            time.sleep(DELAY_SECONDS)

        events = _client("dynamodb").meta.events
        ready = load_settings().ready_window_seconds
        cases: dict[str, tuple[Callable[[], object], str]] = {
            "feed page 1 of 20 (900 events)": (lambda: list_feed(store, {}, 1, 20, NOW), "3"),
            "feed page 3 of 20, status SCHEDULED": (
                lambda: list_feed(store, {"event_status": "SCHEDULED"}, 3, 20, NOW),
                "3",
            ),
            "monitor status, in a window": (
                lambda: monitor_status(store, "db", NOW + 90, ready),
                "2",
            ),
        }
        for label, (read, target) in cases.items():
            read()  # warm
            began = time.perf_counter()
            read()
            undelayed = time.perf_counter() - began  # moto's own time, taken out below
            calls.clear()
            events.register("before-call.dynamodb.*", delayed)
            began = time.perf_counter()
            try:
                read()
            finally:
                events.unregister("before-call.dynamodb.*", delayed)
            depth = (time.perf_counter() - began - undelayed) / DELAY_SECONDS
            rows.append((label, sum(calls.values()), round(depth, 1), target))
    return rows


class WriteItems:
    """Items the indexer writes, by kind: counted-record markers, counters, window index."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.units = 0

    def _item(self, key: dict[str, Any], transactional: bool) -> None:
        pk = key["PK"]["S"]
        kind = (
            "marker"
            if pk.startswith("COUNTED#")
            else "counter"
            if pk.startswith("COUNT#")
            else "window"
        )
        self.kinds[kind] += 1
        self.units += 2 if transactional else 1

    def __call__(self, event_name: str, params: dict[str, Any], **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                (body,) = action.values()
                self._item(body.get("Key") or body["Item"], True)
        elif operation in ("PutItem", "UpdateItem"):
            self._item(params.get("Key") or params["Item"], False)
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    (body,) = request.values()
                    self._item(body.get("Key") or body["Item"], False)


def indexer_writes() -> list[tuple[str, int, int, int, int, float]]:
    """(stream batch, records, marker items, counter items, window items, write units per
    record) of IndexerFunction's work: what exactly-once counting costs."""
    from maintsvc.derived.feed_counters import count_stream_batch
    from maintsvc.derived.monitor_windows import index_stream_batch
    from maintsvc.lifecycle.scheduler import run_tick
    from maintsvc.storage import keys
    from maintsvc.storage.store import Store, _client

    def indexed(store: Store) -> tuple[int, WriteItems]:
        records = [lambda_record(r, "stream") for r in SANDBOX.new_stream_records()]
        records = [
            r for r in records if r["dynamodb"]["Keys"]["SK"]["S"].startswith(("E#", "META"))
        ]
        writes = WriteItems()
        events = _client("dynamodb").meta.events
        events.register("provide-client-params.dynamodb.*", writes)
        try:
            index_stream_batch(store, records)
            count_stream_batch(store, records, NOW)
        finally:
            events.unregister("provide-client-params.dynamodb.*", writes)
        return len(records), writes

    rows: list[tuple[str, int, int, int, int, float]] = []
    with moto_table():
        store = Store(os.environ["TABLE_NAME"])
        seed_due_events(store, 1, 500, NOW + 600)
        indexed(store)
        store.update(
            keys.maintenance_key(1), "SET monitors = :m",
            {":m": [{"monitor_tag": "db", "impact": "DOWN"}]},
        )  # fmt: skip
        n, w = indexed(store)
        rows.append(("a maintenance gains a tag (500 events)", n, w.kinds["marker"],
                     w.kinds["counter"], w.kinds["window"], w.units / n))  # fmt: skip
    with moto_table():
        store = Store(os.environ["TABLE_NAME"])
        seed_due_events(store, 500, 1, NOW + 600)
        n, w = indexed(store)
        rows.append(("500 maintenances created (1 event each)", n, w.kinds["marker"],
                     w.kinds["counter"], w.kinds["window"], w.units / n))  # fmt: skip
        from maintsvc.config import load_settings

        run_tick(store, load_settings(), NOW + 300)  # all 500 into READY at once
        n, w = indexed(store)
        rows.append(("a burst: 500 transitions in one tick", n, w.kinds["marker"],
                     w.kinds["counter"], w.kinds["window"], w.units / n))  # fmt: skip
    return rows


def transition_writes(due: int) -> list[tuple[str, int, int, int, float, float, int]]:
    """(path, transitions, UpdateItem calls, TransactWriteItems calls, write items per
    transition, write units per transition, target) of the status changes' writes."""
    from devtools.writecost import WriteCost
    from maintsvc.config import load_settings
    from maintsvc.lifecycle.scheduler import run_tick
    from maintsvc.lifecycle.transition_queue import DueChange, apply_messages
    from maintsvc.resources.maintenances import create_maintenance, update_maintenance
    from maintsvc.storage.store import Store, _client

    settings = load_settings()
    start = NOW + 3600
    rows: list[tuple[str, int, int, int, float, float, int]] = []

    def row(label: str, transitions: int, cost: WriteCost, target: int) -> None:
        rows.append((label, transitions, cost.calls["UpdateItem"],
                     cost.calls["TransactWriteItems"], cost.items / transitions,
                     cost.units / transitions, target))  # fmt: skip

    with moto_table():
        store = Store(os.environ["TABLE_NAME"])
        seed_due_events(store, due, 1, start)  # one event each: maintenance n holds event n
        cost = WriteCost().attach(_client("dynamodb"))
        ready = run_tick(store, settings, start - 300).transitions
        row(f"tick, {due} due events -> READY", ready, cost, 1)
        cost.reset()
        ongoing = run_tick(store, settings, start).transitions
        row(f"tick, {due} due events -> ONGOING", ongoing, cost, 1)
        cost.detach(_client("dynamodb"))
    with moto_table():
        store = Store(os.environ["TABLE_NAME"])
        seed_due_events(store, 10, 1, start)
        batch = [
            {"messageId": str(n), "body": DueChange(n, n, "SCHEDULED", start, start + 60,
                                                    start - 300).body()}
            for n in range(1, 11)
        ]  # fmt: skip
        time.time = lambda: float(start - 300)
        cost = WriteCost().attach(_client("dynamodb"))
        applied = apply_messages(store, settings, batch).applied
        row("transition worker, a batch of 10", applied, cost, 1)
        cost.detach(_client("dynamodb"))
    with moto_table():
        store = Store(os.environ["TABLE_NAME"])
        body = {"title": "b", "start_date_time": start, "rrule": "FREQ=DAILY;COUNT=1",
                "duration_seconds": 600}  # fmt: skip
        m = create_maintenance(store, settings, body, NOW)
        for status in ("INACTIVE", "ACTIVE"):
            update_maintenance(store, settings, str(m["id"]), m["id"], {"status": status}, NOW)
        cost = WriteCost().attach(_client("dynamodb"))
        held = run_tick(store, settings, start - 300).transitions
        row("tick, the first start of an event held by a pause (after the resume)", held,
            cost, 2)  # fmt: skip
        cost.detach(_client("dynamodb"))
    time.time = lambda: float(NOW)
    return rows


@contextmanager
def as_deployed(bytecode: bool = False) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of shared/ and functions/ as `sam build` ships them, and the environment that
    runs a function from it: (the copy's root, variables).

    sam build copies the sources without bytecode (aws-lambda-builders leaves
    out *.pyc and __pycache__) and Lambda's code directories are read-only, so
    on Lambda every module of ours is compiled from source at each cold start;
    here too (PYTHONDONTWRITEBYTECODE), whatever __pycache__ the checkout holds.
    Libraries keep the venv's bytecode, as boto3 has it in the Lambda runtime.

    `bytecode`: the copy gets it (unchecked-hash .pyc files, which a read-only
    directory can use whatever the files' times): what shipping it would save.
    """
    with tempfile.TemporaryDirectory(prefix="coldstart-") as temp:
        root = Path(temp)
        for folder in ("shared", "functions"):
            shutil.copytree(ROOT / folder, root / folder,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        if bytecode:
            mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
            compileall.compile_dir(root, quiet=1, invalidation_mode=mode)
        yield root, {**os.environ, "PYTHONPATH": str(root / "shared"),
                     "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip


def import_times(
    repeats: int, bytecode: bool = False
) -> list[tuple[str, float, float, float, float]]:
    """(module, median ms, ratio to the boto3 baseline, median CPU ms, CPU ratio), each
    sample a fresh interpreter running the module as deployed (`as_deployed`).

    Samples are interleaved (baseline, then each module, `repeats` rounds) so a
    busy moment of the machine hits every target alike.
    """
    baseline = "import boto3; boto3.client('dynamodb')"
    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir())
    samples: dict[str, list[tuple[float, float]]] = {}
    with as_deployed(bytecode) as (deployed, env):
        # The module plus the client it creates on its first request.
        targets = [("boto3 + dynamodb client (baseline)", baseline, deployed)] + [
            (f"functions/{f}/app.py", f"import app; {baseline}", deployed / "functions" / f)
            for f in functions
        ]
        for _ in range(repeats):
            for label, code, cwd in targets:
                script = (
                    "import time; t, c = time.perf_counter(), time.process_time(); "
                    f"{code}; print((time.perf_counter() - t) * 1000, "
                    "(time.process_time() - c) * 1000)"
                )
                done = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env,
                                      check=True, capture_output=True, text=True)  # fmt: skip
                wall, cpu = done.stdout.split()
                samples.setdefault(label, []).append((float(wall), float(cpu)))
    base = [statistics.median(column) for column in zip(*samples[targets[0][0]], strict=True)]
    rows = []
    for label, runs in samples.items():
        wall, cpu = (statistics.median(column) for column in zip(*runs, strict=True))
        rows.append((label, wall, wall / base[0], cpu, cpu / base[1]))
    return rows


# -- Cold start: the first request ------------------------------------------------------------

# What a cold Lambda holds before it imports the handler: the event (the runtime parsed
# it) and a context. Both sides run this before the clock starts.
_PRELUDE = """
import json, os, sys, time
event = json.loads(sys.stdin.read())
class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    identity = client_context = None
    def get_remaining_time_in_millis(self):
        return 60_000
context = Context()
started, cpu_started = time.perf_counter(), time.process_time()
"""
# The baseline: boto3, a client and one GetItem (the API key look-up every API request
# starts with), sent to the same endpoint as the functions' requests.
_BASELINE = """
import boto3
imported = time.process_time()
answer = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"], Key=event)
answer = {"found": "Item" in answer}
"""
_HANDLER = """
import app
imported = time.process_time()
answer = app.{handler}(event, context)
"""
_REPORT = """
ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.process_time() - cpu_started) * 1000
import_ms = (imported - cpu_started) * 1000
print(json.dumps({"ms": ms, "cpu_ms": cpu_ms, "import_ms": import_ms, "answer": answer}))
"""
FIRST_REQUEST_TARGET = 1.2


@dataclass
class FirstRequest:
    """One measured target: the code a fresh interpreter runs in `cwd` with `variables`,
    the event it reads (`event(run)`: some must differ from run to run) and the check its
    answer must pass, so that what got timed is never a 401 or a failure."""

    label: str
    code: str
    cwd: Path
    variables: dict[str, str]
    event: Callable[[int], Any]
    ok: Callable[[Any], bool]
    target: bool = True


@dataclass
class FirstRequestRow:
    """Medians of one target's samples, and their ratios to the baseline's."""

    label: str
    requests: float
    moto_ms: float
    wall_ms: float  # moto's share left out
    wall_ratio: float
    cpu_ms: float
    cpu_ratio: float
    import_cpu_ms: float
    target: str


def _api_ok(answer: Any) -> bool:
    return isinstance(answer, dict) and 200 <= answer.get("statusCode", 0) < 300


def _sample(name: str, key: str = "", **changes: Any) -> dict[str, Any]:
    """An events/ payload carrying the bearer `key`; `changes` replace top-level fields."""
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    if "headers" in event:
        event["headers"]["authorization"] = f"Bearer {key}"
    return {**event, **changes}


def _same(event: Any) -> Callable[[int], Any]:
    return lambda run: event


@contextmanager
def _served_by(endpoint: str) -> Iterator[None]:
    """This process's AWS clients talk to `endpoint` (moto's server) while the block runs."""
    from maintsvc.storage import store

    names = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL_SQS")
    os.environ.update(dict.fromkeys(names, endpoint))
    store.reset_clients()
    try:
        yield
    finally:
        for name in names:
            del os.environ[name]
        store.reset_clients()


def _seed_table(moto: EmbeddedMoto, name: str, now: int) -> tuple[str, int]:
    """Table `name` as the API finds it in use: a key; maintenance 1 from the create sample
    (daily 02:00 Berlin, tag api-gateway) starting tomorrow, its 30 events; the stream
    indexed. Returns the key and a second inside the first window."""
    from maintsvc.config import load_settings
    from maintsvc.derived.feed_counters import count_stream_batch
    from maintsvc.derived.monitor_windows import index_stream_batch
    from maintsvc.edge.apikeys import create_api_key
    from maintsvc.resources.events import list_events
    from maintsvc.resources.maintenances import create_maintenance
    from maintsvc.storage.store import Store

    ensure_table(TEMPLATE.table, name)
    store = Store(name)
    key = create_api_key(store, "bench")
    body = {
        **json.loads(_sample("create-maintenance.json")["body"]),
        "start_date_time": now + 86400,
    }
    create_maintenance(store, load_settings(), body, now)
    with moto.lock:
        table = moto.table(name, REGION)
        raw = take_stream_records(table)
        arn = f"{table.table_arn}/stream/{table.latest_stream_label}"
    records = [lambda_record(r.to_json(), arn) for r in raw]
    index_stream_batch(store, records)
    count_stream_batch(store, records, now)
    first = list_events(store, "1", 1, 1, 1)["events"][0]
    return key, int(first["start_date_time"]) + 60


class _DueChanges:
    """SQS batches for the transition worker: each run gets an event of its own, written
    just before, due to become READY now, so every sample applies one real write (and
    `applied` checks that it did)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.event_id = 0

    def __call__(self, run: int) -> dict[str, Any]:
        from maintsvc.storage.items import event_item
        from maintsvc.storage.store import Store

        self.event_id, start = 1000 + run, int(time.time()) + 120  # READY from start - 300
        end = start + 3600
        Store(self.table).put(
            event_item(1, self.event_id, start, start, end, "SCHEDULED", 1, "x", 300)
        )
        body = {"m": 1, "e": self.event_id, "status": "SCHEDULED", "start": start, "end": end,
                "due": start - 300}  # fmt: skip
        return {"Records": [{"messageId": f"m-{run}", "body": json.dumps(body)}]}

    def applied(self, answer: Any) -> bool:
        from maintsvc.storage import keys
        from maintsvc.storage.store import Store

        event = Store(self.table).get(keys.event_key(1, self.event_id))
        return (
            answer == {"batchItemFailures": []} and event is not None and event["status"] == "READY"
        )


def _new_stream_record(run: int) -> dict[str, Any]:
    """The notifier's sample record (SCHEDULED -> READY) under an eventID of its own: the
    indexer counts a record once, so a repeated ID would skip the counting write."""
    (record,) = _sample("notifier-status-change.json")["Records"]
    return {"Records": [{**record, "eventID": f"bench-{run}-{time.time_ns()}"}]}


def _first_request_targets(
    moto: EmbeddedMoto, endpoint: str, deployed: Path, deployed_env: dict[str, str]
) -> list[FirstRequest]:
    """The baseline and each function's first request. Functions that write get a table
    of their own, so the others read the same data in every run."""
    import boto3

    from maintsvc.edge.apikeys import digest
    from maintsvc.storage import keys
    from maintsvc.storage.store import to_item

    now = int(time.time())
    main = os.environ["TABLE_NAME"]
    key, in_window = _seed_table(moto, main, now)
    create_key, _ = _seed_table(moto, f"{main}-create", now)
    _seed_table(moto, f"{main}-transitions", now)
    for empty in ("indexer", "reconciler"):
        ensure_table(TEMPLATE.table, f"{main}-{empty}")
    queue = boto3.client("sqs").create_queue(QueueName="bench-transitions")["QueueUrl"]
    functions = {f.code_dir.name: f for f in TEMPLATE.functions.values()}

    def variables(name: str, spec: dict[str, str], table: str) -> dict[str, str]:
        return {**deployed_env, **spec, "TABLE_NAME": table, "AWS_LAMBDA_FUNCTION_NAME": name,
                "TRANSITION_QUEUE_URL": queue,
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
                "AWS_ENDPOINT_URL_SQS": endpoint}  # fmt: skip

    def handler(folder: str, what: str, event: Callable[[int], Any], ok: Callable[[Any], bool],
                table: str = main, target: bool = True) -> FirstRequest:  # fmt: skip
        function = functions[folder]
        code = _HANDLER.format(handler=function.handler_name)
        env = variables(function.logical_id, function.environment, table)
        cwd = deployed / "functions" / folder
        return FirstRequest(f"{function.logical_id}: {what}", code, cwd, env,
                            event, ok, target)  # fmt: skip

    create = {**json.loads(_sample("create-maintenance.json")["body"]), "start_date_time": now}
    due = _DueChanges(f"{main}-transitions")
    at = {"queryStringParameters": {"at": str(in_window)}, "rawQueryString": f"at={in_window}"}
    return [
        FirstRequest(
            "baseline: import boto3, a client, one GetItem",
            _BASELINE,
            deployed,
            variables("baseline", {}, main),
            _same(to_item(keys.api_key_key(digest(key)))),
            lambda answer: answer == {"found": True},
            target=False,
        ),
        handler(
            "maintenances",
            "GET a maintenance",
            _same(_sample("get-maintenance.json", key)),
            _api_ok,
        ),
        handler(
            "events", "GET a maintenance's events", _same(_sample("list-events.json", key)), _api_ok
        ),
        handler("events", "GET the feed", _same(_sample("feed.json", key)), _api_ok),
        handler(
            "monitors",
            "GET a monitor's status",
            _same(_sample("monitor-maintenance.json", key, **at)),
            _api_ok,
        ),
        handler(
            "scheduler",
            "a tick, nothing due",
            _same(_sample("scheduler-tick.json")),
            lambda answer: answer["transitions"] == 0 and not answer["stopped_early"],
        ),
        handler(
            "transitions",
            "one due change",
            due,
            due.applied,
            f"{main}-transitions",
        ),
        handler(
            "notifier",
            "one status change",
            _new_stream_record,
            lambda answer: answer == {"batchItemFailures": []},
        ),
        handler(
            "indexer",
            "one status change",
            _new_stream_record,
            lambda answer: answer["records_counted"] == 1,
            f"{main}-indexer",
        ),
        handler(
            "reconciler",
            "a cycle over an empty table",
            _same(_sample("scheduler-tick.json")),
            lambda answer: answer["cycles_completed"] == 1,
            f"{main}-reconciler",
        ),
        handler(
            "maintenances",
            "POST a maintenance (30 events)",
            _same(_sample("create-maintenance.json", create_key, body=json.dumps(create))),
            _api_ok,
            f"{main}-create",
            target=False,
        ),
    ]


def _first_request(moto: EmbeddedMoto, target: FirstRequest, run: int) -> dict[str, float]:
    """One sample: wall and CPU ms to the answer, CPU ms of it importing, the requests moto
    served and the ms it spent on them."""
    script = _PRELUDE + target.code + _REPORT
    event = json.dumps(target.event(run))
    requests_before, busy_before = moto.served()
    done = subprocess.run([sys.executable, "-c", script], cwd=target.cwd, env=target.variables,
                          input=event, capture_output=True, text=True)  # fmt: skip
    requests, busy = moto.served()
    if done.returncode:
        raise AssertionError(f"{target.label} failed:\n{done.stderr}")
    result = json.loads(done.stdout.splitlines()[-1])
    if not target.ok(result.pop("answer")):
        raise AssertionError(f"{target.label}: unexpected answer in {done.stdout}")
    moto_ms = (busy - busy_before) * 1000
    return {**result, "requests": requests - requests_before, "moto_ms": moto_ms,
            "own_ms": result["ms"] - moto_ms}  # fmt: skip


def first_requests(repeats: int, bytecode: bool = False) -> list[FirstRequestRow]:
    """Each function's cold first request against the baseline's (medians of fresh
    interpreters, interleaved like `import_times`, after one unmeasured round).

    A sample is a new interpreter that imports the handler (as deployed:
    `as_deployed`) and invokes it once with a representative event; the
    baseline imports boto3, creates a DynamoDB client and sends one GetItem.
    Both send real requests through
    botocore (endpoint, signing, connection, parsing) to the same moto server
    on loopback, which runs in this process: the interpreter's CPU time leaves
    out moto's work, and its wall time is counted without the time moto spent
    serving it. Otherwise a function that makes a dozen requests would mostly
    measure moto (several ms of this machine per request). CPU time is also
    what the machine's other load does not inflate, and what a cold start on
    Lambda's fraction of a vCPU waits for; the target is judged on it.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    moto = EmbeddedMoto()
    endpoint = moto.start()
    try:
        with _served_by(endpoint), as_deployed(bytecode) as (deployed, env):
            targets = _first_request_targets(moto, endpoint, deployed, env)
            samples: dict[str, list[dict[str, float]]] = {t.label: [] for t in targets}
            for run in range(repeats + 1):
                for target in targets:
                    sample = _first_request(moto, target, run)
                    if run:
                        samples[target.label].append(sample)
    finally:
        moto.stop()

    def median(label: str, name: str) -> float:
        return statistics.median(sample[name] for sample in samples[label])

    base = targets[0].label
    rows = []
    for target in targets:
        label = target.label
        rows.append(FirstRequestRow(
            label, median(label, "requests"), median(label, "moto_ms"),
            median(label, "own_ms"), median(label, "own_ms") / median(base, "own_ms"),
            median(label, "cpu_ms"), median(label, "cpu_ms") / median(base, "cpu_ms"),
            median(label, "import_ms"), f"≤ {FIRST_REQUEST_TARGET}" if target.target else "",
        ))  # fmt: skip
    return rows


def tick_throughput(sizes: list[int]) -> list[tuple[int, float, float, float]]:
    """(due events, tick seconds, bare UpdateItem seconds, ratio) against moto."""
    from maintsvc.config import load_settings
    from maintsvc.lifecycle.scheduler import run_tick
    from maintsvc.storage.store import Store

    rows = []
    for size in sizes:
        with moto_table():
            store = Store(os.environ["TABLE_NAME"])
            seed_due_events(store, max(1, size // 500), min(size, 500), NOW)
            started = time.perf_counter()
            report = run_tick(store, load_settings(), NOW + 500 * 300)
            tick = time.perf_counter() - started
            assert report.transitions == size, report
        with moto_table():
            store = Store(os.environ["TABLE_NAME"])
            seed_due_events(store, max(1, size // 500), min(size, 500), NOW)
            started = time.perf_counter()
            for n in range(1, size + 1):
                store.update(
                    {"PK": f"M#{(n - 1) // 500 + 1}", "SK": f"E#{n:012d}"},
                    "SET #s = :s",
                    {":s": "COMPLETED"},
                    {"#s": "status"},
                )
            bare = time.perf_counter() - started
        rows.append((size, tick, bare, tick / bare))
    return rows


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{c:.2f}" if isinstance(c, float) else str(c) for c in row]
        print("| " + " | ".join(cells) + " |")


def cold_start(repeats: int, bytecode: bool = False) -> None:
    """Both cold-start tables; the target is judged on the first request's CPU ratio."""
    ours = "our modules precompiled" if bytecode else "our modules compiled at import, as deployed"
    imports = import_times(repeats, bytecode)
    print_table(f"Cold-start import (medians of fresh interpreters; {ours})",
                ("module", "ms", "ratio", "CPU ms", "CPU ratio"), imports)  # fmt: skip
    firsts = [(r.label, r.requests, r.moto_ms, r.wall_ms, r.wall_ratio, r.cpu_ms, r.cpu_ratio,
               r.import_cpu_ms, r.target) for r in first_requests(repeats, bytecode)]  # fmt: skip
    header = ("function: event", "requests", "moto ms", "wall ms without moto", "ratio",
              "CPU ms", "CPU ratio", "of it import CPU ms", "target")  # fmt: skip
    print_table(f"Cold-start first request (medians of fresh interpreters; {ours}; "
                "moto on loopback)", header, firsts)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small tick sizes, fewer repeats")
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="only the cold-start figures (imports, first requests)",
    )
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="cold start with our modules precompiled (what shipping bytecode would save)",
    )
    args = parser.parse_args(argv)
    if args.cold_start or args.bytecode:
        cold_start(5 if args.quick else 15, args.bytecode)
        return
    trips = round_trips()
    print_table("DynamoDB round trips per operation (warm function)",
                ("operation", "round trips", "requests"), trips)  # fmt: skip
    reads = page_reads([1, 10] if args.quick else [1, 10, 100])
    print_table("Items read per page as data grows (moto; DynamoDB's own counts)",
                ("page", "scale", "matching events", "items read", "ratio"), reads)  # fmt: skip
    depth = sequential_depth()
    print_table(f"Round trips in a row ({int(DELAY_SECONDS * 1000)} ms added to every call)",
                ("read", "calls", "sequential", "target"), depth)  # fmt: skip
    writes = indexer_writes()
    print_table("IndexerFunction's writes per stream batch (each record counted once)",
                ("batch", "records", "markers", "counters", "window items",
                 "write units per record"), writes)  # fmt: skip
    transitions = transition_writes(100 if args.quick else 1000)
    print_table("Writes per status change (base-table items; units for items up to 1 KB)",
                ("path", "transitions", "UpdateItem", "TransactWriteItems",
                 "write items per transition", "write units per transition", "target items"),
                transitions)  # fmt: skip
    cold_start(5 if args.quick else 15)
    ticks = tick_throughput([200] if args.quick else [1000, 10000])
    print_table("Scheduler tick vs bare moto writes",
                ("due events", "tick s", "bare UpdateItem s", "ratio"), ticks)  # fmt: skip


if __name__ == "__main__":
    main()
