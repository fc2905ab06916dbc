"""The lifecycle rules as pure functions: no table, no moto, every edge of docs/behaviour.md §4."""

import pytest

from maintsvc.lifecycle.status_changes import TickChange, hold_reason, target_status, tick_change
from maintsvc.lifecycle.statuses import (
    early_completion_end,
    next_transition_at,
    status_from_time,
    status_while_inactive,
)
from maintsvc.storage.items import event_time_attributes

START, END, READY = 10_000_020, 10_003_620, 300


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - READY - 1, "SCHEDULED"),
        (START - READY, "READY"),
        (START - 1, "READY"),
        (START, "ONGOING"),
        (END - 1, "ONGOING"),
        (END, "COMPLETED"),  # half-open window
    ],
)
def test_status_from_time(now: int, expected: str) -> None:
    assert status_from_time(now, START, END, READY) == expected


def test_a_zero_ready_window_goes_straight_to_ongoing() -> None:
    assert status_from_time(START - 1, START, END, 0) == "SCHEDULED"
    assert next_transition_at("SCHEDULED", START, END, 0) == START


@pytest.mark.parametrize(
    ("status", "due"),
    [("SCHEDULED", START - READY), ("READY", START), ("ONGOING", END)],
)
def test_next_transition_follows_the_status(status: str, due: int) -> None:
    assert next_transition_at(status, START, END, READY) == due
    assert status_from_time(due, START, END, READY) != status


@pytest.mark.parametrize("status", ["COMPLETED", "CANCELLED"])
def test_terminal_events_never_change_by_time(status: str) -> None:
    assert next_transition_at(status, START, END, READY) is None
    attributes = event_time_attributes(3, 7, START, END, status, READY)
    assert attributes["GSI3PK"] == "EXPIRE#3"  # history, keyed by its end
    assert attributes["GSI3SK"] == f"{END:012d}#{7:012d}"
    assert "GSI4PK" not in attributes  # no longer one of its maintenance's open events


@pytest.mark.parametrize("status", ["SCHEDULED", "READY", "ONGOING"])
def test_open_events_are_indexed_under_their_maintenance(status: str) -> None:
    attributes = event_time_attributes(3, 7, START, END, status, READY)
    assert (attributes["GSI4PK"], attributes["GSI4SK"]) == ("OPEN#3", f"{START:012d}#{7:012d}")


def test_a_ready_window_before_the_epoch_is_clamped() -> None:
    assert next_transition_at("SCHEDULED", 60, 120, READY) == 0


@pytest.mark.parametrize(
    ("now", "end"),
    [
        (START + 5, START + 60),  # at least a minute after the start
        (START + 185, START + 180),  # the current minute
        (END + 500, END),  # never later than planned
    ],
)
def test_early_completion_end(now: int, end: int) -> None:
    assert early_completion_end(now, START, END) == end


def test_paused_windows_are_cancelled_only_once_they_pass() -> None:
    assert status_while_inactive(END - 1, "SCHEDULED", END) == "SCHEDULED"
    assert status_while_inactive(END, "READY", END) == "CANCELLED"
    assert status_while_inactive(END, "ONGOING", END) == "ONGOING"


def test_what_the_tick_does_to_an_event() -> None:
    event = {"status": "READY", "start_date_time": START, "end_date_time": END}
    assert target_status(event, True, START, READY) == ("ONGOING", END)
    assert target_status(event, True, END + 10, READY) == ("COMPLETED", END)  # catch-up
    assert target_status(event, False, END, READY) == ("CANCELLED", END)
    ongoing = {**event, "status": "ONGOING"}
    assert target_status(ongoing, False, START + 125, READY) == ("COMPLETED", START + 120)


def _event(status: str, version: int = 2, due_at: int | None = None) -> dict[str, object]:
    """An event as stored, its queue key where the lifecycle (or `due_at`) puts it."""
    return {
        "id": 7,
        "maintenance_id": 1,
        "schedule_version": version,
        **event_time_attributes(1, 7, START, END, status, READY, due_at),
    }


def test_why_a_due_event_is_held() -> None:
    maintenance = {"schedule_version": 2}
    assert hold_reason(_event("READY"), None) == "gone"  # deleted: the purge removes it
    assert hold_reason(_event("SCHEDULED", version=1), maintenance) == "stale"
    assert hold_reason(_event("ONGOING", version=1), maintenance) is None  # history ends
    assert hold_reason(_event("READY"), maintenance) is None


def test_what_a_tick_writes() -> None:
    assert tick_change(_event("READY"), True, START, READY) == TickChange("ONGOING", END, None)
    assert tick_change(_event("ONGOING"), True, END + 10, READY) == TickChange(
        "COMPLETED", END, None
    )
    # Paused: an ONGOING window completes early, a pending one waits for its window's end.
    assert tick_change(_event("ONGOING"), False, START + 125, READY) == TickChange(
        "COMPLETED", START + 120, START + 120
    )
    assert tick_change(_event("SCHEDULED"), False, START, READY) == TickChange(
        "SCHEDULED", END, END
    )
    assert tick_change(_event("SCHEDULED"), False, END, READY) == TickChange("CANCELLED", END, END)


@pytest.mark.parametrize(
    ("event", "active", "now"),
    [
        (_event("COMPLETED"), True, END + 10),  # history never moves
        (_event("CANCELLED"), False, END + 10),
        (_event("READY"), True, START - 1),  # not due yet: already where time takes it
        (_event("SCHEDULED", due_at=END), False, START),  # paused, already keyed at its end
    ],
)
def test_a_tick_leaves_an_event_alone(event: dict[str, object], active: bool, now: int) -> None:
    assert tick_change(event, active, now, READY) is None
