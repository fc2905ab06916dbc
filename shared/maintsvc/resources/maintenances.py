"""Maintenances: create, read, list, update and delete (docs/behaviour.md §3).

Domain functions take the store and settings as arguments and know nothing
of API Gateway; they return resources (plain dicts) or raise ApiError.
"""

from collections.abc import Callable
from typing import Any

from maintsvc.clock import iso_now
from maintsvc.config import Settings
from maintsvc.edge.etags import Expectation
from maintsvc.errors import (
    ConflictError,
    ValidationError,
    maintenance_changed,
    maintenance_not_found,
)
from maintsvc.lifecycle.statuses import ONGOING, PENDING
from maintsvc.observability import logger
from maintsvc.storage import keys
from maintsvc.storage.access import maintenance_items
from maintsvc.storage.items import is_live, maintenance_index_attributes, maintenance_resource
from maintsvc.storage.store import ConditionFailed, Item, Store, TransactionCancelled

# Materialisation, deletion and status changes (lifecycle) are imported by the functions
# that write, not here: MaintenancesFunction compiles every module it imports at each cold
# start, and its reads (GET, the listing) need none of them (docs/performance.md, "Cold
# start"; tests/unit/test_cold_imports.py keeps them out).
SCHEDULE_FIELDS = ("start_date_time", "rrule", "duration_seconds", "timezone")
STATUSES = ("ACTIVE", "INACTIVE")
PATCH_ATTEMPTS = 3


def create_maintenance(
    store: Store, settings: Settings, body: dict[str, Any], now: int
) -> dict[str, Any]:
    """Validate, reserve ids, then write the maintenance and its first events atomically
    (one transaction for up to 49 events: 2 round trips in all)."""
    from maintsvc.edge.models import validate_maintenance  # pydantic: only writes pay its import
    from maintsvc.lifecycle.materialise import (
        EVENTS_PER_TRANSACTION,
        Plan,
        new_event_items,
        plan_occurrences,
        write_events,
    )

    fields = validate_maintenance(body, None)
    stamp = iso_now()
    maintenance: Item = {
        **fields,
        "schedule_version": 1,
        "revision": 1,
        "created_at": stamp,
        "updated_at": stamp,
    }
    active = maintenance["status"] == "ACTIVE"
    plan = plan_occurrences(maintenance, now, settings) if active else Plan([], None)
    maintenance["id"], first_event_id = maintenance_items.reserve_ids(
        store, 1, len(plan.occurrences)
    )
    events = new_event_items(maintenance, plan.occurrences, first_event_id, now, settings)
    first = events[:EVENTS_PER_TRANSACTION]
    item = {**maintenance, **maintenance_index_attributes(maintenance)}
    item["event_count"] = len(first)
    topup_at = plan.topup_at if len(events) <= EVENTS_PER_TRANSACTION else now
    if active and topup_at is not None:
        item["GSI3PK"] = keys.TOPUP_QUEUE
        item["GSI3SK"] = keys.queue_sk(max(topup_at, 0), maintenance["id"])
    put = maintenance_items.new_maintenance(item)
    write_events(store, maintenance, first, plan.topup_at if active else None, now, put)
    if len(events) > EVENTS_PER_TRANSACTION:
        rest = events[EVENTS_PER_TRANSACTION:]
        _finish_materialising(store, settings, maintenance, rest, plan.topup_at, now)
    return maintenance_resource(maintenance)


def _finish_materialising(
    store: Store,
    settings: Settings,
    maintenance: Item,
    rest: list[Item],
    topup_at: int | None,
    now: int,
) -> None:
    """Write the events after the first transaction; the maintenance exists already.

    From here the POST has taken effect, so it must not answer 409: a lost
    race (a tick topping up the same maintenance, which is queued for top-up
    now) re-plans like the scheduler does, and if even that is contended the
    queued top-up finishes the job.
    """
    from maintsvc.lifecycle.materialise import materialise_occurrences, write_events

    try:
        write_events(store, maintenance, rest, topup_at, now)
    except TransactionCancelled:
        try:
            materialise_occurrences(store, settings, maintenance, now)
        except TransactionCancelled:
            logger.warning(
                "materialisation contended; the scheduler's top-up finishes it",
                extra={"maintenance_id": maintenance["id"]},
            )


