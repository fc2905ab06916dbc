"""Shared fixtures: a moto table built from template.yaml and an HTTP API v2 caller.

Everything local-AWS comes from devtools, the harness `make dev`, `make bench` and
`make fuzz` use too: the template (parsed once), the table (`MotoSandbox`: one moto
mock and boto3 session for the run, a fresh table per test), route matching and the
payload-format 2.0 events (devtools.gateway), handler loading and the Lambda context
(devtools.lambdas).
"""

import base64
import functools
import gzip
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
TABLE = "maintenance-windows-test"
REGION = "us-east-1"
NOW = 1_900_000_000 - 1_900_000_000 % 3600  # a whole hour in 2030, far from any DST edge

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "TABLE_NAME": TABLE,
        "POWERTOOLS_METRICS_NAMESPACE": "MaintenanceWindowsTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for name in list(os.environ):
    if name.startswith("AWS_ENDPOINT_URL"):
        del os.environ[name]

# After the environment: moto reads it on import.
from devtools.gateway import Gateway, Request, target  # noqa: E402
from devtools.gateway import match_route as gateway_match_route  # noqa: E402
from devtools.itemsread import ItemsRead  # noqa: E402
from devtools.lambdas import LambdaContext, handler_of, import_handler_module  # noqa: E402
from devtools.localaws import MotoSandbox  # noqa: E402
from devtools.template import FunctionSpec, load_template, read_yaml  # noqa: E402
from devtools.triggers import deliver_stream_now, read_model_streams  # noqa: E402

# Property tests: `property_examples(n)` is n in the slow tier (`make test-slow` loads
# this profile), a fifth of it in the default run.
hypothesis_settings.register_profile("full")
FULL_PROFILE = "full"


