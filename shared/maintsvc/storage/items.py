"""Stored items <-> resources: how maintenances and events look in the table and on the wire."""

from typing import Any, TypeGuard

from maintsvc.lifecycle.statuses import TERMINAL, next_transition_at
from maintsvc.storage import keys

Item = dict[str, Any]

MAINTENANCE_FIELDS = (
    "id",
    "title",
    "description",
    "start_date_time",
    "timezone",
    "rrule",
    "duration_seconds",
    "status",
    "monitors",
    "created_at",
    "updated_at",
)
EVENT_FIELDS = (
    "id",
    "maintenance_id",
    "start_date_time",
    "end_date_time",
    "status",
    "created_at",
    "updated_at",
)
# An open event's `hold` (absent, or why it is held: "INACTIVE", "stale") says it may start
# (move into READY or ONGOING) only in a transaction that checks its maintenance first; an
# unheld one starts with one conditional write. Never a resource field.
HOLD = "hold"


def is_live(item: Item | None) -> TypeGuard[Item]:
    """A maintenance readers may see: stored whole and not being deleted.

    An item without its fields (a stray write that re-created the key after a
    delete) or one marked `deleting` reads as absent everywhere.
    """
    return item is not None and "title" in item and "rrule" in item and not item.get("deleting")


def maintenance_resource(item: Item) -> dict[str, Any]:
    return {field: item.get(field) for field in MAINTENANCE_FIELDS}


def event_resource(item: Item) -> dict[str, Any]:
    return {field: item[field] for field in EVENT_FIELDS}


def feed_entry(event: Item, maintenance: Item) -> dict[str, Any]:
    return {
        "maintenance_id": event["maintenance_id"],
        "event_id": event["id"],
        "event_start_date_time": event["start_date_time"],
        "event_end_date_time": event["end_date_time"],
        "event_status": event["status"],
        "maintenance_title": maintenance["title"],
        "maintenance_description": maintenance.get("description"),
        "maintenance_status": maintenance["status"],
        "maintenance_rrule": maintenance["rrule"],
        "maintenance_duration_seconds": maintenance["duration_seconds"],
        "monitors": maintenance.get("monitors", []),
    }


# -- links into Kener's status page (PUBLIC_SITE_URL; "" leaves them out) -----------------


def maintenance_url(site: str, maintenance_id: int) -> str:
    """A maintenance's page, as current Kener links it."""
    return f"{site}/maintenances/{maintenance_id}?type=maintenance"


def event_url(site: str, event_id: int) -> str:
    """An event's page, as current Kener links it (events share the maintenances path)."""
    return f"{site}/maintenances/{event_id}"


def with_maintenance_url(resource: dict[str, Any], site: str) -> dict[str, Any]:
    return {**resource, "url": maintenance_url(site, resource["id"])} if site else resource


def with_event_url(resource: dict[str, Any], site: str) -> dict[str, Any]:
    return {**resource, "url": event_url(site, resource["id"])} if site else resource


def with_feed_url(entry: dict[str, Any], site: str) -> dict[str, Any]:
    return {**entry, "url": event_url(site, entry["event_id"])} if site else entry


def maintenance_index_attributes(item: Item) -> Item:
    """The keys and derived attributes a maintenance item carries besides its fields."""
    derived: Item = {
        **keys.maintenance_key(item["id"]),
        "GSI1PK": keys.MAINTENANCE_LIST,
        "GSI1SK": keys.maintenance_list_sk(item["status"], item["id"]),
    }
    tags = {m["monitor_tag"] for m in item.get("monitors", [])}
    if tags:
        derived["tags"] = tags
    return derived


def event_item(
    maintenance_id: int,
    event_id: int,
    occurrence: int,
    start: int,
    end: int,
    status: str,
    schedule_version: int,
    timestamp: str,
    ready_window: int,
) -> Item:
    item: Item = {
        **keys.event_key(maintenance_id, event_id),
        "id": event_id,
        "maintenance_id": maintenance_id,
        "occurrence": occurrence,
        "schedule_version": schedule_version,
        "created_at": timestamp,
        "updated_at": timestamp,
    }
    return {
        **item,
        **event_time_attributes(maintenance_id, event_id, start, end, status, ready_window),
    }


def event_time_attributes(
    maintenance_id: int,
    event_id: int,
    start: int,
    end: int,
    status: str,
    ready_window: int,
    due_at: int | None = None,
) -> Item:
    """Everything that follows from an event's times and status, index keys included.

    A terminal event leaves the scheduler's due queue for its expiry queue, and
    its maintenance's open events (GSI4) for good.
    `due_at` overrides when the scheduler looks at it next (an INACTIVE
    maintenance's pending event only matters when its window ends).
    """
    attributes: Item = {
        "start_date_time": start,
        "end_date_time": end,
        "status": status,
        "LSI1SK": keys.start_order_sk(start, event_id),
        "GSI2PK": keys.feed_pk(status, start),
        "GSI2SK": keys.start_order_sk(start, event_id),
    }
    if status in TERMINAL:
        # History: it leaves the due queue for the expiry queue, keyed by its end; the
        # scheduler deletes it HISTORY_RETENTION_DAYS after that.
        attributes["GSI3PK"] = keys.expire_pk(event_id)
        attributes["GSI3SK"] = keys.queue_sk(end, event_id)
        return attributes
    # Open: what a schedule change or a pause has to look at, without the history.
    attributes["GSI4PK"] = keys.open_pk(maintenance_id)
    attributes["GSI4SK"] = keys.start_order_sk(start, event_id)
    due = next_transition_at(status, start, end, ready_window)
    if due is not None and due_at is not None:
        due = due_at
    if due is not None:
        attributes["GSI3PK"] = keys.due_pk(event_id)
        attributes["GSI3SK"] = keys.queue_sk(due, event_id)
    return attributes


# A marker matters while its occurrence could be planned again: until its window,
# at the longest allowed duration, has ended. DynamoDB's TTL then removes it.
MARKER_LIFETIME = 31_536_000 + 86_400


def marker_item(maintenance_id: int, occurrence: int, event_id: int, version: int) -> Item:
    return {
        **keys.occurrence_key(maintenance_id, occurrence),
        "event_id": event_id,
        "schedule_version": version,
        "expires_at": occurrence + MARKER_LIFETIME,
    }
