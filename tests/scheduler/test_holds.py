"""One write item per transition, and holds that still stop every window a pause, a
schedule change or a delete has stopped (docs/decisions.md, "Scale: one write per transition")."""

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.seeding import seed_due_events
from devtools.writecost import WriteCost
from maintsvc.config import Settings
from maintsvc.lifecycle import holds, scheduler, transition_queue
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.lifecycle.status_changes import apply_transition
from maintsvc.lifecycle.transition_queue import DueChange, apply_messages
from maintsvc.resources.maintenances import delete_maintenance, update_maintenance
from maintsvc.storage import keys
from maintsvc.storage.access import event_items
from maintsvc.storage.store import Store, TransactionCancelled, _client
from tests.conftest import NOW
from tests.scheduler.test_scheduler import events, make, statuses

START = NOW + 3600
READY_AT = START - 300  # READY_WINDOW_SECONDS is 300


@pytest.fixture
def writes(store: Store) -> Iterator[WriteCost]:
    """Every write request the service sends from here on."""
    cost = WriteCost().attach(_client("dynamodb"))
    yield cost
    cost.detach(_client("dynamodb"))


def record(change: DueChange, message_id: str) -> dict[str, Any]:
    return {"messageId": message_id, "body": change.body()}


def pause(store: Store, settings: Settings, maintenance_id: int, now: int) -> None:
    """The PATCH {"status": "INACTIVE"} request, through the domain function it calls."""
    update_maintenance(
        store, settings, str(maintenance_id), maintenance_id, {"status": "INACTIVE"}, now
    )


def resume(store: Store, settings: Settings, maintenance_id: int, now: int) -> None:
    update_maintenance(
        store, settings, str(maintenance_id), maintenance_id, {"status": "ACTIVE"}, now
    )


def pause_after_the_tick_read(monkeypatch: pytest.MonkeyPatch, act: Any) -> None:
    """Run `act` (a pause, a delete, a schedule change: the whole request, answered) once,
    right after the tick has read the maintenances of its first page, before its writes."""
    real_load = scheduler._load_maintenances
    done: list[bool] = []

    def load_then_act(store_: Store, wanted: set[int], cache: dict[int, Any]) -> None:
        real_load(store_, wanted, cache)
        if not done:
            done.append(True)
            act()

    monkeypatch.setattr(scheduler, "_load_maintenances", load_then_act)


# -- the cost ---------------------------------------------------------------------------------


def test_a_tick_writes_one_item_per_transition(
    store: Store, settings: Settings, clock: Any, writes: WriteCost
) -> None:
    seed_due_events(store, 10, 1, START)  # ten ACTIVE maintenances, one event each
    writes.reset()
    ready = run_tick(store, settings, READY_AT)
    assert ready.transitions == 10
    assert (writes.calls, writes.items, writes.units) == ({"UpdateItem": 10}, 10, 10)
    writes.reset()
    ongoing = run_tick(store, settings, START)
    assert ongoing.transitions == 10
    assert (writes.calls, writes.items, writes.units) == ({"UpdateItem": 10}, 10, 10)


def test_a_worker_batch_writes_one_item_per_transition(
    store: Store, settings: Settings, clock: Any, writes: WriteCost
) -> None:
    seed_due_events(store, 10, 1, START)
    changes = [
        DueChange(m, m, "SCHEDULED", START, START + 60, READY_AT) for m in range(1, 11)
    ]  # seeded: maintenance n holds event n
    clock(READY_AT)
    writes.reset()
    report = apply_messages(store, settings, [record(c, f"m{c.event_id}") for c in changes])
    assert (report.applied, report.failed) == (10, [])
    assert (writes.calls, writes.items, writes.units) == ({"UpdateItem": 10}, 10, 10)
    assert all(e["status"] == "READY" for m in range(1, 11) for e in events(store, m))


def test_after_a_resume_each_held_event_starts_once_through_the_check(
    store: Store, settings: Settings, clock: Any, writes: WriteCost
) -> None:
    m = make(store, settings, rrule="FREQ=DAILY;COUNT=2")
    pause(store, settings, m["id"], NOW)
    resume(store, settings, m["id"], NOW + 60)
    assert [e.get("hold") for e in events(store, m["id"])] == ["INACTIVE", "INACTIVE"]
    writes.reset()
    assert run_tick(store, settings, READY_AT).transitions == 1
    # The first start of a held event: the event and the check of its maintenance.
    assert (writes.calls, writes.items, writes.units) == ({"TransactWriteItems": 1}, 2, 4)
    first, second = events(store, m["id"])
    assert (first["status"], "hold" in first) == ("READY", False)
    assert second.get("hold") == "INACTIVE"  # held until its own start
    writes.reset()
    assert run_tick(store, settings, START).transitions == 1
    assert (writes.calls, writes.items, writes.units) == ({"UpdateItem": 1}, 1, 1)


# -- a pause ----------------------------------------------------------------------------------


