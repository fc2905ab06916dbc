"""Tick throughput and fairness: overlapped writes, every queue moves under overload.

Ratios, not absolute times: the machine is shared and moto's own cost varies.
"""

import threading
import time
from collections import Counter
from typing import Any

import pytest
from botocore.client import BaseClient

from bench.scheduler import seed_due_events
from maintsvc.config import Settings, load_settings
from maintsvc.lifecycle.scheduler import queue_order, run_tick
from maintsvc.storage import keys
from maintsvc.storage.store import Store
from tests.conftest import NOW
from tests.scheduler.test_scheduler import DAY, make

DELAY = 0.05


def seed(store: Store, maintenances: int, per_maintenance: int) -> int:
    """SCHEDULED events five minutes apart from NOW: every window has passed two days later."""
    return seed_due_events(
        store, maintenances, per_maintenance, lambda n: NOW + n % per_maintenance * 300
    )


class Latency:
    """DynamoDB calls that take `delay` each, overlapping like network round trips.

    moto is not thread safe, so the call itself runs under a lock; the delay is
    spent outside it, where real latency would be.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
        self.lock = threading.Lock()
        self.count = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.busy = 0.0  # seconds inside moto: its own cost, which no overlap can hide
        self.calls: Counter[str] = Counter()
        real = BaseClient._make_api_call

        def slow(client: BaseClient, operation: str, params: Any) -> Any:
            with self.count:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                self.calls[operation] += 1
            try:
                time.sleep(delay)
                with self.lock:
                    entered = time.perf_counter()
                    try:
                        return real(client, operation, params)
                    finally:
                        self.busy += time.perf_counter() - entered
            finally:
                with self.count:
                    self.in_flight -= 1

        monkeypatch.setattr(BaseClient, "_make_api_call", slow)


def test_transitions_overlap_under_latency(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(store, 4, 50)  # 200 events
    latency = Latency(monkeypatch, DELAY)
    started = time.perf_counter()
    report = run_tick(store, settings, NOW + 2 * DAY)
    elapsed = time.perf_counter() - started
    assert report.transitions == report.due_seen == 200
    writes = latency.calls["UpdateItem"] + latency.calls["TransactWriteItems"]
    assert writes == 200
    # One at a time, the latency alone is 200+ round trips of 50 ms (over 10 s) on top
    # of moto's own time; overlapped, little of it is left.
    waited = elapsed - latency.busy
    assert waited < 0.2 * writes * DELAY, (elapsed, latency.busy)
    assert latency.peak >= 16


def test_counts_are_exact_under_threads(store: Store, settings: Settings) -> None:
    last = seed(store, 4, 100)
    report = run_tick(store, settings, NOW + 2 * DAY)
    assert report.due_seen == report.transitions == 400
    assert sorted(c[0] for c in report.changes) == list(range(1, last + 1))
    assert report.progress == {pk: 100 for pk in keys.due_pks()}
    assert run_tick(store, settings, NOW + 2 * DAY).due_seen == 0


def test_under_overload_every_shard_and_the_top_up_move(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time runs out after one turn each: every due shard and the top-up queue moved.

    Drained one queue after the other (as before), the same eight turns would
    all go to the first shards, leaving the last shard and every top-up waiting,
    minute after minute. Here whichever queue leads, all of them move.
    """
    from maintsvc.lifecycle import scheduler

    monkeypatch.setattr(scheduler, "PAGE", 10)
    seed(store, 4, 60)  # 6 pages per shard
    created = [make(store, settings, rrule="FREQ=DAILY", start_date_time=NOW + 600)
               for _ in range(3)]  # fmt: skip
    turns = {"left": 0}

    def time_left() -> bool:
        turns["left"] -= 1
        return turns["left"] >= 0

    at = NOW + 10 * DAY
    for minute in range(6):  # each queue leads once
        now = at + 60 * minute
        for m in created:  # due for a top-up again
            store.update(
                keys.maintenance_key(m["id"]),
                "SET GSI3PK = :q, GSI3SK = :qs",
                {":q": keys.TOPUP_QUEUE, ":qs": keys.queue_sk(now, m["id"])},
            )
        turns["left"] = 8  # 4 due pages + the top-up turn (1 + a check per maintenance)
        report = run_tick(store, settings, now, time_left)
        assert report.stopped_early
        assert report.progress == {**{pk: 10 for pk in keys.due_pks()}, keys.TOPUP_QUEUE: 3}
        assert report.topups == 3
        assert report.backlog > 0


def test_the_leading_queue_rotates_every_minute() -> None:
    leaders = [queue_order(NOW + 60 * minute)[0] for minute in range(6)]
    assert sorted(leaders) == sorted([*keys.due_pks(), keys.TOPUP_QUEUE, keys.PURGE_QUEUE])
    assert sorted(queue_order(NOW)) == sorted(leaders)


def test_a_long_deletion_takes_turns_with_the_due_events(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purge gets a slice per turn; due events keep moving while it goes on."""
    from maintsvc.lifecycle import deletion, scheduler

    seed(store, 4, 100)
    monkeypatch.setenv("MAX_FUTURE_EVENTS", "100")
    big = make(store, load_settings(), rrule="FREQ=HOURLY", start_date_time=NOW + 600)
    monkeypatch.setattr(deletion, "PURGE_PAGE", 20)
    monkeypatch.setattr(scheduler, "PURGE_SLICE_SECONDS", 0.0)  # a page a turn
    deletion.mark_deleted(store, big["id"], NOW)
    report = run_tick(store, settings, NOW + 2 * DAY)
    assert report.transitions == 400 and report.purged == 1
    left = store.query("PK = :pk", {":pk": keys.maintenance_pk(big["id"])})
    assert [i["SK"] for i in left] == ["GONE"]
    # Many slices: the deletion went back to its queue between turns. The first turn takes
    # the 100 open events and a page; then 19 markers a page (META heads each), and META.
    assert report.progress[keys.PURGE_QUEUE] == 7
