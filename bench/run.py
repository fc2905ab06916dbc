"""Benchmarks that print numbers: `make bench` (or `python -m bench.run [--quick]`).

- DynamoDB round trips per API operation, counted with a botocore event hook
  on every request the handlers send (moto in-process, so only counts and
  ratios are meaningful, not milliseconds).
- Cold-start import time of each function module, against
  `import boto3; boto3.client("dynamodb")` alone, in fresh interpreters.
- Scheduler throughput: a tick over N due events against N bare moto
  UpdateItem calls.
- Write items and write units per status change (a tick of N due events, a
  transition-worker batch, the first start of an event held by a pause), through a
  botocore hook on every write request (devtools.writecost).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import offline_environment

ROOT = Path(__file__).resolve().parent.parent
offline_environment("maintenance-windows-bench")

# After the environment: moto reads it on import.
from devtools.gateway import Gateway, Request, target  # noqa: E402
from devtools.itemsread import ItemsRead  # noqa: E402
from devtools.lambdas import LocalLambda  # noqa: E402
from devtools.localaws import MotoSandbox  # noqa: E402
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


def import_times(repeats: int) -> list[tuple[str, float, float]]:
    """(module, median ms, ratio to the boto3 baseline), each sample a fresh interpreter.

    Samples are interleaved (baseline, then each module, `repeats` rounds) so a
    busy moment of the machine hits every target alike.
    """
    baseline = "import boto3; boto3.client('dynamodb')"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir())
    # The module plus the client it creates on its first request.
    targets = [("boto3 + dynamodb client (baseline)", baseline, ROOT)] + [
        (f"functions/{f}/app.py", f"import app; {baseline}", ROOT / "functions" / f)
        for f in functions
    ]
    samples: dict[str, list[float]] = {label: [] for label, _, _ in targets}
    for _ in range(repeats):
        for label, code, cwd in targets:
            script = (
                "import time; t = time.perf_counter(); "
                f"{code}; print((time.perf_counter() - t) * 1000)"
            )
            done = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env,
                                  check=True, capture_output=True, text=True)  # fmt: skip
            samples[label].append(float(done.stdout))
    base = statistics.median(samples[targets[0][0]])
    return [(label, statistics.median(ms), statistics.median(ms) / base)
            for label, ms in samples.items()]  # fmt: skip


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small tick sizes, fewer repeats")
    args = parser.parse_args(argv)
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
    imports = import_times(3 if args.quick else 9)
    print_table("Cold-start import (median of fresh interpreters)",
                ("module", "ms", "ratio to baseline"), imports)  # fmt: skip
    ticks = tick_throughput([200] if args.quick else [1000, 10000])
    print_table("Scheduler tick vs bare moto writes",
                ("due events", "tick s", "bare UpdateItem s", "ratio"), ticks)  # fmt: skip


if __name__ == "__main__":
    main()
