"""Materialisation: turning a maintenance's rule into stored events, once per occurrence.

Called synchronously by create and update, and by the scheduler to keep the
horizon full. Identity is (maintenance_id, original start): each event is
written in one transaction with its occurrence marker under
`attribute_not_exists`, so two materialisers racing on the same maintenance
create each occurrence once. Every transaction also updates the maintenance
item on the condition that its schedule version is still the one planned
from, so a schedule changed meanwhile wins and nothing stale is written.
"""

from dataclasses import dataclass

from maintsvc.clock import iso_now
from maintsvc.config import Settings
from maintsvc.lifecycle.holds import STALE, hold_events, open_events_now
from maintsvc.lifecycle.statuses import PENDING, status_from_time
from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.storage.access import event_items, maintenance_items
from maintsvc.storage.access.maintenance_items import (
    reserve_ids,
)
from maintsvc.storage.items import event_item, marker_item
from maintsvc.storage.store import Item, Store, TransactionCancelled, TxAction

EVENTS_PER_TRANSACTION = 49  # 2 items each + the maintenance = 99 of 100 actions
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Plan:
    """The occurrences that should exist now, and when to look again."""

    occurrences: list[int]
    topup_at: int | None


def _stale_markers(
    store: Store, maintenance: Item, first_start: int, stale_events: list[Item]
) -> list[Item]:
    """Older-version markers to delete: those of the stale events, and those in the plan's
    range whose event is gone (deleted under the old schedule) or itself stale (then that
    event joins `stale_events`: the open-events index had not caught up with it)."""
    version = maintenance["schedule_version"]
    mid = maintenance["id"]
    stale_ids = {e["id"] for e in stale_events}
    markers = {
        m["SK"]: m
        for m in event_items.markers_from(store, mid, first_start)
        if m["schedule_version"] < version
    }
    checked = {
        e["id"]: e
        for e in event_items.get_events(
            store, mid, [m["event_id"] for m in markers.values() if m["event_id"] not in stale_ids]
        )
    }
    late = [
        e for e in checked.values() if e["status"] in PENDING and e["schedule_version"] < version
    ]
    stale_events += late
    stale_ids |= {e["id"] for e in late}
    doomed = [
        m for m in markers.values() if m["event_id"] in stale_ids or m["event_id"] not in checked
    ]
    own = [marker_item(mid, e["occurrence"], e["id"], e["schedule_version"]) for e in stale_events]
    doomed += [m for m in own if m["SK"] not in markers]
    return doomed


def plan_occurrences(maintenance: Item, now: int, settings: Settings) -> Plan:
    """Occurrences whose window has not ended and that start before now + horizon, capped.

    `topup_at` is when the plan next grows: when the next occurrence enters
    the horizon, or, when the cap bites, when the first planned window ends.
    """
    # Imported here: dateutil is only needed by writes, not by the read paths' cold start.
    from maintsvc.rrules import parse_schedule

    duration = maintenance["duration_seconds"]
    schedule = parse_schedule(
        maintenance["rrule"], maintenance["start_date_time"], maintenance["timezone"]
    )
    horizon_end = min(now + settings.horizon_seconds, MAX_TIMESTAMP + 1)
    found = schedule.occurrences_between(
        now - duration + 1, horizon_end, settings.max_future_events + 1
    )
    planned = found[: settings.max_future_events]
    if len(found) > settings.max_future_events:
        return Plan(planned, planned[0] + duration)
    later = schedule.occurrences_between(horizon_end, MAX_TIMESTAMP + 1, 1)
    return Plan(planned, later[0] - settings.horizon_seconds if later else None)


def new_event_items(
    maintenance: Item, occurrences: list[int], first_event_id: int, now: int, settings: Settings
) -> list[Item]:
    """Event items for fresh occurrences, statuses from the one status-from-time rule."""
    stamp = iso_now()
    duration = maintenance["duration_seconds"]
    return [
        event_item(
            maintenance["id"],
            first_event_id + offset,
            occurrence,
            occurrence,
            occurrence + duration,
            status_from_time(now, occurrence, occurrence + duration, settings.ready_window_seconds),
            maintenance["schedule_version"],
            stamp,
            settings.ready_window_seconds,
        )
        for offset, occurrence in enumerate(occurrences)
    ]


