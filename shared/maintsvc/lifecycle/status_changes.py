"""Event status changes: one conditional write each, wherever they come from.

The scheduler, the events endpoints and maintenance status changes all move
events through `apply_transition`, which writes only if the event is still
in the state it was read in (status and times), so two writers never apply
one transition twice and a concurrent reschedule is never overwritten.

A move into READY or ONGOING (a window starts) also needs the event unheld:
whatever may stop a window from starting (a pause, a schedule change that
could not delete its old events) puts a `hold` on the open events before its
request answers (maintsvc.lifecycle.holds), so the start stays one UpdateItem
and never needs to read or check the maintenance item.
"""

from typing import NamedTuple

from maintsvc.clock import iso_now
from maintsvc.lifecycle.statuses import (
    CANCELLED,
    COMPLETED,
    ONGOING,
    PENDING,
    READY,
    TERMINAL,
    early_completion_end,
    status_from_time,
    status_while_inactive,
)
from maintsvc.storage.access import event_items
from maintsvc.storage.items import HOLD, event_time_attributes
from maintsvc.storage.store import ConditionFailed, Item, Store, TransactionCancelled

STARTING = frozenset({READY, ONGOING})
SPARSE_INDEX_KEYS = ("GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK")


def apply_transition(
    store: Store,
    event: Item,
    status: str,
    ready_window: int,
    start: int | None = None,
    end: int | None = None,
    due_at: int | None = None,
    exactly: bool = False,
) -> Item | None:
    """Write the event's new status (and times); None if it changed under us
    (`exactly`: also its `updated_at`, for an If-Match compared with the event as read).

    A move into READY or ONGOING starts (or announces) a window, which only
    an ACTIVE maintenance may do. An unheld event's start is one UpdateItem
    conditional on the event as read and still unheld: a writer holding an
    older view of the maintenance (a tick that read it a few seconds ago)
    finds the hold the pause put on the event before it answered, and writes
    nothing. An event read with a hold starts only in a transaction that
    checks the maintenance (ACTIVE, not being deleted, on the event's
    schedule) and removes the hold: the first start after a resume. A move
    into COMPLETED or CANCELLED drops the hold with the open event's keys.
    """
    new_start = event["start_date_time"] if start is None else start
    new_end = event["end_date_time"] if end is None else end
    wanted = event_time_attributes(
        event["maintenance_id"], event["id"], new_start, new_end, status, ready_window, due_at
    )
    # Only what changes is written: fewer bytes, no needless index rewrites.
    attributes = {k: v for k, v in wanted.items() if event.get(k) != v}
    attributes["updated_at"] = iso_now()
    # Index keys an event leaves: the due queue (paused), its open events (ended).
    removes = tuple(k for k in SPARSE_INDEX_KEYS if k not in wanted and k in event)
    starts = status != event["status"] and status in STARTING
    change = event_items.EventChange(
        event, attributes, removes, exactly, starts=starts, ends=status in TERMINAL
    )
    try:
        if starts and HOLD in event:
            event_items.release_event_change(store, change)
        else:
            event_items.apply_event_change(store, change)
    except (ConditionFailed, TransactionCancelled):
        return None
    written = {**event, **attributes}
    for key in (*removes, *((HOLD,) if starts or status in TERMINAL else ())):
        written.pop(key, None)
    return written


def target_status(
    event: Item, maintenance_active: bool, now: int, ready_window: int
) -> tuple[str, int]:
    """Where time takes an event now, and its end (shortened when closed early).

    ACTIVE: the status-from-time rule. INACTIVE: a pending event whose window
    passed is CANCELLED, an ONGOING one is COMPLETED early.
    """
    status, start, end = event["status"], event["start_date_time"], event["end_date_time"]
    if maintenance_active:
        return status_from_time(now, start, end, ready_window), end
    if status == ONGOING:
        return COMPLETED, early_completion_end(now, start, end)
    return status_while_inactive(now, status, end), end


def hold_reason(event: Item, maintenance: Item | None) -> str | None:
    """Why time must not move a due event now (None: advance it).

    `maintenance` is None when it is deleted or being deleted: the purge
    removes the event ("gone"). A not-yet-started event of a schedule since
    replaced is deleted, not advanced ("stale"); a started one (ONGOING) is
    history and ends like any other. The scheduler and the transition worker
    both ask this, so a status change means the same wherever it is applied.
    """
    if maintenance is None:
        return "gone"
    if event["status"] in PENDING and event["schedule_version"] < maintenance["schedule_version"]:
        return "stale"
    return None


class TickChange(NamedTuple):
    """What time does to a due event: its new status and end, and when to look again
    (None: when the lifecycle says; a paused maintenance's event: at its window's end)."""

    status: str
    end: int
    due_at: int | None


def tick_change(
    event: Item, maintenance_active: bool, now: int, ready_window: int
) -> TickChange | None:
    """What a tick (or the transition worker) should write to a due event; None: nothing,
    because it is history or already where time takes it (status, end and queue key)."""
    if event["status"] not in PENDING and event["status"] != ONGOING:
        return None
    status, end = target_status(event, maintenance_active, now, ready_window)
    # Paused: look at a pending event again only when its window ends (then CANCELLED).
    due_at = None if maintenance_active else end
    if status == event["status"] and end == event["end_date_time"]:
        wanted = event_time_attributes(
            event["maintenance_id"],
            event["id"],
            event["start_date_time"],
            end,
            status,
            ready_window,
            due_at,
        )
        if wanted.get("GSI3SK") == event.get("GSI3SK"):
            return None
    return TickChange(status, end, due_at)


def advance_event(
    store: Store, event: Item, maintenance_active: bool, now: int, ready_window: int
) -> Item | None:
    """Move one event to where time has taken it; None when nothing was written."""
    change = tick_change(event, maintenance_active, now, ready_window)
    if change is None:
        return None
    return apply_transition(
        store, event, change.status, ready_window, end=change.end, due_at=change.due_at
    )


def cancel_or_complete(
    store: Store, event: Item, status: str, now: int, ready_window: int, exactly: bool = False
) -> Item | None:
    """An API-requested CANCELLED or COMPLETED (legality checked by the caller)."""
    end = event["end_date_time"]
    if status == COMPLETED:
        end = early_completion_end(now, event["start_date_time"], end)
    assert status in (COMPLETED, CANCELLED)
    return apply_transition(store, event, status, ready_window, end=end, exactly=exactly)
