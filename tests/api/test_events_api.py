"""docs/behaviour.md §4: materialisation through the API, the events endpoints and the feed."""

from typing import Any

import pytest

from tests.conftest import NOW, Caller, valid_body

DAY = 86400


def create(call: Caller, **overrides: Any) -> dict[str, Any]:
    response = call("POST", "/api/v4/maintenances", body=valid_body(**overrides))
    assert response.status == 201, response
    maintenance: dict[str, Any] = response.json["maintenance"]
    return maintenance


def events_of(call: Caller, maintenance_id: int, **query: str) -> dict[str, Any]:
    response = call("GET", f"/api/v4/maintenances/{maintenance_id}/events", query=query or None)
    assert response.status == 200, response
    body: dict[str, Any] = response.json
    return body


def all_events(call: Caller, maintenance_id: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = events_of(call, maintenance_id, limit="100")["events"]
    return events


def bad_request(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message}}


# -- materialisation on create ------------------------------------------------------------


def test_daily_rule_fills_the_horizon(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY", duration_seconds=1800)
    body = events_of(call, m["id"])
    assert body["total"] == 30
    assert (body["page"], body["limit"]) == (1, 20)
    first = body["events"][0]
    assert set(first) == {
        "id", "maintenance_id", "start_date_time", "end_date_time", "status",
        "created_at", "updated_at",
    }  # fmt: skip
    assert first["maintenance_id"] == m["id"]
    assert first["start_date_time"] == NOW + 3600
    assert first["end_date_time"] == NOW + 3600 + 1800
    assert first["status"] == "SCHEDULED"
    starts = [e["start_date_time"] for e in all_events(call, m["id"])]
    assert starts == [NOW + 3600 + i * DAY for i in range(30)]


def test_statuses_at_creation_follow_the_clock(call: Caller, clock: Any) -> None:
    # Hourly windows of 30 min starting 2 h ago: ended, in progress, ready, scheduled...
    m = create(
        call,
        start_date_time=NOW - 7200,
        rrule="FREQ=MINUTELY;INTERVAL=20;COUNT=12",
        duration_seconds=600,
    )
    events = all_events(call, m["id"])
    by_start = {e["start_date_time"] - NOW: e["status"] for e in events}
    assert -1200 not in by_start  # ended before now: not created
    assert by_start[0] == "ONGOING"  # in progress at creation: ONGOING (Kener drops it)
    assert by_start[1200] == "SCHEDULED"
    assert min(by_start) == 0


def test_count_ten_is_ten_events_not_one_time(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 60, rrule="FREQ=DAILY;COUNT=10")
    assert events_of(call, m["id"])["total"] == 10


def test_ready_window_at_creation(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 300, rrule="FREQ=DAILY;COUNT=1")
    assert all_events(call, m["id"])[0]["status"] == "READY"
    m = create(call, start_date_time=NOW + 360, rrule="FREQ=DAILY;COUNT=1")
    assert all_events(call, m["id"])[0]["status"] == "SCHEDULED"


def test_inactive_creates_no_events(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 60, rrule="FREQ=DAILY", status="INACTIVE")
    assert events_of(call, m["id"])["total"] == 0


def test_cap_limits_future_events(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_FUTURE_EVENTS", "7")
    m = create(call, start_date_time=NOW + 60, rrule="FREQ=HOURLY", duration_seconds=60)
    assert events_of(call, m["id"])["total"] == 7


def test_more_than_one_transaction_of_events(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 60, rrule="FREQ=HOURLY", duration_seconds=60)
    body = events_of(call, m["id"], page="5", limit="100")
    assert body["total"] == 500  # 30 days of hourly windows, capped at 500
    assert body["events"][-1]["start_date_time"] == NOW + 60 + 499 * 3600
    assert events_of(call, m["id"], page="6", limit="100")["events"] == []
    ids = [e["id"] for e in events_of(call, m["id"], page="1", limit="100")["events"]]
    assert ids == sorted(ids) and len(set(ids)) == 100


# -- paging -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "page", "limit", "count"),
    [
        ({}, 1, 20, 20),
        ({"page": "2", "limit": "25"}, 2, 25, 5),
        ({"page": "0"}, 1, 20, 20),
        ({"page": "-3"}, 1, 20, 20),
        ({"limit": "0"}, 1, 1, 1),
        ({"limit": "1000"}, 1, 100, 30),
        ({"page": "abc", "limit": "2.5"}, 1, 20, 20),
        ({"page": "", "limit": ""}, 1, 20, 20),
        ({"page": "9"}, 9, 20, 0),
    ],
)
def test_paging_values_never_error(
    call: Caller, clock: Any, query: dict[str, str], page: int, limit: int, count: int
) -> None:
    m = create(call, start_date_time=NOW + 60, rrule="FREQ=DAILY")
    body = events_of(call, m["id"], **query)
    assert (body["page"], body["limit"], body["total"]) == (page, limit, 30)
    assert len(body["events"]) == count


def test_events_of_unknown_maintenance_is_404(call: Caller) -> None:
    response = call("GET", "/api/v4/maintenances/77/events")
    assert response.status == 404
    assert response.json["error"]["message"] == "Maintenance with id '77' not found"


# -- one event ----------------------------------------------------------------------------


def test_get_event_and_its_404s(call: Caller, clock: Any) -> None:
    a = create(call, start_date_time=NOW + 600, rrule="FREQ=DAILY;COUNT=2")
    b = create(call, start_date_time=NOW + 600, rrule="FREQ=DAILY;COUNT=2")
    event = all_events(call, a["id"])[0]
    path = f"/api/v4/maintenances/{a['id']}/events/{event['id']}"
    assert call("GET", path).json == {"event": event}
    other = f"/api/v4/maintenances/{b['id']}/events/{event['id']}"
    for method in ("GET", "PATCH", "DELETE"):
        response = call(method, other, body={"status": "CANCELLED"})
        assert response.status == 404
        assert response.json == {
            "error": {
                "code": "NOT_FOUND",
                "message": f"Event with id '{event['id']}' not found for this maintenance",
            }
        }
    for raw in ("abc", "0", "999"):
        response = call("GET", f"/api/v4/maintenances/{a['id']}/events/{raw}")
        assert response.json["error"]["message"] == (
            f"Event with id '{raw}' not found for this maintenance"
        )
    response = call("GET", f"/api/v4/maintenances/999/events/{event['id']}")
    assert response.json["error"]["message"] == "Maintenance with id '999' not found"


def test_reschedule_recomputes_status(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=3", duration_seconds=600)
    event = all_events(call, m["id"])[0]
    path = f"/api/v4/maintenances/{m['id']}/events/{event['id']}"
    response = call("PATCH", path, body={"start_date_time": NOW - 59, "end_date_time": NOW + 659})
    assert response.status == 200
    moved = response.json["event"]
    assert (moved["start_date_time"], moved["end_date_time"]) == (NOW - 60, NOW + 600)
    assert moved["status"] == "ONGOING"
    response = call(
        "PATCH", path, body={"start_date_time": NOW + 7200, "end_date_time": NOW + 9000}
    )
    assert response.json["event"]["status"] == "SCHEDULED"  # it may go back
    assert call("GET", path).json == response.json


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": "CANCELLED", "start_date_time": 1}, "Cannot update status and start/end times in the same request"),
        ({}, "start_date_time is required"),
        ({"end_date_time": NOW}, "start_date_time is required"),
        ({"start_date_time": NOW}, "end_date_time is required"),
        ({"start_date_time": "x", "end_date_time": NOW}, "start_date_time must be a valid timestamp (UTC seconds)"),
        ({"start_date_time": NOW, "end_date_time": True}, "end_date_time must be a valid timestamp (UTC seconds)"),
        ({"start_date_time": NOW, "end_date_time": NOW + 59}, "end_date_time must be after start_date_time"),
        ({"status": "ONGOING"}, "status must be COMPLETED or CANCELLED"),
        ({"status": "COMPLETED"}, "Cannot transition event from SCHEDULED to COMPLETED"),
    ],
)  # fmt: skip
def test_event_patch_messages(call: Caller, clock: Any, body: dict[str, Any], message: str) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=1")
    event = all_events(call, m["id"])[0]
    response = call("PATCH", f"/api/v4/maintenances/{m['id']}/events/{event['id']}", body=body)
    assert response.status == 400
    assert response.json == bad_request(message)


