"""The maintenance's own lifecycle on the bus: real stream records (moto), filtered by the
template's FilterCriteria as Lambda would, through the notifier to a bus (EventBridge in
moto, a rule on our source, an SQS target)."""

import json
import time
from typing import Any

import pytest

from devtools.triggers import pattern_matches
from maintsvc.config import load_settings
from maintsvc.derived.maintenance_changes import CREATED, DELETED, DETAIL_TYPES, UPDATED
from maintsvc.derived.notifications import DETAIL_TYPE, SOURCE, publish_changes
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.resources.maintenances import (
    create_maintenance,
    delete_maintenance,
    update_maintenance,
)
from maintsvc.storage.store import Store, event_entry_size
from tests.conftest import NOW, TEMPLATE, LambdaContext, load_function
from tests.scheduler.test_notifications import bus_queue, received, stream_records

__all__ = ["bus_queue"]  # the fixture, imported for pytest

NOTIFIER = next(s for s in TEMPLATE.streams if s.function.logical_id == "NotifierFunction")
STAMP = "2030-03-17T17:00:00.000Z"  # NOW as the API writes it
BODY = {
    "title": "Backup",
    "description": "Nightly",
    "start_date_time": NOW + 86400,
    "rrule": "FREQ=DAILY;COUNT=3",
    "duration_seconds": 1800,
    "monitors": [{"monitor_tag": "db", "impact": "DEGRADED"}],
}


def delivered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records Lambda hands the notifier: those its template filters let through."""
    return [r for r in records if any(pattern_matches(f, r) for f in NOTIFIER.filters)]


class Bus:
    """Runs the notifier over the stream records written since the last run."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.seen = 0

    def run(self) -> list[dict[str, Any]]:
        records = stream_records()
        new, self.seen = records[self.seen :], len(records)
        result = load_function("notifier").lambda_handler(
            {"Records": delivered(new)}, LambdaContext()
        )
        assert result == {"batchItemFailures": []}
        return received(self.queue, None)

    def lifecycle(self) -> list[dict[str, Any]]:
        """The maintenance lifecycle events of this run (status changes left out)."""
        return [e for e in self.run() if e["detail-type"] in DETAIL_TYPES]


@pytest.fixture
def bus(bus_queue: str, monkeypatch: pytest.MonkeyPatch) -> Bus:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    return Bus(bus_queue)


def test_the_stamp_is_now() -> None:
    from maintsvc.clock import iso_from_timestamp

    assert iso_from_timestamp(NOW) == STAMP


def test_a_create_is_one_created_event_with_the_resource(store: Store, bus: Bus) -> None:
    m = create_maintenance(store, load_settings(), BODY, NOW)
    events = bus.lifecycle()
    assert len(events) == 1
    (event,) = events
    assert (event["source"], event["detail-type"]) == (SOURCE, CREATED)
    assert event["detail"] == {
        "change_id": f"{m['id']}:created:1",
        "maintenance_id": m["id"],
        "maintenance": {
            "id": m["id"],
            "title": "Backup",
            "description": "Nightly",
            "start_date_time": NOW + 86400,
            "timezone": "UTC",
            "rrule": "FREQ=DAILY;COUNT=3",
            "duration_seconds": 1800,
            "status": "ACTIVE",
            "monitors": [{"monitor_tag": "db", "impact": "DEGRADED"}],
            "created_at": STAMP,
            "updated_at": STAMP,
        },
        "changed_at": STAMP,
    }
    assert event["detail"]["maintenance"] == m  # exactly what the POST answered


def test_a_patch_of_the_title_is_one_updated_event_naming_it(store: Store, bus: Bus) -> None:
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    bus.run()
    updated = update_maintenance(store, settings, str(m["id"]), m["id"], {"title": "B2"}, NOW)
    events = bus.run()
    assert [e["detail-type"] for e in events] == [UPDATED]
    assert events[0]["detail"] == {
        "change_id": f"{m['id']}:updated:2",
        "maintenance_id": m["id"],
        "changed": ["title"],
        "previous": {"title": "Backup"},
        "maintenance": updated,
        "changed_at": STAMP,
    }


