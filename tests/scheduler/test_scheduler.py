"""docs/behaviour.md §5: the tick, by time travel against moto."""

import threading
from typing import Any

import pytest

from devtools.seeding import seed_due_events
from maintsvc.config import Settings
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.resources.maintenances import create_maintenance, update_maintenance
from maintsvc.storage import keys
from maintsvc.storage.store import Store
from tests.conftest import NOW

DAY = 86400


def make(store: Store, settings: Settings, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "t",
        "start_date_time": NOW + 3600,
        "rrule": "FREQ=DAILY;COUNT=1",
        "duration_seconds": 1800,
        **fields,
    }
    return create_maintenance(store, settings, body, NOW)


def events(store: Store, maintenance_id: int) -> list[dict[str, Any]]:
    return store.query(
        "PK = :pk", {":pk": keys.maintenance_pk(maintenance_id)}, index="LSI1", consistent=True
    )


def statuses(store: Store, maintenance_id: int) -> list[str]:
    return [e["status"] for e in events(store, maintenance_id)]


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-301, "SCHEDULED"),
        (-300, "READY"),
        (-1, "READY"),
        (0, "ONGOING"),
        (1799, "ONGOING"),
        (1800, "COMPLETED"),  # half-open: end itself is over
        (5 * DAY, "COMPLETED"),  # catch-up after missed ticks
    ],
)
def test_boundaries(
    store: Store, settings: Settings, clock: Any, offset: int, expected: str
) -> None:
    m = make(store, settings)
    start = NOW + 3600
    report = run_tick(store, settings, start + offset)
    assert statuses(store, m["id"]) == [expected]
    assert report.transitions == (0 if expected == "SCHEDULED" else 1)


def test_each_step_in_turn_then_leaves_the_queue(
    store: Store, settings: Settings, clock: Any
) -> None:
    m = make(store, settings)
    start = NOW + 3600
    seen = []
    for at in (start - 300, start, start + 1800, start + 4000):
        report = run_tick(store, settings, at)
        seen.append((statuses(store, m["id"])[0], report.transitions))
    assert seen == [("READY", 1), ("ONGOING", 1), ("COMPLETED", 1), ("COMPLETED", 0)]
    assert events(store, m["id"])[0]["GSI3PK"].startswith("EXPIRE#")  # no longer due


def test_inactive_maintenance_events_are_cancelled_when_their_window_passes(
    store: Store, settings: Settings, clock: Any
) -> None:
    m = make(store, settings, rrule="FREQ=DAILY;COUNT=2")
    update_maintenance(store, settings, str(m["id"]), m["id"], {"status": "INACTIVE"}, NOW)
    run_tick(store, settings, NOW + 3600)  # not advanced while paused
    assert statuses(store, m["id"]) == ["SCHEDULED", "SCHEDULED"]
    run_tick(store, settings, NOW + 3600 + 1800)
    assert statuses(store, m["id"]) == ["CANCELLED", "SCHEDULED"]
    report = run_tick(store, settings, NOW + 3600 + 1860)
    assert report.due_seen == 0  # the paused event waits, unread, until its window ends


def test_horizon_is_topped_up(store: Store, settings: Settings, clock: Any) -> None:
    m = make(store, settings, rrule="FREQ=DAILY", start_date_time=NOW + 600)
    assert len(events(store, m["id"])) == 30
    report = run_tick(store, settings, NOW + 10 * DAY)
    assert report.events_created == 10
    starts = [e["start_date_time"] for e in events(store, m["id"])]
    assert starts == [NOW + 600 + i * DAY for i in range(40)]
    assert run_tick(store, settings, NOW + 10 * DAY).events_created == 0


