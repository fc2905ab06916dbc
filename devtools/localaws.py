"""The AWS side of the local stack: moto, the template's table, and that table's stream.

Two ways to run moto, one per kind of user:

* `EmbeddedMoto`, for `make dev` and `make fuzz`: moto's server on loopback,
  in this process, so boto3 talks real HTTP to it and other tools (maintctl)
  can too. It serves one request at a time, as if each DynamoDB request were
  atomic, which moto's in-memory backend is not: the dev server runs
  handlers concurrently, and two interleaved requests could otherwise break
  a conditional write or a query iterating the table. The same lock lets the
  dev server read the table's stream and load saved items between requests.
  Calls of the stack's background work (devtools.priority) take it last.
* `MotoSandbox`, for the tests and `make bench`: moto in-process (no
  socket), one boto3 session for the whole process and a fresh table for
  each use. Creating a boto3 session per test cost ~0.2 s of set-up each;
  resetting moto's backends and copying an empty table costs a millisecond.

Both create the table from the template's own definition (`ensure_table`).
"""

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws
from moto.core.base_backend import BackendDict
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from devtools import motofix
from devtools.priority import BACKGROUND_HEADER
from devtools.template import ACCOUNT_ID, TableSpec

LOOPBACK = "127.0.0.1"
# How often moto's HTTP server checks whether it was asked to stop.
POLL_SECONDS = 0.1

# How WSGI names the header background calls carry.
BACKGROUND_ENVIRON = "HTTP_" + BACKGROUND_HEADER.upper().replace("-", "_")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def ensure_table(table: TableSpec, name: str) -> bool:
    """Create table `name` as the template defines it; an existing table is kept as it is.

    Returns whether the table was created. TTL needs its own call once the
    table is ACTIVE (CreateTable does not take it).
    """
    client = boto3.client("dynamodb")
    try:
        client.create_table(TableName=name, **table.create_arguments)
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    if table.ttl_attribute:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
        )
    return True


class MotoLock:
    """moto's one-at-a-time lock, taken by requests before background calls.

    `with lock:` waits its turn as a request does; `background()` (a call
    devtools.priority marked, with the BACKGROUND_HEADER) also lets every
    request waiting meanwhile go first. A plain lock wakes its waiters in no
    particular order: a GET's Query could wait behind the 16 writes the
    indexer's pool had queued in a gap between requests.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held = False
        self._requests_waiting = 0

    def __enter__(self) -> None:
        with self._condition:
            self._requests_waiting += 1
            try:
                self._condition.wait_for(lambda: not self._held)
            finally:
                self._requests_waiting -= 1
            self._held = True

    def __exit__(self, *_: object) -> None:
        with self._condition:
            self._held = False
            self._condition.notify_all()

    @contextmanager
    def background(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._held and not self._requests_waiting)
            self._held = True
        try:
            yield
        finally:
            self.__exit__()


class _OneRequestAtATime:
    """A WSGI app that runs `app` under `lock`, its response body read inside the lock.

    It counts the requests it served and the time moto spent on them, so a
    benchmark can tell a client's own time from the time it waited for moto.
    """

    def __init__(self, app: WsgiApp, lock: MotoLock) -> None:
        self._app = app
        self._lock = lock
        self.served = 0
        self.busy_seconds = 0.0

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        background = environ.get(BACKGROUND_ENVIRON) == "1"
        with self._lock.background() if background else self._lock:
            started = time.perf_counter()
            try:
                return list(self._app(environ, start_response))
            finally:
                self.served += 1
                self.busy_seconds += time.perf_counter() - started


class _LockedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with its app behind a lock and a quicker stop."""

    def __init__(self, port: int, lock: MotoLock) -> None:
        super().__init__(ip_address=LOOPBACK, port=port, verbose=False)
        self._lock = lock
        self.app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app), lock)

    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address, self._port, self.app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=POLL_SECONDS)