def test_a_schedule_change_names_its_fields_and_its_follow_up_writes_nothing(
    store: Store, bus: Bus
) -> None:
    """The PATCH's write is announced; regenerating the events (META's event count, its
    top-up keys, `needs_cleanup` cleared) is not."""
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    bus.run()
    body = {"rrule": "FREQ=DAILY;COUNT=5", "duration_seconds": 900, "monitors": []}
    update_maintenance(store, settings, str(m["id"]), m["id"], body, NOW)
    meta_writes = [
        r for r in stream_records()[bus.seen :] if r["dynamodb"]["Keys"]["SK"]["S"] == "META"
    ]
    assert len(meta_writes) >= 2  # the PATCH and its follow-up
    events = bus.lifecycle()
    assert len(events) == 1
    detail = events[0]["detail"]
    assert detail["changed"] == ["rrule", "duration_seconds", "monitors"]
    assert detail["previous"] == {
        "rrule": "FREQ=DAILY;COUNT=3",
        "duration_seconds": 1800,
        "monitors": [{"monitor_tag": "db", "impact": "DEGRADED"}],
    }


def test_a_patch_that_changes_nothing_visible_publishes_nothing(store: Store, bus: Bus) -> None:
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    bus.run()
    update_maintenance(store, settings, str(m["id"]), m["id"], {"title": "Backup"}, NOW)
    assert bus.run() == []


def test_a_tick_that_tops_up_a_maintenance_publishes_no_lifecycle_event(
    store: Store, bus: Bus
) -> None:
    """An open-ended rule is topped up by the scheduler: META's event count and top-up keys
    change, and READY/ONGOING status changes are published, but no Updated."""
    settings = load_settings()
    create_maintenance(store, settings, {**BODY, "rrule": "FREQ=DAILY"}, NOW)
    bus.run()
    run_tick(store, settings, NOW + 10 * 86400)
    written = stream_records()[bus.seen :]
    assert any(r["dynamodb"]["Keys"]["SK"]["S"] == "META" for r in delivered(written))
    events = bus.run()
    assert events and {e["detail-type"] for e in events} == {DETAIL_TYPE}


def test_a_delete_is_one_deleted_event_with_the_last_state(store: Store, bus: Bus) -> None:
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    bus.run()
    delete_maintenance(store, str(m["id"]), m["id"], NOW)  # marks, then purges it all
    written = stream_records()[bus.seen :]
    assert [r["eventName"] for r in written if r["dynamodb"]["Keys"]["SK"]["S"] == "META"] == [
        "MODIFY",
        "REMOVE",
    ]
    events = bus.run()
    assert [e["detail-type"] for e in events] == [DELETED]
    assert events[0]["detail"] == {
        "change_id": f"{m['id']}:deleted:1",
        "maintenance_id": m["id"],
        "maintenance": m,
        "changed_at": STAMP,
    }
    run_tick(store, settings, NOW + 60)  # nothing left to purge: nothing more
    assert bus.run() == []


def test_a_delete_finished_by_the_scheduler_is_announced_once(store: Store, bus: Bus) -> None:
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    bus.run()
    delete_maintenance(store, str(m["id"]), m["id"], NOW, time_left=lambda: False)
    assert [e["detail-type"] for e in bus.run()] == [DELETED]
    run_tick(store, settings, NOW + 60)  # the scheduler purges it, META last
    assert bus.run() == []


def test_a_batch_delivered_twice_carries_the_same_ids(store: Store, bus_queue: str) -> None:
    """At least once: a retried batch publishes again, with the same `change_id`s."""
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    update_maintenance(store, settings, str(m["id"]), m["id"], {"title": "B2"}, NOW)
    delete_maintenance(store, str(m["id"]), m["id"], NOW)
    records = delivered(stream_records())
    handler = load_function("notifier").lambda_handler
    runs = []
    for _ in range(2):
        assert handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
        runs.append(
            [
                e["detail"]["change_id"]
                for e in received(bus_queue, None)
                if e["detail-type"] in DETAIL_TYPES
            ]
        )
    first = m["id"]
    assert runs == [[f"{first}:created:1", f"{first}:updated:2", f"{first}:deleted:2"]] * 2


