"""Due events written straight to the table, for the scheduler's tests and benchmark.

The 5,000-event tick test and `make bench`'s tick throughput both need thousands
of SCHEDULED events whose windows have passed. Creating them through the API
would run materialisation for every maintenance (and measure it); writing the
items directly (BatchWriteItem) keeps those runs about the tick alone.
"""

from typing import Any

from maintsvc.storage.items import event_item, maintenance_index_attributes
from maintsvc.storage.store import Store

# Events of one seeded maintenance start this far apart and last a minute.
EVENT_SPACING_SECONDS = 300
# READY_WINDOW_SECONDS as the template sets it.
READY_WINDOW_SECONDS = 300


def seed_due_events(store: Store, maintenances: int, per_maintenance: int, start: int) -> list[int]:
    """ACTIVE maintenances 1..`maintenances`, each with `per_maintenance` SCHEDULED events.

    Event n of a maintenance starts at `start + n * 300`; event ids count up
    across maintenances. Returns the maintenance ids.
    """
    items: list[dict[str, Any]] = []
    event_id = 0
    for maintenance_id in range(1, maintenances + 1):
        maintenance = {
            "id": maintenance_id, "title": "t", "description": None, "start_date_time": start,
            "timezone": "UTC", "rrule": f"FREQ=MINUTELY;INTERVAL=5;COUNT={per_maintenance}",
            "duration_seconds": 60, "status": "ACTIVE", "monitors": [], "created_at": "x",
            "updated_at": "x", "schedule_version": 1, "revision": 1,
            "event_count": per_maintenance,
        }  # fmt: skip
        items.append({**maintenance, **maintenance_index_attributes(maintenance)})
        for n in range(per_maintenance):
            event_id += 1
            begins = start + n * EVENT_SPACING_SECONDS
            items.append(
                event_item(
                    maintenance_id, event_id, begins, begins, begins + 60, "SCHEDULED", 1, "x",
                    READY_WINDOW_SECONDS,
                )
            )  # fmt: skip
    store.batch_write(puts=items)
    return list(range(1, maintenances + 1))
