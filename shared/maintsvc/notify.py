"""Status-change notifications: one EventBridge event per event status change.

Transitions are single conditional writes wherever they happen (scheduler,
API), and the table's stream carries exactly one record per write, so the
notifier reads the stream rather than asking every writer to publish: no
second write per transition, nothing lost when a writer dies after its write.
Entries go out in stream order; failed entries are retried in place, and a
record that still fails is reported as the batch failure point, so Lambda
retries from it and the records before it are not sent again.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from maintsvc import keys
from maintsvc.store import Item, Store, from_item

SOURCE = "maintenance-windows"
DETAIL_TYPE = "Maintenance Event Status Changed"
PUBLISH_ATTEMPTS = 4


@dataclass(frozen=True)
class StatusChange:
    sequence_number: str
    old: Item
    new: Item


def status_changes(records: list[dict[str, Any]]) -> list[StatusChange]:
    """MODIFY records of event items whose status differs between the two images."""
    changes = []
    for record in records:
        data = record.get("dynamodb", {})
        if record.get("eventName") != "MODIFY" or "OldImage" not in data:
            continue
        old, new = from_item(data["OldImage"]), from_item(data["NewImage"])
        if not str(new.get("SK", "")).startswith("E#") or old.get("status") == new.get("status"):
            continue
        changes.append(StatusChange(data["SequenceNumber"], old, new))
    return changes


def notification(change: StatusChange, maintenance: Item | None, bus: str) -> dict[str, Any]:
    new = change.new
    detail = {
        "transition_id": f"{new['id']}:{change.old['status']}:{new['status']}:{new['updated_at']}",
        "maintenance_id": new["maintenance_id"],
        "event_id": new["id"],
        "from_status": change.old["status"],
        "to_status": new["status"],
        "start_date_time": new["start_date_time"],
        "end_date_time": new["end_date_time"],
        "maintenance_title": maintenance["title"] if maintenance else None,
        "monitors": maintenance.get("monitors", []) if maintenance else [],
        "changed_at": new["updated_at"],
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus,
    }


def publish_changes(store: Store, records: list[dict[str, Any]], bus: str) -> str | None:
    """Publish every status change in `records`; the sequence number to retry from, if any."""
    changes = status_changes(records)
    if not changes:
        return None
    wanted = sorted({c.new["maintenance_id"] for c in changes})
    maintenances = {
        m["id"]: m for m in store.batch_get([keys.maintenance_key(mid) for mid in wanted])
    }
    entries = [notification(c, maintenances.get(c.new["maintenance_id"]), bus) for c in changes]
    pending = list(range(len(entries)))
    for attempt in range(PUBLISH_ATTEMPTS):
        accepted = store.put_events([entries[i] for i in pending])
        pending = [i for i, ok in zip(pending, accepted, strict=True) if not ok]
        if not pending:
            return None
        time.sleep(0.2 * 2**attempt)
    return changes[pending[0]].sequence_number
