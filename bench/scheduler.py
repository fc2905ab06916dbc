"""Scheduler benchmarks that print numbers: `python -m bench.scheduler [--quick]`.

- Tick throughput with a network round trip on every DynamoDB call, three ways:
  - moto, no latency: what moto's own CPU costs (DynamoDB does not have it);
  - moto + 5 ms: botocore's `_make_api_call` sleeps 5 ms, then calls moto
    under a lock (moto in-process is not thread safe); the sleep is outside
    the lock, so it overlaps as network latency does;
  - recorded + 5 ms: the same tick answered from a recording of moto's
    answers (see Recording), after 5 ms each: the client still builds, signs
    and parses every request, moto is out of the run. This is the tick's
    own throughput against a DynamoDB that takes 5 ms per call.
  Calls in flight on average are the sum of call durations over the wall
  time (Little's law); process CPU is every thread's.
- Transition lag: events due over the next minute in real time, a tick that
  enqueues them on a moto SQS queue, and a poller standing in for Lambda's
  SQS event source (ReceiveMessage, which honours DelaySeconds, then the
  worker's code, then DeleteMessageBatch). Lag is each event's stored
  `updated_at` minus its due time.
"""

import argparse
import contextlib
import io
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import offline_environment

if TYPE_CHECKING:
    from maintsvc.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
TABLE = "maintenance-windows-bench-scheduler"
NOW = 1_900_000_000 - 1_900_000_000 % 3600
LATENCY = 0.005
READY_WINDOW = 300  # the default READY_WINDOW_SECONDS
WRITE = "DynamoDB_20120810.UpdateItem"  # X-Amz-Target of the bench's transitions


def _environment() -> None:
    offline_environment(TABLE)