def test_complete_and_cancel(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW - 600, rrule="FREQ=DAILY;COUNT=2", duration_seconds=3600)
    ongoing, later = all_events(call, m["id"])
    assert ongoing["status"] == "ONGOING"
    path = f"/api/v4/maintenances/{m['id']}/events/{ongoing['id']}"
    clock(NOW + 125)
    done = call("PATCH", path, body={"status": "COMPLETED"}).json["event"]
    assert done["status"] == "COMPLETED"
    assert done["end_date_time"] == NOW + 120  # the current minute
    response = call("PATCH", path, body={"status": "CANCELLED"})
    assert response.json == bad_request("Cannot transition event from COMPLETED to CANCELLED")
    response = call("PATCH", path, body={"start_date_time": NOW, "end_date_time": NOW + 600})
    assert response.json == bad_request("Cannot reschedule a COMPLETED event")
    later_path = f"/api/v4/maintenances/{m['id']}/events/{later['id']}"
    cancelled = call("PATCH", later_path, body={"status": "CANCELLED"}).json["event"]
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["end_date_time"] == later["end_date_time"]


def test_complete_just_after_start_keeps_a_minute(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW, rrule="FREQ=DAILY;COUNT=1", duration_seconds=3600)
    event = all_events(call, m["id"])[0]
    clock(NOW + 10)
    response = call(
        "PATCH",
        f"/api/v4/maintenances/{m['id']}/events/{event['id']}",
        body={"status": "COMPLETED"},
    )
    assert response.json["event"]["end_date_time"] == NOW + 60


