"""ReconcilerFunction heals drift in the stream-derived read models on its own: records the
indexer gave up on (never delivered), counters written wrong, windows left behind. Runs
are invoked as EventBridge would, every 5 minutes; nothing else repairs anything here."""

import time
from typing import Any

import pytest

from maintsvc.storage import keys
from maintsvc.storage.access import feed_items, window_items
from tests.api.test_exact_under_failure import assert_exact, indexer, take_records, write_history
from tests.api.test_monitor_status import MAINTENANCES, START, create, events_of, state
from tests.conftest import NOW, Caller, LambdaContext, load_function


@pytest.fixture(autouse=True)
def at_now(clock: Any) -> None:
    """The service's clock at NOW: START is within the horizon."""


def sweep() -> dict[str, int]:
    """One scheduled run of the reconciler."""
    context = LambdaContext(deadline=time.monotonic() + 240)
    report: dict[str, int] = load_function("reconciler").lambda_handler({}, context)
    return report


def sweep_until_quiet(limit: int = 6) -> list[dict[str, int]]:
    """Runs until one completes a cycle fixing nothing and suspecting nothing."""
    reports = []
    for _ in range(limit):
        reports.append(sweep())
        last = reports[-1]
        if last["cycles_completed"] and not last["drift"] and not last["counter_suspects"]:
            return reports
    raise AssertionError(f"still drifting after {limit} runs: {reports}")


def test_records_given_up_are_healed_by_the_reconciler_alone(call: Caller, sandbox: Any) -> None:
    """Every record of a history is given up (the indexer never sees one): the feed shows
    nothing and the monitor route nothing. Two runs later both are exact again."""
    write_history(call)
    take_records(sandbox)  # given up
    body = call("GET", f"{MAINTENANCES}/events").json
    assert (body["total"], body["events"]) == (0, [])
    first, second = sweep(), sweep()
    assert first["windows_filed"] > 0 and first["counter_suspects"] > 0
    assert second["counters_fixed"] > 0
    assert first["drift"] + second["drift"] == (
        first["windows_filed"] + second["counters_fixed"] + second["windows_filed"]
    )
    assert_exact(call)
    assert sweep()["drift"] == 0


@pytest.mark.slow
def test_a_cancel_and_a_delete_given_up_leave_nothing_behind(
    call: Caller, sandbox: Any, store: Any
) -> None:
    """Indexed first, then a cancel and a maintenance delete whose records are given up:
    their windows stay in the index (the route hides them) until the reconciler removes
    them from both the buckets and the start order."""
    kept = create(call, [{"monitor_tag": "db", "impact": "DOWN"}], rrule="FREQ=DAILY;COUNT=2")
    gone = create(call, [{"monitor_tag": "db"}], start_date_time=START + 600)
    assert state(call, "db", START + 600)["events_total"] == 2  # indexed
    first = events_of(call, kept["id"])[0]
    call("PATCH", f"{MAINTENANCES}/{kept['id']}/events/{first['id']}", body={"status": "CANCELLED"})
    assert call("DELETE", f"{MAINTENANCES}/{gone['id']}").status == 200
    take_records(sandbox)  # given up
    filed, _ = window_items.start_order_page(store, "db", None, 100)
    assert len(filed) == 3  # the cancelled and the deleted windows are still there
    assert state(call, "db", START + 600)["in_maintenance"] is False  # hidden by the route
    reports = sweep_until_quiet()
    # Removed from the start order and the buckets at once: counted once each.
    assert sum(r["windows_removed"] for r in reports) == 2
    filed, _ = window_items.start_order_page(store, "db", None, 100)
    assert [w["event_id"] for w in filed] == [events_of(call, kept["id"])[1]["id"]]
    assert window_items.windows_at(store, "db", START + 600) == []
    assert_exact(call)


def test_a_counter_difference_is_fixed_only_when_seen_twice(call: Caller, store: Any) -> None:
    """Counters off is suspected by one run and fixed by the next (the top level, checked
    against its buckets' sum, one run after them)."""
    write_history(call)
    assert_exact(call)  # indexed
    sweep_until_quiet()
    # Five REMOVE records of events starting at NOW given up: +5 at every level (a record's
    # deltas reach all five levels in one transaction, so drift never lacks its parents).
    store.transact(
        [
            feed_items.add_to_counter(keys.count_key(level, NOW), {"SCHEDULED": 5})
            for level in range(keys.COUNT_TOP_LEVEL + 1)
        ]
    )
    assert call("GET", f"{MAINTENANCES}/events").json["total"] == len(feed_truth_ids(call)) + 5
    first = sweep()
    assert (first["counters_fixed"], first["counter_suspects"]) == (0, 1)  # the bucket
    second = sweep()  # levels 0-3 fixed; the top level now differs from its buckets' sum
    assert (second["counters_fixed"], second["counter_suspects"]) == (4, 1)
    third = sweep()
    assert (third["counters_fixed"], third["counter_suspects"]) == (1, 0)
    assert_exact(call)


@pytest.mark.slow
def test_a_record_still_on_its_way_is_not_counted_twice(call: Caller, sandbox: Any) -> None:
    """A run sees counters behind the events (the indexer lags); the record arrives before
    the next run, which then finds nothing to fix: the suspicion is dropped, no double."""
    write_history(call)
    assert_exact(call)
    sweep_until_quiet()
    create(call, [{"monitor_tag": "db"}], start_date_time=START + 7200)
    in_flight = take_records(sandbox)
    assert sweep()["counter_suspects"] >= 1
    from devtools.esm import Mapping

    Mapping(indexer).deliver(in_flight)
    assert sweep()["counters_fixed"] == 0
    assert_exact(call)


@pytest.mark.slow
def test_maintctl_repairs_remove_stale_entries(
    call: Caller, sandbox: Any, store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from devtools import maintctl

    m = create(call, [{"monitor_tag": "db", "impact": "DOWN"}], rrule="FREQ=DAILY;COUNT=2")
    assert state(call, "db", START)["in_maintenance"] is True
    call("PATCH", f"{MAINTENANCES}/{m['id']}", body={"status": "INACTIVE"})
    take_records(sandbox)  # given up: both windows stay filed
    assert maintctl.main(["index-monitors"]) == 0
    assert "Filed 0 and removed 2 monitor windows" in capsys.readouterr().out
    assert window_items.start_order_page(store, "db", None, 10) == ([], None)
    assert maintctl.main(["recount-feed", "--settle", "0"]) == 0
    assert capsys.readouterr().out.startswith("0 counter items rewritten")
    assert_exact(call)


def feed_truth_ids(call: Caller) -> list[int]:
    from tests.api.test_exact_under_failure import truth

    return truth(call)[0]


@pytest.mark.slow
def test_the_checkpoint_bounds_each_run(call: Caller, store: Any) -> None:
    """A run stops when its time is up and the next continues from the checkpoint."""
    from maintsvc.derived.reconcile import reconcile
    from maintsvc.storage.access import reconcile_items

    write_history(call)
    assert_exact(call)
    units = 0
    cycles = 0
    while not cycles:
        report = reconcile(store, 0, time_left=lambda: True, max_units=1)
        units += report.units
        cycles += report.cycles_completed
        assert report.units == 1
        assert units < 100
    assert units > 3
    assert reconcile_items.get_checkpoint(store)["stage"] == "windows"
