"""The maintenance's own lifecycle on the bus: created, updated, deleted, once each.

Read from the table's stream like the status changes (maintsvc.derived.notifications),
for the same reasons: every change of a maintenance is one conditional write of its
META item, so the stream holds exactly one record per change, and no writer has to
publish (or can die between its write and its publishing).

Which META records mean what:

- INSERT of a whole maintenance: `Maintenance Created` (the POST's transaction).
- MODIFY that changes a field the API shows (`changed` lists them, in the
  resource's order): `Maintenance Updated`. Every such write is a PATCH,
  which bumps `revision`; the other writes of META (the event count, the
  top-up queue keys, `needs_cleanup`, the schedule version) change nothing a
  reader sees and are not announced. `updated_at` changes with every PATCH
  and is not listed.
- MODIFY that marks it `deleting`: `Maintenance Deleted`. That is the write
  from which the API answers 404, it happens once (it is conditional on the
  maintenance not being marked yet), and its new image still holds the whole
  maintenance, so the event carries its last state. The purge's REMOVE of
  META, minutes later when the scheduler finishes a large one, is not
  announced (the template's filter does not even deliver it).

Each detail carries `change_id`, `<maintenance id>:<created|updated|deleted>:<revision>`:
ids are never reused and every visible change bumps the revision, so it names one
change and is the same however often Lambda redelivers the record.
"""

import json
from dataclasses import dataclass
from typing import Any

from maintsvc.storage import keys
from maintsvc.storage.items import (
    MAINTENANCE_FIELDS,
    is_live,
    maintenance_resource,
    with_maintenance_url,
)
from maintsvc.storage.store import Item, from_item

CREATED = "Maintenance Created"
UPDATED = "Maintenance Updated"
DELETED = "Maintenance Deleted"
DETAIL_TYPES = (CREATED, UPDATED, DELETED)
# Shown by the API but not a change of their own: every PATCH moves `updated_at`.
NOT_LISTED = frozenset({"updated_at"})


@dataclass(frozen=True)
class MaintenanceChange:
    """One change of a maintenance a subscriber hears about; `old` is None for a creation."""

    sequence_number: str
    detail_type: str
    old: Item | None
    new: Item

    @property
    def changed(self) -> list[str]:
        """The fields the API shows that differ (Updated only), in the resource's order."""
        if self.detail_type != UPDATED or self.old is None:
            return []
        return visible_changes(self.old, self.new)


def visible_changes(old: Item, new: Item) -> list[str]:
    """The resource fields a write changed (`updated_at` aside): empty for internal writes."""
    return [f for f in MAINTENANCE_FIELDS if f not in NOT_LISTED and old.get(f) != new.get(f)]


def maintenance_change(record: dict[str, Any]) -> MaintenanceChange | None:
    """The lifecycle change a stream record means, if any (see the module doc)."""
    data = record.get("dynamodb", {})
    if data.get("Keys", {}).get("SK", {}).get("S") != keys.META:
        return None
    old = from_item(data["OldImage"]) if "OldImage" in data else None
    new = from_item(data["NewImage"]) if "NewImage" in data else None
    name = record.get("eventName")
    sequence = str(data.get("SequenceNumber", ""))
    if name == "INSERT" and is_live(new):
        return MaintenanceChange(sequence, CREATED, None, new)
    if name != "MODIFY" or not is_live(old) or new is None:
        return None
    if new.get("deleting"):
        return MaintenanceChange(sequence, DELETED, old, new)
    if is_live(new) and visible_changes(old, new):
        return MaintenanceChange(sequence, UPDATED, old, new)
    return None


def _kind(detail_type: str) -> str:
    return detail_type.removeprefix("Maintenance ").lower()


def change_detail(change: MaintenanceChange, site: str = "") -> dict[str, Any]:
    """The event's detail: the maintenance as the API shows it (its `url` with `site`)."""
    new = change.new
    resource = with_maintenance_url(maintenance_resource(new), site)
    detail: dict[str, Any] = {
        "change_id": f"{new['id']}:{_kind(change.detail_type)}:{new.get('revision', 1)}",
        "maintenance_id": new["id"],
    }
    if change.detail_type == UPDATED:
        assert change.old is not None
        changed = change.changed
        detail["changed"] = changed
        detail["previous"] = {f: change.old.get(f) for f in changed}
    detail["maintenance"] = resource
    if change.detail_type == CREATED:
        detail["changed_at"] = new["created_at"]
    elif change.detail_type == UPDATED:
        detail["changed_at"] = new["updated_at"]
    else:
        detail["changed_at"] = new.get("deleted_at")
    return detail


def change_entry(change: MaintenanceChange, source: str, bus: str, site: str = "") -> Item:
    """The PutEvents entry of one change. UTF-8 as is (not escaped): a 10,000-character
    description stays at most 40 KB, so entries fit PutEvents' 256 KB requests."""
    return {
        "Source": source,
        "DetailType": change.detail_type,
        "Detail": json.dumps(
            change_detail(change, site), separators=(",", ":"), ensure_ascii=False
        ),
        "EventBusName": bus,
    }
