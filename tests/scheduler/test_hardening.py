"""Scheduler defects found by adversarial use (the Hardening issue), each pinned by a test."""

import contextlib
from typing import Any

import pytest

from maintsvc.config import Settings
from maintsvc.lifecycle import scheduler
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.resources.maintenances import delete_maintenance, update_maintenance
from maintsvc.storage import keys
from maintsvc.storage.store import Store
from tests.conftest import NOW
from tests.scheduler.test_scheduler import DAY, events, make, statuses

START = NOW + 3600  # "10:00"


@pytest.mark.parametrize(
    "change",
    [
        {"duration_seconds": 10800},
        {"rrule": "FREQ=WEEKLY;COUNT=2"},
        {"start_date_time": START - 600},
        {"timezone": "Europe/Berlin"},
    ],
)
def test_an_ongoing_window_of_an_old_schedule_still_ends(
    store: Store, settings: Settings, clock: Any, change: dict[str, Any]
) -> None:
    """Window 10:00-12:00, schedule changed at 10:30: the started event is history and ends."""
    m = make(store, settings, start_date_time=START, duration_seconds=7200)
    run_tick(store, settings, START + 1800)
    old = events(store, m["id"])[0]
    assert old["status"] == "ONGOING"
    update_maintenance(store, settings, str(m["id"]), m["id"], change, START + 1800)
    run_tick(store, settings, START + 7200)
    after = {e["id"]: e for e in events(store, m["id"])}
    assert after[old["id"]]["status"] == "COMPLETED"
    assert after[old["id"]]["end_date_time"] == START + 7200
    assert after[old["id"]]["GSI3PK"].startswith("EXPIRE#")  # history, no longer due
    later = run_tick(store, settings, START + 7200 + 60)
    assert later.skipped == 0  # no tick does work for it any more


def test_a_paused_maintenance_mid_tick_does_not_start_its_window(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick read the maintenance ACTIVE; a pause (the PATCH, answered) comes before the
    event's write. The pause held the event, so the tick's one conditional write fails."""
    m = make(store, settings, start_date_time=START)
    real_load = scheduler._load_maintenances

    def load_then_pause(store_: Store, wanted: set[int], cache: dict[int, Any]) -> None:
        real_load(store_, wanted, cache)
        pause = {"status": "INACTIVE"}
        update_maintenance(store, settings, str(m["id"]), m["id"], pause, START)

    monkeypatch.setattr(scheduler, "_load_maintenances", load_then_pause)
    report = run_tick(store, settings, START)
    assert statuses(store, m["id"]) == ["SCHEDULED"]
    assert report.transitions == 0


def test_a_delete_that_died_after_marking_is_finished_by_the_tick(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(store, settings, rrule="FREQ=DAILY", start_date_time=START)
    real_batch_write = Store.batch_write

    def dies(self: Store, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Lambda timed out")

    monkeypatch.setattr(Store, "batch_write", dies)
    with contextlib.suppress(RuntimeError):  # logged, or a 500 before the fix
        delete_maintenance(store, str(m["id"]), m["id"], NOW)
    monkeypatch.setattr(Store, "batch_write", real_batch_write)
    assert len(store.query("PK = :pk", {":pk": keys.maintenance_pk(m["id"])})) == 61
    run_tick(store, settings, NOW + 60)
    left = store.query("PK = :pk", {":pk": keys.maintenance_pk(m["id"])})
    assert [i["SK"] for i in left] == ["GONE"]  # the tombstone, which TTL removes
    assert left[0]["expires_at"] == NOW + 60 + 7 * DAY
    assert run_tick(store, settings, START).due_seen == 0


def test_one_unparseable_schedule_does_not_stop_the_others_top_up(
    store: Store, settings: Settings, clock: Any
) -> None:
    broken = make(store, settings, rrule="FREQ=DAILY", start_date_time=NOW + 600)
    healthy = make(store, settings, rrule="FREQ=DAILY", start_date_time=NOW + 600)
    # A zone that a later tzdata no longer knows.
    store.update(
        keys.maintenance_key(broken["id"]),
        "SET #z = :z",
        {":z": "Mars/Olympus"},
        {"#z": "timezone"},
    )
    report = run_tick(store, settings, NOW + 10 * DAY)
    assert len(events(store, healthy["id"])) == 40
    assert len(events(store, broken["id"])) == 30
    assert report.topup_failures == 1
    # It is not retried on every tick: it waits before the next attempt.
    assert run_tick(store, settings, NOW + 10 * DAY + 60).topup_failures == 0


def test_history_expires_after_the_retention_and_the_total_follows(
    store: Store, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.config import load_settings
    from maintsvc.resources.events import list_events

    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "10")
    settings = load_settings()
    m = make(store, settings, rrule="FREQ=DAILY;COUNT=5", start_date_time=START)
    last_end = START + 4 * DAY + 1800
    assert run_tick(store, settings, last_end).expired == 0
    assert statuses(store, m["id"]) == ["COMPLETED"] * 5
    report = run_tick(store, settings, START + 1800 + 11 * DAY + 60)  # two ended 10 days ago
    assert report.expired == 2
    assert list_events(store, str(m["id"]), m["id"], 1, 20)["total"] == 3
    assert run_tick(store, settings, last_end + 10 * DAY).expired == 3
    assert events(store, m["id"]) == []
    assert list_events(store, str(m["id"]), m["id"], 1, 20)["total"] == 0


def test_no_retention_keeps_history(
    store: Store, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.config import load_settings

    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "0")
    settings = load_settings()
    m = make(store, settings, start_date_time=START)
    run_tick(store, settings, START + 1800)
    assert run_tick(store, settings, START + 1000 * DAY).expired == 0
    assert statuses(store, m["id"]) == ["COMPLETED"]