def test_a_refused_lifecycle_entry_is_retried_then_reported_in_stream_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    monkeypatch.setattr("maintsvc.derived.notifications.time.sleep", lambda s: None)
    settings = load_settings()
    m = create_maintenance(store, settings, BODY, NOW)
    update_maintenance(store, settings, str(m["id"]), m["id"], {"title": "B2"}, NOW)
    records = delivered(stream_records())
    sent: list[list[str]] = []

    def refuse_updated(self: Store, entries: list[Any]) -> list[bool]:
        sent.append([e["DetailType"] for e in entries])
        return [e["DetailType"] != UPDATED for e in entries]

    monkeypatch.setattr(Store, "put_events", refuse_updated)
    failed_at = publish_changes(store, records, "default")
    assert sent == [[CREATED, UPDATED]] + [[UPDATED]] * 3  # four attempts in all
    updated = [
        r
        for r in records
        if r["eventName"] == "MODIFY" and r["dynamodb"]["Keys"]["SK"]["S"] == "META"
    ]
    assert failed_at == updated[0]["dynamodb"]["SequenceNumber"]


def test_the_template_filter_delivers_meta_inserts_and_modifies_only() -> None:
    def record(name: str, sk: str) -> dict[str, Any]:
        return {"eventName": name, "dynamodb": {"Keys": {"PK": {"S": "M#1"}, "SK": {"S": sk}}}}

    assert delivered([record("INSERT", "META")]) != []
    assert delivered([record("MODIFY", "META")]) != []
    assert delivered([record("REMOVE", "META")]) == []  # announced by the deleting mark
    assert delivered([record("INSERT", "GONE"), record("MODIFY", "GONE")]) == []
    assert len(NOTIFIER.filters) == 4  # Lambda allows 5 filters per event source


def test_the_detail_links_the_status_page_when_the_site_is_set(
    store: Store, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notifier gets PUBLIC_SITE_URL like the API functions: the maintenance in the
    detail is the resource they answer, `url` included."""
    monkeypatch.setenv("PUBLIC_SITE_URL", "https://status.example.com/")
    m = create_maintenance(store, load_settings(), BODY, NOW)
    (event,) = bus.lifecycle()
    url = f"https://status.example.com/maintenances/{m['id']}?type=maintenance"
    assert event["detail"]["maintenance"] == {**m, "url": url}
    variables = NOTIFIER.function.environment
    assert variables["PUBLIC_SITE_URL"] == ""  # the template's default, from PublicSiteUrl


def test_large_entries_are_sent_in_requests_putevents_accepts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten 10,000-character descriptions changed at once are over 256 KB in one call, which
    PutEvents would refuse whole, failing the batch for ever."""
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    settings = load_settings()
    ids = [create_maintenance(store, settings, BODY, NOW)["id"] for _ in range(10)]
    for maintenance_id in ids:
        body = {"description": "é" * 10_000}
        update_maintenance(store, settings, str(maintenance_id), maintenance_id, body, NOW)
    records = [r for r in delivered(stream_records()) if r["eventName"] == "MODIFY"]
    calls: list[list[dict[str, Any]]] = []
    real = Store.put_events

    def spy(self: Store, entries: list[Any]) -> list[bool]:
        calls.append(entries)
        return real(self, entries)

    monkeypatch.setattr(Store, "put_events", spy)
    assert publish_changes(store, records, "default") is None
    (entries,) = calls
    # UTF-8 as is ("é" is 2 bytes, not a 6-byte escape): 20 KB new and 7 bytes old, each.
    sizes = [event_entry_size(e) for e in entries]
    assert len(sizes) == 10 and all(20_000 < size < 21_000 for size in sizes)
    from maintsvc.storage.store import _event_batches

    big = [{**e, "Detail": e["Detail"] + " " * 20_000} for e in entries]
    batches = [len(b) for b in _event_batches(big)]
    assert batches == [6, 4]  # about 41 KB each: 6 fit in 256 KB
    assert all(json.loads(e["Detail"])["changed"] == ["description"] for e in entries)