def _table_definition() -> dict[str, Any]:
    """CreateTable arguments from template.yaml's Table (keys, indexes and stream as deployed)."""
    import yaml

    # Short tags (!Ref, !If...) do not occur in the Table's key and index definitions.
    loader: Any = type("_Loader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda *_: None)
    document = yaml.load((ROOT / "template.yaml").read_text(), Loader=loader)
    table = document["Resources"]["Table"]["Properties"]
    names = ("AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes")
    return {
        "TableName": TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {
            "StreamEnabled": True,
            "StreamViewType": table["StreamSpecification"]["StreamViewType"],
        },
        **{name: table[name] for name in names if name in table},
    }


@contextmanager
def moto_stack() -> Iterator["Store"]:
    """A fresh moto account with the service's table; the store the service would use."""
    import boto3
    from moto import mock_aws

    from devtools import motofix
    from maintsvc.storage import store

    motofix.install()
    with mock_aws():
        store.reset_clients()
        boto3.client("dynamodb").create_table(**_table_definition())
        yield store.Store(TABLE)
    store.reset_clients()


def seed_due_events(
    store: "Store",
    maintenances: int,
    per_maintenance: int,
    start_of: Callable[[int], int],
    status: str = "SCHEDULED",
    duration: int = 60,
    first_maintenance: int = 1,
) -> int:
    """ACTIVE maintenances with `per_maintenance` events each; returns the last event id.

    Written directly (BatchWriteItem): moto copies the items a transaction
    touches, so seeding thousands of events through create would measure
    moto, not the tick. The n-th event seeded (from 0) starts at `start_of(n)`.
    The id sequence is moved past the seeded ids, so maintenances created
    afterwards do not collide with them.
    """
    from maintsvc.storage import keys
    from maintsvc.storage.items import event_item, maintenance_index_attributes

    items: list[dict[str, Any]] = []
    event_id = (first_maintenance - 1) * per_maintenance
    seeded = 0
    for maintenance_id in range(first_maintenance, first_maintenance + maintenances):
        first = start_of(seeded)
        maintenance = {
            "id": maintenance_id, "title": "bench", "description": None,
            "start_date_time": first, "timezone": "UTC",
            "rrule": f"FREQ=MINUTELY;INTERVAL=5;COUNT={per_maintenance}",
            "duration_seconds": duration, "status": "ACTIVE", "monitors": [],
            "created_at": "x", "updated_at": "x", "schedule_version": 1, "revision": 1,
        }  # fmt: skip
        items.append({**maintenance, **maintenance_index_attributes(maintenance)})
        for _ in range(per_maintenance):
            event_id += 1
            start = start_of(seeded)
            seeded += 1
            items.append(
                event_item(
                    maintenance_id,
                    event_id,
                    start,
                    start,
                    start + duration,
                    status,
                    1,
                    "x",
                    READY_WINDOW,
                )
            )
    store.batch_write(puts=items)
    store.update(
        keys.seq_key(),
        "SET maintenance = :m, event = :e",
        {":m": first_maintenance + maintenances, ":e": event_id + 1},
    )
    return event_id


class Latency:
    """Every AWS call takes `delay` longer, overlapping like network latency; counts calls.

    `serialise`: the call itself (moto) runs under a lock, the delay outside it.
    """

    def __init__(self, delay: float, serialise: bool = True) -> None:
        self.delay = delay
        self.serialise = serialise
        self._moto = threading.Lock() if serialise else contextlib.nullcontext()
        self._stats = threading.Lock()
        self.calls = 0
        self.in_calls = 0.0  # sum of call durations, latency included
        self.in_moto = 0.0  # time inside moto (its CPU, serialised by the lock)

    @contextmanager
    def installed(self) -> Iterator["Latency"]:
        from botocore.client import BaseClient

        real = getattr(BaseClient, "_make_api_call")  # noqa: B009  (private, not in the stubs)

        def slow(client: BaseClient, operation: str, params: Any) -> Any:
            began = time.perf_counter()
            inside = 0.0
            try:
                time.sleep(self.delay)
                with self._moto:
                    entered = time.perf_counter()
                    try:
                        return real(client, operation, params)
                    finally:
                        inside = time.perf_counter() - entered
            finally:
                with self._stats:
                    self.calls += 1
                    self.in_moto += inside if self.serialise else 0.0
                    self.in_calls += time.perf_counter() - began

        setattr(BaseClient, "_make_api_call", slow)  # noqa: B010
        try:
            yield self
        finally:
            setattr(BaseClient, "_make_api_call", real)  # noqa: B010


@dataclass
class TickRow:
    due: int
    workers: int
    delay_ms: float
    wall: float
    cpu: float
    calls: int
    in_flight: float
    in_moto: float

    @property
    def per_second(self) -> float:
        return self.due / self.wall


class Recording:
    """The tick's DynamoDB answers, recorded from moto once and replayed without it.

    Recording, the transitions' writes are answered at once (not applied), so
    the table does not change and every read of the replayed run is one that
    was recorded: same pages, same batches. Replaying, each request is
    answered from the recording after `delay`, at botocore's `before-send`,
    so the client still builds, signs and parses every call: the run shows
    the tick's own cost plus overlapped round trips, without moto's CPU.
    """

    def __init__(self) -> None:
        self.answers: dict[tuple[str, bytes], bytes] = {}
        self._asked = threading.local()

    @staticmethod
    def _key(request: Any) -> tuple[str, bytes]:
        target, body = request.headers.get("X-Amz-Target") or b"", request.body or b""
        return (
            target.decode() if isinstance(target, bytes) else str(target),
            body if isinstance(body, bytes) else str(body).encode(),
        )

    def record(self, client: Any) -> None:
        def before_send(request: Any, **_: Any) -> Any:
            key = self._key(request)
            if key[0] == WRITE:
                return _answer(request.url, b"{}")
            self._asked.key = key
            return None  # moto answers

        def received(response_dict: Any, event_name: str, **_: Any) -> None:
            if response_dict is not None and not event_name.endswith(WRITE.split(".")[1]):
                self.answers[self._asked.key] = response_dict["body"]

        client.meta.events.register_first("before-send.dynamodb", before_send)
        client.meta.events.register("response-received.dynamodb", received)

    def replay(self, client: Any, delay: float) -> None:
        def before_send(request: Any, **_: Any) -> Any:
            time.sleep(delay)
            key = self._key(request)
            return _answer(request.url, b"{}" if key[0] == WRITE else self.answers[key])

        client.meta.events.register_first("before-send.dynamodb", before_send)


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _answer(url: str, body: bytes) -> Any:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    headers = HTTPHeaders()
    headers["content-type"] = "application/x-amz-json-1.0"
    return AWSResponse(url, 200, headers, _Body(body))


def tick_throughput(size: int, delay: float, workers: int, replay: bool = False) -> TickRow:
    """One tick over `size` READY events all starting now (each start is one UpdateItem).

    `replay`: the timed tick runs against recorded answers (see Recording), not moto.
    """
    from maintsvc.config import load_settings
    from maintsvc.lifecycle.scheduler import run_tick
    from maintsvc.lifecycle.statuses import READY
    from maintsvc.storage import store as store_module

    settings = load_settings()
    per_maintenance = 10
    recording = Recording()
    latency = Latency(0.0, serialise=False) if replay else Latency(delay)
    with moto_stack() as store:
        seed_due_events(store, size // per_maintenance, per_maintenance,
                        lambda n: NOW - n % per_maintenance, READY, duration=3600)  # fmt: skip
        if replay:
            recording.record(store_module._client("dynamodb"))
            run_tick(store, settings, NOW)
        else:
            with latency.installed():
                started, cpu = time.perf_counter(), time.process_time()
                report = run_tick(store, settings, NOW, workers=workers)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if replay:
        store_module.reset_clients()
        recording.replay(store_module._client("dynamodb"), delay)
        with latency.installed():
            started, cpu = time.perf_counter(), time.process_time()
            report = run_tick(store, settings, NOW, workers=workers)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        store_module.reset_clients()
    assert report.transitions == size, report.as_dict()
    return TickRow(size, workers, delay * 1000, wall, cpu, latency.calls,
                   latency.in_calls / wall, latency.in_moto)  # fmt: skip


@dataclass
class LagRun:
    events: int
    enqueued: int
    applied: int
    lags: list[float]


def transition_lag(count: int, spread: int = 60) -> LagRun:
    """`count` READY events starting over the next `spread` s (real time); tick, then poll."""
    import boto3

    from maintsvc.config import load_settings
    from maintsvc.lifecycle.scheduler import run_tick
    from maintsvc.lifecycle.statuses import READY
    from maintsvc.lifecycle.transition_queue import apply_messages

    settings = load_settings()
    with moto_stack() as store, Latency(0.0).installed():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="transitions")["QueueUrl"]
        now = int(time.time())
        starts = {n + 1: now + 5 + n * spread // count for n in range(count)}
        seed_due_events(store, count, 1, lambda n: starts[n + 1], READY, duration=600)
        report = run_tick(store, settings, now, queue_url=url)
        deadline = now + spread + 30
        written: dict[int, float] = {}
        while len(written) < count and time.time() < deadline:
            received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", [])  # fmt: skip
            if not received:
                continue
            records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in received]
            failed = set(apply_messages(store, settings, records).failed)
            done = [m for m in received if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done)])  # fmt: skip
            written = _written_ongoing(store, count)
    lags = sorted(written[i] - starts[i] for i in written)
    return LagRun(count, report.enqueued, len(written), lags)