def test_deleted_event_is_never_generated_again(call: Caller, clock: Any, store: Any) -> None:
    from maintsvc.config import load_settings
    from maintsvc.lifecycle.scheduler import run_tick

    m = create(call, start_date_time=NOW + 600, rrule="FREQ=DAILY", duration_seconds=600)
    event = all_events(call, m["id"])[0]
    path = f"/api/v4/maintenances/{m['id']}/events/{event['id']}"
    response = call("DELETE", path)
    assert response.status == 200
    assert response.json == {"message": f"Event with id '{event['id']}' deleted successfully"}
    assert call("GET", path).status == 404
    # A title change does not regenerate; a tick days later only adds new days.
    call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"title": "renamed"})
    run_tick(store, load_settings(), NOW + 2 * DAY)
    starts = {e["start_date_time"] for e in all_events(call, m["id"])}
    assert event["start_date_time"] not in starts


def test_schedule_change_regenerates_pending_and_keeps_history(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW - 600, rrule="FREQ=DAILY", duration_seconds=3600)
    before = all_events(call, m["id"])
    assert before[0]["status"] == "ONGOING"
    deleted = before[2]
    call("DELETE", f"/api/v4/maintenances/{m['id']}/events/{deleted['id']}")
    response = call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"duration_seconds": 1800})
    assert response.status == 200
    after = all_events(call, m["id"])
    assert after[0] == before[0]  # ONGOING history stays, and is not created twice
    assert len(after) == len(before) == 31  # 30 days ahead of a start 10 min ago
    assert all(e["end_date_time"] - e["start_date_time"] == 1800 for e in after[1:])
    assert {e["id"] for e in after[1:]}.isdisjoint({e["id"] for e in before})
    assert deleted["start_date_time"] in {e["start_date_time"] for e in after}  # markers forgotten


def test_unchanged_values_do_not_regenerate(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 600, rrule="FREQ=DAILY", duration_seconds=600)
    before = all_events(call, m["id"])
    response = call(
        "PATCH",
        f"/api/v4/maintenances/{m['id']}",
        body={"start_date_time": NOW + 630, "rrule": "RRULE:FREQ=DAILY ", "timezone": "UTC"},
    )
    assert response.json == {"maintenance": m}
    assert all_events(call, m["id"]) == before


def test_pause_and_resume(call: Caller, clock: Any, store: Any) -> None:
    from maintsvc.config import load_settings
    from maintsvc.lifecycle.scheduler import run_tick

    m = create(call, start_date_time=NOW - 600, rrule="FREQ=DAILY", duration_seconds=3600)
    path = f"/api/v4/maintenances/{m['id']}"
    clock(NOW + 60)
    call("PATCH", path, body={"status": "INACTIVE"})
    events = all_events(call, m["id"])
    assert events[0]["status"] == "COMPLETED"
    assert events[0]["end_date_time"] == NOW + 60
    assert events[1]["status"] == "SCHEDULED"
    clock(NOW + DAY + 3600)  # the second window passed while paused
    run_tick(store, load_settings(), NOW + DAY + 3600)
    assert all_events(call, m["id"])[1]["status"] == "CANCELLED"
    call("PATCH", path, body={"status": "ACTIVE"})
    events = all_events(call, m["id"])
    assert [e["status"] for e in events[:3]] == ["COMPLETED", "CANCELLED", "SCHEDULED"]
    assert events[-1]["start_date_time"] == NOW - 600 + 31 * DAY  # horizon topped up