def test_a_pause_holds_every_open_event_and_leaves_its_resource_as_it_was(
    store: Store, settings: Settings, clock: Any
) -> None:
    running = make(store, settings, start_date_time=NOW - 600, duration_seconds=3600)
    pending = make(store, settings, rrule="FREQ=DAILY;COUNT=3")
    before = events(store, pending["id"])
    pause(store, settings, pending["id"], NOW + 60)
    pause(store, settings, running["id"], NOW + 60)
    after = events(store, pending["id"])
    assert [e["hold"] for e in after] == ["INACTIVE"] * 3
    # Only the hold: status, times, indexes and updated_at (the ETag's input) as they were.
    assert [{k: v for k, v in e.items() if k != "hold"} for e in after] == before
    (ended,) = events(store, running["id"])
    assert (ended["status"], ended["end_date_time"]) == ("COMPLETED", NOW + 60)
    assert "hold" not in ended  # an ended event holds nothing


def test_a_pause_answered_after_the_tick_read_the_maintenance_stops_its_write(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(store, settings)
    pause_after_the_tick_read(monkeypatch, lambda: pause(store, settings, m["id"], START))
    report = run_tick(store, settings, START)  # read ACTIVE: it decides ONGOING
    assert (report.transitions, report.skipped) == (0, 1)
    (event,) = events(store, m["id"])
    assert (event["status"], event["hold"]) == ("SCHEDULED", "INACTIVE")


def test_a_pause_answered_after_the_worker_read_its_batch_stops_its_write(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(store, settings)
    (event,) = events(store, m["id"])
    change = DueChange(m["id"], event["id"], "SCHEDULED", START, START + 1800, READY_AT)
    real_read = transition_queue._read_batch

    def read_then_pause(store_: Store, parsed: Any) -> Any:
        found = real_read(store_, parsed)
        pause(store, settings, m["id"], READY_AT)
        return found

    monkeypatch.setattr(transition_queue, "_read_batch", read_then_pause)
    clock(READY_AT)
    report = apply_messages(store, settings, [record(change, "m1")])
    assert (report.applied, report.unchanged, report.failed) == (0, 1, [])
    assert statuses(store, m["id"]) == ["SCHEDULED"]


def test_an_event_the_open_index_has_not_caught_up_with_is_held_too(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's GSI4 is immediate: the lag is simulated by leaving the event out of it."""
    # Two overlapping windows, both starting by the tick's second: 10:00-12:00, 11:00-13:00.
    m = make(store, settings, rrule="FREQ=HOURLY;COUNT=2", duration_seconds=7200)
    lagging = events(store, m["id"])[1]["id"]
    real_query = Store.query

    def lagging_gsi4(self: Store, condition: str, values: Any, **options: Any) -> Any:
        found = real_query(self, condition, values, **options)
        if options.get("index") == "GSI4":
            return [e for e in found if e["id"] != lagging]
        return found

    monkeypatch.setattr(Store, "query", lagging_gsi4)
    gsi4 = store.query("GSI4PK = :pk", {":pk": keys.open_pk(m["id"])}, index="GSI4")
    assert lagging not in {e["id"] for e in gsi4}  # the open index alone would miss it
    pause_after_the_tick_read(monkeypatch, lambda: pause(store, settings, m["id"], START + 3600))
    report = run_tick(store, settings, START + 3600)  # read ACTIVE: both would start
    assert (report.transitions, report.skipped) == (0, 2)
    assert [e.get("hold") for e in events(store, m["id"])] == ["INACTIVE", "INACTIVE"]
    assert statuses(store, m["id"]) == ["SCHEDULED", "SCHEDULED"]


def test_open_events_older_than_the_bound_come_from_the_open_index(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window that began more than the bound ago is found (and ended early) through GSI4;
    the recent part is read strongly consistently, never the history."""
    long_ago = NOW - holds.OPEN_INDEX_LAG_BOUND - 600
    m = make(store, settings, start_date_time=long_ago, duration_seconds=2 * 86400)
    assert statuses(store, m["id"]) == ["ONGOING"]  # created in its window
    queries: list[dict[str, Any]] = []
    real_query = Store.query

    def recorded(self: Store, condition: str, values: Any, **options: Any) -> Any:
        found = real_query(self, condition, values, **options)
        queries.append({"index": options.get("index"), "ids": [e["id"] for e in found]})
        return found

    monkeypatch.setattr(Store, "query", recorded)
    (event,) = holds.open_events_now(store, m["id"], NOW + 60)
    assert queries == [{"index": "GSI4", "ids": [event["id"]]}, {"index": "LSI1", "ids": []}]
    monkeypatch.setattr(Store, "query", real_query)
    pause(store, settings, m["id"], NOW + 60)
    (ended,) = events(store, m["id"])
    assert (ended["status"], ended["end_date_time"]) == ("COMPLETED", NOW + 60)


# -- a delete ---------------------------------------------------------------------------------


def test_a_delete_answered_after_the_tick_read_the_maintenance_stops_its_write(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(store, settings, rrule="FREQ=DAILY;COUNT=3")
    partition = {":pk": keys.maintenance_pk(m["id"])}
    answered_with: list[str] = []

    def delete_with_no_time_to_purge() -> None:
        delete_maintenance(store, str(m["id"]), m["id"], START, time_left=lambda: False)
        answered_with.extend(sorted(i["SK"][:2] for i in store.query("PK = :pk", partition)))

    pause_after_the_tick_read(monkeypatch, delete_with_no_time_to_purge)
    report = run_tick(store, settings, START)
    assert (report.transitions, report.skipped) == (0, 1)
    # The purge had no time, but the open events went before the DELETE answered.
    assert answered_with == ["ME", "O#", "O#", "O#"]
    # The tick's write created no ghost of its event; its purge turn finished the rest.
    assert [i["SK"] for i in store.query("PK = :pk", partition)] == ["GONE"]


# -- a schedule change ------------------------------------------------------------------------


def test_a_schedule_change_answered_after_the_tick_read_the_old_one_stops_its_write(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(store, settings)
    (old,) = events(store, m["id"])
    moved = {"start_date_time": START + 600}

    def reschedule() -> None:
        update_maintenance(store, settings, str(m["id"]), m["id"], moved, START)

    pause_after_the_tick_read(monkeypatch, reschedule)
    report = run_tick(store, settings, START)
    assert report.transitions == 0
    (new,) = events(store, m["id"])
    assert (new["id"] != old["id"], new["status"], new["start_date_time"]) == (
        True,
        "SCHEDULED",
        START + 600,
    )


def test_a_contended_schedule_change_holds_what_it_could_not_delete(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(store, settings)
    (old,) = events(store, m["id"])

    def contended(*args: Any) -> None:
        raise TransactionCancelled(["TransactionConflict"])

    monkeypatch.setattr(event_items, "delete_stale_schedule", contended)
    moved = {"start_date_time": START + 600}
    update_maintenance(store, settings, str(m["id"]), m["id"], moved, NOW)  # answers
    (stale,) = [e for e in events(store, m["id"]) if e["id"] == old["id"]]
    assert (stale["status"], stale["hold"]) == ("SCHEDULED", "stale")
    # A writer that read the event before the hold, or with it: neither starts it.
    assert apply_transition(store, old, "ONGOING", 300) is None
    assert apply_transition(store, stale, "ONGOING", 300) is None
    assert [e["status"] for e in events(store, m["id"]) if e["id"] == old["id"]] == ["SCHEDULED"]


def test_holds_announce_count_and_file_nothing(
    store: Store, settings: Settings, clock: Any, writes: WriteCost
) -> None:
    """A hold's stream record changes no status, start, end or tag: the notifier publishes
    nothing for it, the feed's counters and the monitor-window index do not move."""
    from devtools.triggers import lambda_record
    from maintsvc.derived.feed_counters import counted_records
    from maintsvc.derived.monitor_windows import index_stream_batch
    from maintsvc.derived.notifications import status_changes
    from tests.scheduler.test_notifications import stream_records

    tagged = [{"monitor_tag": "db", "impact": "DOWN"}]
    m = make(store, settings, rrule="FREQ=DAILY;COUNT=2", monitors=tagged)
    created = stream_records()
    index_stream_batch(store, [lambda_record(r, "stream") for r in created])
    assert writes.items > 0  # the two windows filed under "db"
    seen = len(created)
    pause(store, settings, m["id"], NOW + 60)
    records = [
        r for r in stream_records()[seen:] if r["dynamodb"]["Keys"]["SK"]["S"].startswith("E#")
    ]
    assert [r["eventName"] for r in records] == ["MODIFY", "MODIFY"]  # the two holds
    assert status_changes(records) == []
    assert counted_records(records) == []
    writes.reset()
    index_stream_batch(store, [lambda_record(r, "stream") for r in records])
    assert writes.items == 0


def test_a_pause_with_a_contended_schedule_change_still_pauses_before_answering(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pause's work goes first: the regeneration after it may give up (contended), and
    the PATCH answers all the same."""
    m = make(
        store,
        settings,
        rrule="FREQ=DAILY;COUNT=2",
        start_date_time=NOW - 600,
        duration_seconds=3600,
    )
    assert statuses(store, m["id"]) == ["ONGOING", "SCHEDULED"]

    def contended(*args: Any) -> None:
        raise TransactionCancelled(["TransactionConflict"])

    monkeypatch.setattr(event_items, "delete_stale_schedule", contended)
    change = {"status": "INACTIVE", "duration_seconds": 1800}
    update_maintenance(store, settings, str(m["id"]), m["id"], change, NOW + 60)
    running, tomorrow = events(store, m["id"])
    assert (running["status"], running["end_date_time"], "hold" in running) == (
        "COMPLETED",
        NOW + 60,
        False,
    )
    # Held by the pause, then again (the old schedule's) by the regeneration that gave up.
    assert (tomorrow["status"], tomorrow["hold"]) == ("SCHEDULED", "stale")