def test_topup_of_a_capped_maintenance_waits_for_a_window_to_end(
    store: Store, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.config import load_settings

    monkeypatch.setenv("MAX_FUTURE_EVENTS", "3")
    settings = load_settings()
    m = make(store, settings, rrule="FREQ=HOURLY", start_date_time=NOW + 600, duration_seconds=60)
    assert len(events(store, m["id"])) == 3
    assert run_tick(store, settings, NOW + 600).events_created == 0
    assert run_tick(store, settings, NOW + 660).events_created == 1


def test_two_ticks_at_once_apply_each_transition_once(
    store: Store, settings: Settings, clock: Any, atomic_calls: None
) -> None:
    ms = [make(store, settings, rrule="FREQ=DAILY;COUNT=3") for _ in range(10)]
    reports = []

    def tick() -> None:
        reports.append(run_tick(store, settings, NOW + 3600 + 60))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.transitions for r in reports) == 10
    changes = [c for r in reports for c in r.changes]
    assert len(changes) == len({c[0] for c in changes}) == 10
    for m in ms:
        assert statuses(store, m["id"]) == ["ONGOING", "SCHEDULED", "SCHEDULED"]


def test_a_tick_that_dies_half_way_is_finished_by_the_next(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ms = [make(store, settings) for _ in range(20)]
    calls = {"n": 0}
    counting = threading.Lock()  # the tick's writes run on a pool of threads

    def failing_after_seven(real: Any) -> Any:
        def write(self: Store, *args: Any, **kwargs: Any) -> Any:
            with counting:
                calls["n"] += 1
                fail = calls["n"] > 7
            if fail:
                raise RuntimeError("injected failure")
            return real(self, *args, **kwargs)

        return write

    # Starting a window is one conditional UpdateItem (on the event, unheld).
    real_update = Store.update
    monkeypatch.setattr(Store, "update", failing_after_seven(real_update))
    with pytest.raises(RuntimeError):
        run_tick(store, settings, NOW + 3600 + 10)
    monkeypatch.setattr(Store, "update", real_update)
    done = sum(statuses(store, m["id"]) == ["ONGOING"] for m in ms)
    assert done == 7
    report = run_tick(store, settings, NOW + 3600 + 10)
    assert report.transitions == 13
    assert all(statuses(store, m["id"]) == ["ONGOING"] for m in ms)


def test_tick_stops_when_time_runs_out_and_the_next_one_continues(
    store: Store, settings: Settings, clock: Any
) -> None:
    for _ in range(3):
        make(store, settings)
    report = run_tick(store, settings, NOW + 3600, time_left=lambda: False)
    assert report.stopped_early and report.transitions == 0
    assert report.backlog == 3  # the metric behind the backlog alarm
    assert run_tick(store, settings, NOW + 3600).transitions == 3


def test_stale_pending_events_of_an_old_schedule_are_cleared(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATCH that changed the schedule and died before clearing: the tick finishes it."""
    from maintsvc.resources import maintenances

    m = make(store, settings, rrule="FREQ=DAILY", start_date_time=NOW + 600)
    old_ids = {e["id"] for e in events(store, m["id"])}
    monkeypatch.setattr(maintenances, "_apply_changes", lambda *a, **k: None)
    update_maintenance(store, settings, str(m["id"]), m["id"], {"duration_seconds": 900}, NOW)
    assert {e["id"] for e in events(store, m["id"])} == old_ids  # the crash left them
    run_tick(store, settings, NOW)
    fresh = events(store, m["id"])
    assert len(fresh) == 30
    assert {e["id"] for e in fresh}.isdisjoint(old_ids)
    assert all(e["end_date_time"] - e["start_date_time"] == 900 for e in fresh)


@pytest.mark.slow
def test_five_thousand_due_events(store: Store, settings: Settings) -> None:
    """5,000 events whose windows all passed unseen, advanced in one tick."""
    ids = seed_due_events(store, 10, 500, NOW)
    end_of_all = NOW + 500 * 300
    report = run_tick(store, settings, end_of_all)
    assert report.due_seen == report.transitions == 5000
    assert [c[1:] for c in report.changes] == [("SCHEDULED", "COMPLETED")] * 5000
    for i in ids:
        assert statuses(store, i) == ["COMPLETED"] * 500
    assert run_tick(store, settings, end_of_all).due_seen == 0