def _written_ongoing(store: "Store", count: int) -> dict[int, float]:
    """Event id -> when it was written ONGOING (its `updated_at`), for those that are.

    Seeded with one event per maintenance, event n belongs to maintenance n.
    """
    from maintsvc.storage import keys

    found = store.batch_get([keys.event_key(n, n) for n in range(1, count + 1)])
    return {
        e["id"]: datetime.fromisoformat(e["updated_at"]).timestamp()
        for e in found
        if e["status"] == "ONGOING"
    }


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [
            f"{c:,.2f}" if isinstance(c, float) else f"{c:,}" if isinstance(c, int) else str(c)
            for c in row
        ]
        print("| " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a short lag run")
    parser.add_argument("--sizes", type=int, nargs="*", help="due events per tick run")
    parser.add_argument("--lag-events", type=int, default=None)
    args = parser.parse_args(argv)
    _environment()
    from maintsvc.lifecycle.scheduler import WORKERS

    sizes = args.sizes or ([500] if args.quick else [2000, 10000])
    ms = f"+{LATENCY * 1000:g} ms/call"
    rows: list[tuple[Any, ...]] = []
    for size in sizes:
        runs = [
            ("moto", tick_throughput(size, 0.0, WORKERS)),
            (f"moto {ms}", tick_throughput(size, LATENCY, WORKERS)),
            (f"recorded {ms}", tick_throughput(size, LATENCY, WORKERS, replay=True)),
        ]
        if size == sizes[0]:
            runs += [
                (f"moto {ms}", tick_throughput(size, LATENCY, 1)),
                (f"recorded {ms}", tick_throughput(size, LATENCY, 1, replay=True)),
            ]
        for label, tick in runs:
            rows.append((size, label, tick.workers, tick.wall, tick.per_second, tick.calls,
                         tick.in_flight, tick.in_moto, tick.cpu))  # fmt: skip
    print_table(
        "Tick throughput (READY -> ONGOING: one conditional UpdateItem each)",
        ("due", "answered by", "workers", "wall s", "transitions/s", "calls",
         "avg calls in flight", "inside moto s", "process CPU s"),
        rows,
    )  # fmt: skip
    lag_events = args.lag_events or (50 if args.quick else 300)
    run = transition_lag(lag_events, 20 if args.quick else 60)
    lags = run.lags or [float("nan")]
    print_table(
        "Transition lag, due time to written (tick enqueues, SQS delays, worker applies)",
        ("events", "enqueued", "applied", "min s", "median s", "max s"),
        [(run.events, run.enqueued, run.applied, lags[0], statistics.median(lags), lags[-1])],
    )


if __name__ == "__main__":
    main()
