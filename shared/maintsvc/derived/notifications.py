"""Notifications: one EventBridge event per change a subscriber acts on.

Transitions are single conditional writes wherever they happen (scheduler,
API), and the table's stream carries exactly one record per write, so the
notifier reads the stream rather than asking every writer to publish: no
second write per transition, nothing lost when a writer dies after its write.
The same holds for the maintenance's own lifecycle (created, updated,
deleted: maintsvc.derived.maintenance_changes), published from the same batch.

Entries go out in stream order; failed entries are retried in place, and a
record that still fails is reported as the batch failure point, so Lambda
retries from it and the records before it are not sent again. The records
after it that were accepted are sent again with it: delivery is at least
once, and every detail carries a stable id (`transition_id`, `change_id`)
to drop the rare duplicate by.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from maintsvc.derived.maintenance_changes import change_entry, maintenance_change
from maintsvc.storage import keys
from maintsvc.storage.access import maintenance_items
from maintsvc.storage.store import Item, Store, from_item

SOURCE = "maintenance-windows"
DETAIL_TYPE = "Maintenance Event Status Changed"
PUBLISH_ATTEMPTS = 4


# Windows a subscriber is acting on: announced when they appear or disappear.
LIVE_STATUSES = frozenset({"READY", "ONGOING"})


@dataclass(frozen=True)
class StatusChange:
    """One change a subscriber acts on; `old` or `new` is None for a creation or deletion."""

    sequence_number: str
    old: Item | None
    new: Item | None
    reason: str

    @property
    def event(self) -> Item:
        image = self.new if self.new is not None else self.old
        assert image is not None
        return image


def _change(record: dict[str, Any]) -> StatusChange | None:
    """The change a stream record means for subscribers, if any.

    MODIFY: a status change. INSERT: an event created already READY or
    ONGOING (its window is live from the start). REMOVE: a READY or ONGOING
    event deleted (its event, its maintenance, or a schedule change), which
    ends that window for whoever acted on it.
    """
    data = record.get("dynamodb", {})
    if not str(data.get("Keys", {}).get("SK", {}).get("S", "")).startswith("E#"):
        return None
    old = from_item(data["OldImage"]) if "OldImage" in data else None
    new = from_item(data["NewImage"]) if "NewImage" in data else None
    name = record.get("eventName")
    if name == "MODIFY" and old and new and old.get("status") != new.get("status"):
        return StatusChange(data["SequenceNumber"], old, new, "status_change")
    if name == "INSERT" and new and new.get("status") in LIVE_STATUSES:
        return StatusChange(data["SequenceNumber"], None, new, "created")
    if name == "REMOVE" and old and old.get("status") in LIVE_STATUSES:
        return StatusChange(data["SequenceNumber"], old, None, "deleted")
    return None


def status_changes(records: list[dict[str, Any]]) -> list[StatusChange]:
    """The changes subscribers act on, in stream order (see `_change`)."""
    return [c for c in map(_change, records) if c is not None]


def notification(change: StatusChange, maintenance: Item | None, bus: str) -> dict[str, Any]:
    event = change.event
    from_status = change.old["status"] if change.old else None
    to_status = change.new["status"] if change.new else None
    stamp = event["updated_at"]
    detail = {
        "transition_id": f"{event['id']}:{from_status or '-'}:{to_status or '-'}:{stamp}",
        "maintenance_id": event["maintenance_id"],
        "event_id": event["id"],
        "from_status": from_status,
        "to_status": to_status,
        "reason": change.reason,
        "start_date_time": event["start_date_time"],
        "end_date_time": event["end_date_time"],
        "maintenance_title": maintenance["title"] if maintenance else None,
        "monitors": maintenance.get("monitors", []) if maintenance else [],
        "changed_at": stamp,
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus,
    }


def publish_changes(
    store: Store, records: list[dict[str, Any]], bus: str, site: str = ""
) -> str | None:
    """Publish every change in `records`, in stream order; the sequence number to retry
    from, if any. `site` (PUBLIC_SITE_URL) links the maintenance in lifecycle events."""
    changes = status_changes(records)
    maintenances: dict[int, Item] = {}
    if changes:
        wanted = sorted({c.event["maintenance_id"] for c in changes})
        # A maintenance deleted meanwhile has left its tombstone (title, monitors).
        found = maintenance_items.get_maintenances_or_tombstones(store, wanted)
        maintenances = {m["id"]: m for m in found if m["SK"] == keys.GONE}
        maintenances.update({m["id"]: m for m in found if m["SK"] == keys.META and "title" in m})
    by_sequence = {
        c.sequence_number: notification(c, maintenances.get(c.event["maintenance_id"]), bus)
        for c in changes
    }
    for record in records:
        lifecycle = maintenance_change(record)
        if lifecycle is not None:
            by_sequence[lifecycle.sequence_number] = change_entry(lifecycle, SOURCE, bus, site)
    # One record means at most one change: stream order is record order.
    order = [str(r.get("dynamodb", {}).get("SequenceNumber", "")) for r in records]
    sequences = [s for s in order if s in by_sequence]
    entries = [by_sequence[s] for s in sequences]
    if not entries:
        return None
    pending = list(range(len(entries)))
    for attempt in range(PUBLISH_ATTEMPTS):
        accepted = store.put_events([entries[i] for i in pending])
        pending = [i for i, ok in zip(pending, accepted, strict=True) if not ok]
        if not pending:
            return None
        time.sleep(0.2 * 2**attempt)
    return sequences[pending[0]]
