"""Events: per-maintenance listing, get, reschedule/cancel/complete, delete, and the feed
(docs/behaviour.md §4). Domain functions: the store comes in, resources go out."""

from typing import Any

from maintsvc.config import Settings
from maintsvc.edge.etags import Expectation
from maintsvc.errors import (
    ConflictError,
    ValidationError,
    event_changed,
    event_not_found,
    maintenance_not_found,
)
from maintsvc.lifecycle.statuses import (
    CANCELLED,
    COMPLETED,
    ONGOING,
    PENDING,
    SCHEDULED,
    TERMINAL,
    status_from_time,
)
from maintsvc.numbers import minute_timestamp
from maintsvc.storage.access import event_items, maintenance_items
from maintsvc.storage.items import event_resource, is_live
from maintsvc.storage.store import Item, Store, TransactionCancelled

# The conditional writes that move an event (lifecycle.status_changes) are imported by
# the PATCH that uses them, not here: EventsFunction compiles every module it imports at
# each cold start, and its reads do not need them (docs/performance.md, "Cold start").
UPDATE_ATTEMPTS = 3
MAX_COUNTED = 10_000_000


def _page(items: list[Any], page: int, limit: int) -> list[Any]:
    return items[(page - 1) * limit : page * limit]


def list_events(
    store: Store, raw_id: str, maintenance_id: int, page: int, limit: int
) -> dict[str, Any]:
    """Every event of the maintenance, start ascending then id: GetItem + one LSI Query."""
    maintenance = maintenance_items.get_maintenance(store, maintenance_id)
    if not is_live(maintenance):
        raise maintenance_not_found(raw_id)
    total = maintenance.get("event_count")
    if total is None:  # written before the counter existed: count once
        total = event_items.count_events(store, maintenance_id, MAX_COUNTED)
    shown: list[Item] = []
    if (page - 1) * limit < total:  # read up to the page's end, not the whole history
        events = event_items.events_in_start_order(store, maintenance_id, page * limit)
        shown = _page(events, page, limit)
    return {
        "events": [event_resource(e) for e in shown],
        "page": page,
        "limit": limit,
        "total": total,
    }


def load_event(
    store: Store,
    raw_maintenance_id: str,
    maintenance_id: int,
    raw_event_id: str,
    event_id: int | None,
) -> tuple[Item, Item]:
    """The maintenance and the event in one BatchGetItem, or the right 404."""
    maintenance, event = event_items.get_maintenance_and_event(store, maintenance_id, event_id)
    if not is_live(maintenance):
        raise maintenance_not_found(raw_maintenance_id)
    if event is None:
        raise event_not_found(raw_event_id)
    return maintenance, event


def get_event(
    store: Store, raw_mid: str, maintenance_id: int, raw_eid: str, event_id: int | None
) -> dict[str, Any]:
    return event_resource(load_event(store, raw_mid, maintenance_id, raw_eid, event_id)[1])


def delete_event(
    store: Store,
    raw_mid: str,
    maintenance_id: int,
    raw_eid: str,
    event_id: int | None,
    expect: Expectation | None = None,
) -> None:
    """Delete the event; its occurrence marker stays, so it is never generated again.

    With `expect` (If-Match) the delete is conditional on the event as read
    and compared: changed meanwhile is 412, deleted meanwhile 404.
    """
    event = load_event(store, raw_mid, maintenance_id, raw_eid, event_id)[1]
    assert event_id is not None
    if expect is not None and not expect(event_resource(event)):
        raise event_changed()
    as_read = event if expect is not None else None
    try:
        event_items.delete_event(store, maintenance_id, event_id, as_read)
    except TransactionCancelled as exc:
        if exc.reasons[:1] == ["ConditionalCheckFailed"]:
            load_event(store, raw_mid, maintenance_id, raw_eid, event_id)  # gone: its 404
            raise event_changed() from None  # changed meanwhile (If-Match): 412
        if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
            raise maintenance_not_found(raw_mid) from None
        raise


def _given(body: dict[str, Any], field: str) -> bool:
    return body.get(field) is not None


def _event_time(body: dict[str, Any], field: str) -> int:
    value = body.get(field)
    if value is None:
        raise ValidationError(f"{field} is required")
    truncated = minute_timestamp(value)
    if truncated is None:
        raise ValidationError(f"{field} must be a valid timestamp (UTC seconds)")
    return truncated


def update_event(
    store: Store,
    settings: Settings,
    raw_mid: str,
    maintenance_id: int,
    raw_eid: str,
    event_id: int | None,
    body: dict[str, Any],
    now: int,
    expect: Expectation | None = None,
) -> dict[str, Any]:
    """Reschedule (both times) or end (status COMPLETED/CANCELLED) one event.

    The write is conditional on the event as read; losing a race to the
    scheduler re-reads and re-decides, so the answer reflects the event's
    real state. `expect` (If-Match) is compared with the event read, and the
    write then also requires its `updated_at` unchanged: a retry after a
    lost race finds another version, 412.
    """
    wants_status = _given(body, "status")
    if wants_status and (_given(body, "start_date_time") or _given(body, "end_date_time")):
        raise ValidationError("Cannot update status and start/end times in the same request")
    exactly = expect is not None
    for _ in range(UPDATE_ATTEMPTS):
        maintenance, event = load_event(store, raw_mid, maintenance_id, raw_eid, event_id)
        if expect is not None and not expect(event_resource(event)):
            raise event_changed()
        if wants_status:
            written = _change_status(store, settings, event, body["status"], now, exactly)
        else:
            written = _reschedule(store, settings, raw_mid, maintenance, event, body, now, exactly)
        if written is not None:
            return event_resource(written)
    raise ConflictError("The event changed during the request; retry it")


def _reschedule(
    store: Store,
    settings: Settings,
    raw_mid: str,
    maintenance: Item,
    event: Item,
    body: dict[str, Any],
    now: int,
    exactly: bool = False,
) -> Item | None:
    from maintsvc.lifecycle.status_changes import apply_transition

    start = _event_time(body, "start_date_time")
    end = _event_time(body, "end_date_time")
    if end <= start:
        raise ValidationError("end_date_time must be after start_date_time")
    if event["status"] in TERMINAL:
        raise ValidationError(f"Cannot reschedule a {event['status']} event")
    ready = settings.ready_window_seconds
    if maintenance["status"] == "ACTIVE":
        status = status_from_time(now, start, end, ready)
        return apply_transition(store, event, status, ready, start=start, end=end, exactly=exactly)
    # Not applied while INACTIVE: it waits, and is CANCELLED once its window passes.
    status = CANCELLED if now >= end else SCHEDULED
    return apply_transition(
        store, event, status, ready, start=start, end=end, due_at=end, exactly=exactly
    )


def _change_status(
    store: Store, settings: Settings, event: Item, status: Any, now: int, exactly: bool = False
) -> Item | None:
    from maintsvc.lifecycle.status_changes import cancel_or_complete

    if status not in (COMPLETED, CANCELLED):
        raise ValidationError("status must be COMPLETED or CANCELLED")
    allowed = {ONGOING} if status == COMPLETED else PENDING | {ONGOING}
    if event["status"] not in allowed:
        raise ValidationError(f"Cannot transition event from {event['status']} to {status}")
    return cancel_or_complete(store, event, status, now, settings.ready_window_seconds, exactly)