def load_maintenance(store: Store, raw_id: str, maintenance_id: int) -> Item:
    """The stored maintenance, or the contract's 404 (a delete in progress reads as gone)."""
    item = maintenance_items.get_maintenance(store, maintenance_id)
    if item is None or not is_live(item):
        raise maintenance_not_found(raw_id)
    return item


def get_maintenance(store: Store, raw_id: str, maintenance_id: int) -> dict[str, Any]:
    return maintenance_resource(load_maintenance(store, raw_id, maintenance_id))


def list_maintenances(
    store: Store, status: str | None, monitor_tag: str | None
) -> list[dict[str, Any]]:
    """Every match, id descending: one Query of the listing partition."""
    if status is not None and status not in STATUSES:
        raise ValidationError("status must be 'ACTIVE' or 'INACTIVE'")
    items = maintenance_items.list_maintenances(store, status, monitor_tag)
    items.sort(key=lambda i: i["id"], reverse=True)
    return [maintenance_resource(i) for i in items]


def list_maintenances_page(
    store: Store, status: str | None, monitor_tag: str | None, page: int, limit: int
) -> dict[str, Any]:
    """One page of the listing, with the total (beyond Kener: only when paging is asked for)."""
    found = list_maintenances(store, status, monitor_tag)
    shown = found[(page - 1) * limit : page * limit]
    return {"maintenances": shown, "page": page, "limit": limit, "total": len(found)}


def update_maintenance(
    store: Store,
    settings: Settings,
    raw_id: str,
    maintenance_id: int,
    body: dict[str, Any],
    now: int,
    expect: Expectation | None = None,
) -> dict[str, Any]:
    """Partial update; a changed schedule regenerates pending events, a status change applies.

    The write is conditional on the revision read, so two PATCHes never
    interleave; a lost race is retried from a fresh read, then answered 409.
    `expect` (If-Match) is compared with the state read, before the body's
    fields are validated (RFC 9110: preconditions come before the content);
    as every change of the resource bumps the revision the write is
    conditional on, the write happens only on the version the client named,
    and a retry after a lost race finds another version: 412.
    """
    from maintsvc.edge.models import validate_maintenance  # pydantic: only writes pay its import

    for _ in range(PATCH_ATTEMPTS):
        current = load_maintenance(store, raw_id, maintenance_id)
        if expect is not None and not expect(maintenance_resource(current)):
            raise maintenance_changed()
        fields = validate_maintenance(body, current)
        changes = {k: v for k, v in fields.items() if current.get(k) != v}
        if not changes:
            return maintenance_resource(current)
        try:
            updated = _write_changes(store, current, changes, now)
        except ConditionFailed:
            continue
        try:
            _apply_changes(store, settings, current, updated, now)
        except TransactionCancelled:
            # The change is stored: answer it. The maintenance is queued for top-up
            # now (or its stale events are cleared when they come due).
            logger.warning(
                "follow-up contended; the scheduler finishes it",
                extra={"maintenance_id": maintenance_id},
            )
        return maintenance_resource(updated)
    raise ConflictError("The maintenance changed during the request; retry it")


def _write_changes(store: Store, current: Item, changes: dict[str, Any], now: int) -> Item:
    updated = {**current, **changes, "updated_at": iso_now(), "revision": current["revision"] + 1}
    schedule_changed = any(f in changes for f in SCHEDULE_FIELDS)
    if schedule_changed:
        updated["schedule_version"] = current["schedule_version"] + 1
    derived = maintenance_index_attributes(updated)
    assignments = {
        **changes,
        "updated_at": updated["updated_at"],
        "revision": updated["revision"],
        "schedule_version": updated["schedule_version"],
        "GSI1SK": derived["GSI1SK"],
    }
    removes: list[str] = []
    if "monitors" in changes:
        if "tags" in derived:
            assignments["tags"] = derived["tags"]
        else:
            removes.append("tags")
    if schedule_changed:
        assignments["needs_cleanup"] = True
    # Until the follow-up work is done, the scheduler is told to look now.
    maintenance_items.write_maintenance_changes(
        store,
        updated["id"],
        current["revision"],
        assignments,
        removes,
        requeue=schedule_changed or "status" in changes,
        topup_at=now if updated["status"] == "ACTIVE" else None,
    )
    for key in ("GSI3PK", "GSI3SK", "tags"):
        updated.pop(key, None)
    if schedule_changed:
        updated["needs_cleanup"] = True
    return updated