# -- the feed -------------------------------------------------------------------------------


def feed(call: Caller, **query: str) -> Any:
    return call("GET", "/api/v4/maintenances/events", query=query or None)


def test_feed_items_order_and_total(call: Caller, clock: Any) -> None:
    a = create(
        call,
        title="A",
        start_date_time=NOW + 7200,
        rrule="FREQ=DAILY;COUNT=2",
        monitors=[{"monitor_tag": "db", "impact": "DOWN"}],
    )
    b = create(call, title="B", start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    response = feed(call, limit="3")
    assert response.status == 200
    body = response.json
    assert (body["page"], body["limit"], body["total"]) == (1, 3, 4)
    assert [(e["maintenance_id"], e["event_start_date_time"]) for e in body["events"]] == [
        (b["id"], NOW + 3600),
        (a["id"], NOW + 7200),
        (b["id"], NOW + 3600 + DAY),
    ]
    item = body["events"][1]
    assert item == {
        "maintenance_id": a["id"],
        "event_id": item["event_id"],
        "event_start_date_time": NOW + 7200,
        "event_end_date_time": NOW + 7200 + 1800,
        "event_status": "SCHEDULED",
        "maintenance_title": "A",
        "maintenance_description": None,
        "maintenance_status": "ACTIVE",
        "maintenance_rrule": "FREQ=DAILY;COUNT=2",
        "maintenance_duration_seconds": 1800,
        "monitors": [{"monitor_tag": "db", "impact": "DOWN"}],
    }


def test_feed_filters(call: Caller, clock: Any) -> None:
    a = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=3",
               monitors=[{"monitor_tag": "db"}, {"monitor_tag": "web"}])  # fmt: skip
    b = create(call, start_date_time=NOW + 60, rrule="FREQ=DAILY;COUNT=3",
               monitors=[{"monitor_tag": "api"}], status="INACTIVE")  # fmt: skip
    c = create(call, start_date_time=NOW - 60, rrule="FREQ=DAILY;COUNT=1", duration_seconds=600)

    def ids(**query: str) -> list[int]:
        response = feed(call, **query)
        assert response.status == 200, response
        assert response.json["total"] == len(response.json["events"])
        return [e["maintenance_id"] for e in response.json["events"]]

    assert ids() == [a["id"]] * 3  # default: starting at or after now; b has no events
    assert ids(event_start_date_time="0") == [c["id"]] + [a["id"]] * 3
    assert ids(event_start_date_time="0", event_status="ongoing") == [c["id"]]
    assert ids(event_start_date_time="", monitors=" web , nothing") == [a["id"]] * 3
    assert ids(monitors="api") == []  # b is INACTIVE: it never got events
    assert events_of(call, b["id"])["total"] == 0
    assert ids(maintenance_id=str(c["id"]), event_start_date_time="0") == [c["id"]]
    assert ids(maintenance_id="999") == []
    assert ids(event_start_date_time=str(NOW + 3600 + DAY)) == [a["id"]] * 2


def test_feed_includes_inactive_maintenances(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 60, rrule="FREQ=DAILY;COUNT=2")
    call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"status": "INACTIVE"})
    items = feed(call).json["events"]
    assert [e["maintenance_status"] for e in items] == ["INACTIVE", "INACTIVE"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"event_start_date_time": "soon"}, "event_start_date_time"),
        ({"event_start_date_time": "-5"}, "event_start_date_time"),
        ({"event_status": "DONE"}, "event_status"),
        ({"maintenance_id": "0"}, "maintenance_id"),
        ({"maintenance_id": "x"}, "maintenance_id"),
    ],
)
def test_feed_bad_filter_values_are_400(
    call: Caller, query: dict[str, str], parameter: str
) -> None:
    response = call("GET", "/api/v4/maintenances/events", query=query)
    assert response.status == 400
    assert response.json["error"]["code"] == "BAD_REQUEST"
    assert response.json["error"]["message"].startswith(parameter)


def test_feed_follows_a_rescheduled_event_into_another_year(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 600, rrule="FREQ=DAILY;COUNT=1")
    event = all_events(call, m["id"])[0]
    far = NOW + 400 * DAY
    call(
        "PATCH",
        f"/api/v4/maintenances/{m['id']}/events/{event['id']}",
        body={"start_date_time": far, "end_date_time": far + 600},
    )
    items = feed(call).json["events"]
    assert [e["event_start_date_time"] for e in items] == [far]