class EmbeddedMoto:
    """moto's server on a loopback port (0: any free one), one request at a time.

    `lock` is held while moto serves a request; hold it to read or change
    moto's state directly (`table`).
    """

    def __init__(self, port: int = 0) -> None:
        motofix.install()
        self.lock = MotoLock()
        self._server = _LockedMotoServer(port, self.lock)
        self.endpoint = ""

    def start(self) -> str:
        """Serve, from empty backends (as a fresh process would; tests start several)."""
        with self.lock:
            BackendDict.reset()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()

    def table(self, name: str, region: str) -> Any:
        """moto's Table object (call with `lock` held)."""
        return dynamodb_backends[ACCOUNT_ID][region].get_table(name)

    def served(self) -> tuple[int, float]:
        """(requests served, seconds moto spent serving them) since the server started."""
        with self.lock:
            return self._server.app.served, self._server.app.busy_seconds


def take_stream_records(table: Any) -> list[Any]:
    """The table's stream records since the last call, dropped from moto (call under the lock).

    moto keeps every stream record for ever (deployed, they expire after 24
    hours): the local stack reads them once, for its stream consumers and
    its saved data, and lets them go. Sequence numbers keep counting up.
    """
    shard = table.stream_shard
    if shard is None or not shard.items:
        return []
    records = shard.items
    shard.items = []
    shard.starting_sequence_number += len(records)
    return list(records)


def load_items(table: Any, items: Iterable[dict[str, Any]]) -> int:
    """Put items (DynamoDB JSON, as moto stored them) straight into `table` (under the lock).

    A restore, not a write: no stream records, no conditions. moto's own
    put_item re-checks the item size once per attribute (quadratic in the
    attributes), which made loading 100,000 items take 15 s; these items
    were checked when they were first written.
    """
    count = 0
    for attrs in items:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        item = Item(hash_key, range_key, {})
        item.attrs = LimitedSizeDict({name: DynamoType(value) for name, value in attrs.items()})
        if range_key is None:
            table.items[hash_key] = item
        else:
            table.items[hash_key][range_key] = item
        count += 1
    return count


class MotoSandbox:
    """In-process moto with the template's table, fresh for every `active()` or `reset()`.

    boto3's default session survives from one use to the next (moto would
    otherwise replace it on every start, and a new session re-reads the
    service models: most of a test's set-up time). Everything moto holds
    does not: `reset()` empties every backend (tables, queues, rules) and
    puts back a copy of the table as it was when just created.
    """

    def __init__(self, table: TableSpec, table_name: str, region: str) -> None:
        motofix.install()
        self._table = table
        self._table_name = table_name
        self._region = region
        self._mock = mock_aws(config={"core": {"reset_boto3_session": False}})
        self._pristine: Any = None
        self._stream_seen: dict[int, int] = {}
        # Records a synchronous consumer failed on, to be delivered again (tests).
        self.stream_backlog: list[dict[str, Any]] = []

    @contextmanager
    def active(self) -> Iterator[None]:
        """moto intercepts boto3 while the block runs; it starts with the table empty."""
        self._mock.start()
        motofix.install()  # the last mock's stop turned object tracking back on
        try:
            self.reset()
            yield
        finally:
            self._mock.stop()

    def new_stream_records(self) -> list[dict[str, Any]]:
        """The table's stream records written since the last call, as JSON (mock active).

        Unlike `take_stream_records` they stay in moto, so a test can still
        read the whole stream through the DynamoDB Streams API.
        """
        table = dynamodb_backends[ACCOUNT_ID][self._region].get_table(self._table_name)
        shard = table.stream_shard
        if shard is None:
            return []
        seen = self._stream_seen.get(id(shard), 0)
        records = shard.items[seen:]
        self._stream_seen = {id(shard): len(shard.items)}
        return [record.to_json() for record in records]

    def reset(self) -> None:
        """Every moto backend empty again, then the table as just created (mock active)."""
        self._stream_seen = {}
        self.stream_backlog = []
        BackendDict.reset()
        backend = dynamodb_backends[ACCOUNT_ID][self._region]
        if self._pristine is None:
            ensure_table(self._table, self._table_name)
            self._pristine = copy.deepcopy(backend.get_table(self._table_name))
        else:
            backend.tables[self._table_name] = copy.deepcopy(self._pristine)