def _apply_changes(store: Store, settings: Settings, before: Item, after: Item, now: int) -> None:
    """The follow-up of a written change: pause, regenerate or resume, then top up.

    A pause goes first: its holds must be on the events before the PATCH
    answers, and the regeneration after it may be contended (then the PATCH
    answers all the same and the scheduler finishes the regeneration).
    """
    status_changed = after["status"] != before["status"]
    if status_changed and after["status"] != "ACTIVE":
        reconcile_events(store, settings, after, now)
    from maintsvc.lifecycle.materialise import clear_stale_schedule, materialise_occurrences

    if after["schedule_version"] != before["schedule_version"]:
        clear_stale_schedule(store, after, now)
    if status_changed and after["status"] == "ACTIVE":
        reconcile_events(store, settings, after, now)
    resumed_or_rescheduled = after.get("needs_cleanup") or after["status"] != before["status"]
    if after["status"] == "ACTIVE" and resumed_or_rescheduled:
        materialise_occurrences(store, settings, after, now)
    elif after.get("needs_cleanup"):
        maintenance_items.clear_needs_cleanup(store, after["id"], after["schedule_version"])


def reconcile_events(store: Store, settings: Settings, maintenance: Item, now: int) -> None:
    """Bring every open event in line with the maintenance's new status.

    INACTIVE: every open event is held first (none missing, however recently
    written), so no writer holding an older view of the maintenance can start
    a window once this answers; then ONGOING events (as the hold found them)
    complete early, and pending ones wait for their window to pass (then
    CANCELLED). ACTIVE again: passed pending windows are CANCELLED, the rest
    take the status time gives them; a held event's first start checks the
    maintenance and drops its hold (maintsvc.lifecycle.holds).
    """
    from maintsvc.lifecycle.holds import PAUSED, hold_events, open_events_now
    from maintsvc.lifecycle.status_changes import advance_event

    events = open_events_now(store, maintenance["id"], now)
    active = maintenance["status"] == "ACTIVE"
    if not active:
        events = hold_events(store, events, PAUSED)
    for event in events:
        if event["status"] not in PENDING and event["status"] != ONGOING:
            continue
        if not active and event["status"] in PENDING:
            continue  # re-keyed lazily by the scheduler when it comes due
        if active and event["status"] in PENDING and now >= event["end_date_time"]:
            advance_event(store, event, False, now, settings.ready_window_seconds)
        else:
            advance_event(store, event, active, now, settings.ready_window_seconds)


def delete_maintenance(
    store: Store,
    raw_id: str,
    maintenance_id: int,
    now: int,
    time_left: Callable[[], bool] = lambda: True,
    expect: Expectation | None = None,
) -> None:
    """Hide the maintenance at once (404 from then on), then purge what time allows.

    The answer waits for the open events to be deleted (a window's start is a
    write conditional on the event as read, which fails on a deleted one), not
    for the last item: once the mark is written and the open events are gone
    the DELETE has taken effect, so a failure while purging the rest (history,
    markers) is logged and left to the scheduler, which finishes every marked
    maintenance. With `expect`
    (If-Match) the state is read first and the mark is conditional on the
    revision compared, so it never deletes a version the client has not seen.
    """
    from maintsvc.lifecycle.deletion import end_open_events, mark_deleted, purge_maintenance

    revision = None
    if expect is not None:
        current = load_maintenance(store, raw_id, maintenance_id)
        if not expect(maintenance_resource(current)):
            raise maintenance_changed()
        revision = current["revision"]
    if not mark_deleted(store, maintenance_id, now, revision):
        if revision is not None and is_live(
            maintenance_items.get_maintenance(store, maintenance_id)
        ):
            raise maintenance_changed()
        raise maintenance_not_found(raw_id)
    # Not left to the purge's time budget: once the DELETE answers, no window of it starts.
    end_open_events(store, maintenance_id, now)
    try:
        purge_maintenance(store, maintenance_id, now, time_left, open_first=False)
    except Exception:
        logger.exception("purge interrupted; the scheduler finishes it")