def property_examples(full: int) -> int:
    """How many examples a property test runs: all `full` in the slow tier, else a fifth."""
    if hypothesis_settings.get_current_profile_name() == FULL_PROFILE:
        return full
    return max(5, full // 5)


TEMPLATE = load_template(ROOT / "template.yaml", TABLE, REGION)


@functools.cache
def template() -> dict[str, Any]:
    """template.yaml as plain data (short tags in their long form)."""
    return read_yaml(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def sandbox() -> MotoSandbox:
    """moto for the whole run; `reset()` gives a test (or an example) a fresh table."""
    return MotoSandbox(TEMPLATE.table, TABLE, REGION)


@pytest.fixture
def aws(sandbox: MotoSandbox) -> Iterator[None]:
    from maintsvc.edge import apikeys
    from maintsvc.storage import store

    with sandbox.active():
        store.reset_clients()
        apikeys.clear_cache()
        yield
    store.reset_clients()
    apikeys.clear_cache()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set "now" (the service reads the system clock through time.time); starts at NOW."""

    def set_now(value: int) -> None:
        monkeypatch.setattr(time, "time", lambda: float(value))

    set_now(NOW)
    return set_now


@pytest.fixture
def atomic_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise AWS calls: each DynamoDB request is atomic, moto's in-process backend is not.

    Threads still interleave between requests, which is where real races happen.
    """
    import threading

    from botocore.client import BaseClient

    lock = threading.Lock()
    real = BaseClient._make_api_call

    def locked(self: BaseClient, operation: str, params: Any) -> Any:
        with lock:
            return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", locked)


@pytest.fixture
def store(aws: None) -> Any:
    from maintsvc.storage.store import Store

    return Store(TABLE)


@pytest.fixture
def items_read(store: Any) -> Iterator[ItemsRead]:
    """Items read by every DynamoDB request the handlers send (they share the store's client)."""
    from maintsvc.storage.store import _client

    recorder = ItemsRead()
    client = _client("dynamodb")
    client.meta.events.register("after-call.dynamodb.*", recorder)
    yield recorder
    client.meta.events.unregister("after-call.dynamodb.*", recorder)


@pytest.fixture
def settings() -> Any:
    from maintsvc.config import load_settings

    return load_settings()


def _function(folder: str) -> FunctionSpec:
    for function in TEMPLATE.functions.values():
        if function.code_dir.name == folder:
            return function
    raise AssertionError(f"no function in template.yaml has its code in functions/{folder}")


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name, as Lambda would load it."""
    module_name = f"function_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    return import_handler_module(_function(name), module_name)


# (function folder, method, route) of every HttpApi event, literal segments first.
ROUTES = sorted(
    ((r.function.code_dir.name, r.method, str(r.path)) for r in TEMPLATE.routes),
    key=lambda r: [s.startswith("{") for s in r[2].split("/")],
)


def match_route(method: str, path: str) -> tuple[str, str, dict[str, str]]:
    """(function folder, route, path parameters) API Gateway picks for `method path`."""
    found = gateway_match_route(TEMPLATE.routes, method, path)
    if found is None:
        raise AssertionError(f"no route for {method} {path}")
    return found.route.function.code_dir.name, str(found.route.path), found.path_parameters


class _Functions:
    """Runs handlers the way `load_function` loads them (a test may patch those modules)."""

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any:
        module = load_function(function.code_dir.name)
        return handler_of(module, function)(event, LambdaContext())


GATEWAY = Gateway(TEMPLATE.routes, _Functions())
# The stream consumers whose read models requests read (the feed's counters); the notifier
# is driven by its own tests.
READ_MODEL_STREAMS = read_model_streams(TEMPLATE.streams)


def index_stream(sandbox: MotoSandbox) -> None:
    """Run the indexer over the stream records written since the last call, as Lambda would."""
    arn = f"arn:aws:dynamodb:{REGION}:123456789012:table/{TABLE}/stream/local"
    records = sandbox.stream_backlog + sandbox.new_stream_records()
    sandbox.stream_backlog = deliver_stream_now(
        READ_MODEL_STREAMS, records, GATEWAY.invoker.invoke, arn
    )


def reads_read_models(path: str) -> bool:
    """Routes that answer from what the indexer keeps (the feed, the monitor status): the
    stream is delivered before those, in one go, rather than after every write."""
    return path.rstrip("/") == "/api/v4/maintenances/events" or path.startswith("/api/v4/monitors/")


@pytest.fixture
def indexed(sandbox: MotoSandbox) -> Callable[[], None]:
    """index_stream for tests that read the feed through domain functions."""
    return lambda: index_stream(sandbox)


class Response:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.status: int = raw["statusCode"]
        body = raw.get("body") or ""
        if raw.get("isBase64Encoded"):
            data = base64.b64decode(body)
            if (raw.get("headers") or {}).get("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            body = data.decode()
        self.text: str = body
        self.headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        is_text = self.headers.get("content-type", "").startswith("text/")  # the calendar
        self.json: Any = json.loads(body) if body and not is_text else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:200]}>"


Caller = Callable[..., Response]


@pytest.fixture
def write_key(store: Any) -> str:
    from maintsvc.edge.apikeys import create_api_key

    return create_api_key(store, "writer")


@pytest.fixture
def read_key(store: Any) -> str:
    from maintsvc.edge.apikeys import create_api_key

    return create_api_key(store, "reader", read_only=True)


@pytest.fixture
def call(write_key: str, sandbox: MotoSandbox) -> Caller:
    """call(method, path, body=..., query=..., key=..., headers=..., raw_body=...) -> Response."""

    def _call(
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        key: str | None = write_key,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
        base64_body: bool = False,
    ) -> Response:
        names = {name.lower() for name in headers or {}}
        all_headers = list((headers or {}).items())
        if "content-type" not in names:
            all_headers.append(("content-type", "application/json"))
        if key is not None and "authorization" not in names:
            all_headers.append(("authorization", f"Bearer {key}"))
        text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        request = Request(
            method, target(path, query), all_headers, b"" if text is None else text.encode()
        )
        if reads_read_models(path):
            index_stream(sandbox)  # the stream reached its consumers before this request
        routed = GATEWAY.event(request)
        if routed is None:
            raise AssertionError(f"no route for {method} {path}")
        match, event = routed
        event["isBase64Encoded"] = base64_body
        return Response(GATEWAY.invoker.invoke(match.route.function, event))

    return _call


@pytest.fixture
def trips(call: Caller) -> Any:
    """Counts the DynamoDB requests the handlers send, by operation, on a warm function
    (the writer's key look-up cached, as docs/performance.md counts)."""
    from collections import Counter
    from contextlib import contextmanager

    from devtools.triggers import consuming_stream
    from maintsvc.storage.store import dynamodb_client

    call("GET", "/api/v4/maintenances")

    @contextmanager
    def counting() -> Iterator[Counter[str]]:
        calls: Counter[str] = Counter()

        def count(event_name: str, **kwargs: Any) -> None:
            if not consuming_stream():  # the indexer, run between requests
                calls[event_name.rsplit(".", 1)[-1]] += 1

        events = dynamodb_client().meta.events
        events.register("before-call.dynamodb.*", count)
        try:
            yield calls
        finally:
            events.unregister("before-call.dynamodb.*", count)

    return counting


def valid_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Nightly Deploy",
        "start_date_time": 1_900_000_000 - 1_900_000_000 % 60,
        "rrule": "FREQ=DAILY;COUNT=1",
        "duration_seconds": 1800,
    }
    body.update(overrides)
    return body