def write_events(
    store: Store,
    maintenance: Item,
    events: list[Item],
    topup_at: int | None,
    now: int,
    first_action: TxAction | None = None,
) -> None:
    """Write events with their markers in transactions guarded by the maintenance.

    The first transaction may carry `first_action` (the Put of a new
    maintenance) instead of the guard update. Until the last transaction
    lands, the maintenance stays due for top-up now, so a writer that dies
    half-way leaves work the scheduler finishes.
    """
    chunks = [
        events[i : i + EVENTS_PER_TRANSACTION]
        for i in range(0, len(events), EVENTS_PER_TRANSACTION)
    ] or [[]]
    for number, chunk in enumerate(chunks):
        last = number == len(chunks) - 1
        if number == 0 and first_action is not None:
            head = first_action
        else:
            head = guard_update(maintenance, topup_at if last else now, chunk)
        event_items.write_occurrences(store, head, maintenance, chunk)


def guard_update(maintenance: Item, topup_at: int | None, events: list[Item]) -> TxAction:
    """Update of the maintenance that only succeeds while its schedule is the one planned."""
    return maintenance_items.materialisation_guard(maintenance, topup_at, len(events))


def materialise_occurrences(store: Store, settings: Settings, maintenance: Item, now: int) -> int:
    """Create the missing events of an ACTIVE maintenance; returns how many were created.

    Existing markers (events, deleted events, moved events, history) are
    skipped. A lost race on a marker re-plans; a changed schedule, a
    deactivation or a delete (the guard fails) ends the attempt quietly:
    whoever changed it materialises for the new state.
    """
    if maintenance["status"] != "ACTIVE" or maintenance.get("deleting"):
        return 0
    plan = plan_occurrences(maintenance, now, settings)
    for _ in range(MAX_ATTEMPTS):
        existing = existing_occurrences(store, maintenance["id"], plan.occurrences)
        fresh = [o for o in plan.occurrences if o not in existing]
        events: list[Item] = []
        if fresh:
            _, first_event_id = reserve_ids(store, 0, len(fresh))
            events = new_event_items(maintenance, fresh, first_event_id, now, settings)
        try:
            write_events(store, maintenance, events, plan.topup_at, now)
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                return 0
            continue
        return len(events)
    raise TransactionCancelled(["TransactionConflict"])


def existing_occurrences(store: Store, maintenance_id: int, planned: list[int]) -> set[int]:
    """Original starts that already have a marker, within the planned range (one Query)."""
    if not planned:
        return set()
    return event_items.marked_occurrences(store, maintenance_id, planned[0], planned[-1])


def clear_stale_schedule(store: Store, maintenance: Item, now: int) -> None:
    """Forget what an older schedule version left: its pending events and their markers.

    History (ONGOING, COMPLETED, CANCELLED) stays, and so do the markers of
    history events, so such an occurrence is not created twice. Items of the
    current version are never touched, so this is safe to run while the new
    schedule is being materialised, and safe to run again after a crash.

    It reads the maintenance's open events (none missing: holds.open_events_now)
    and the markers a plan made now could meet (original start from
    `now - duration` on, what `plan_occurrences` looks at), never the history:
    its cost is bounded by the future cap, not by how long the maintenance has
    existed.

    The old pending events are gone before the change answers, so a tick
    that read the old schedule cannot start one (its write, conditional on
    the event as read, fails). If every attempt is contended, those still
    there are held instead ("stale": a held event starts only on its
    maintenance's current schedule version) and the scheduler deletes them.
    """
    version = maintenance["schedule_version"]
    first_start = now - maintenance["duration_seconds"] + 1
    stale_events: list[Item] = []
    for _ in range(MAX_ATTEMPTS):
        stale_events = [
            e
            for e in open_events_now(store, maintenance["id"], now)
            if e["status"] in PENDING and e["schedule_version"] < version
        ]
        stale_markers = _stale_markers(store, maintenance, first_start, stale_events)
        try:
            event_items.delete_stale_schedule(store, maintenance["id"], stale_events, stale_markers)
        except TransactionCancelled:
            continue
        return
    hold_events(store, stale_events, STALE)
    raise TransactionCancelled(["TransactionConflict"])
