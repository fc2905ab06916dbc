"""docs/behaviour.md §3: the maintenance resource over HTTP API v2 events, against moto."""

import re
from typing import Any

import pytest

from tests.conftest import Caller, valid_body

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def bad_request(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message}}


def not_found(raw_id: str) -> dict[str, Any]:
    return {"error": {"code": "NOT_FOUND", "message": f"Maintenance with id '{raw_id}' not found"}}


def create(call: Caller, **overrides: Any) -> dict[str, Any]:
    response = call("POST", "/api/v4/maintenances", body=valid_body(**overrides))
    assert response.status == 201, response
    maintenance: dict[str, Any] = response.json["maintenance"]
    return maintenance


def test_create_returns_the_full_resource(call: Caller) -> None:
    response = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(
            title="  Nightly Deploy  ",
            start_date_time=1_900_000_059.9,
            rrule="RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=0",
            duration_seconds=1800.0,
            monitors=[{"monitor_tag": "api-gateway"}, {"monitor_tag": "db", "impact": "DOWN"}],
            description="",
            unknown_field="ignored",
        ),
    )
    assert response.status == 201
    body = response.json["maintenance"]
    assert set(body) == {
        "id", "title", "description", "start_date_time", "timezone", "rrule",
        "duration_seconds", "status", "monitors", "created_at", "updated_at",
    }  # fmt: skip
    assert body["id"] == 1
    assert body["title"] == "Nightly Deploy"
    assert body["description"] is None
    assert body["start_date_time"] == 1_900_000_020  # 1_900_000_059.9 truncated
    assert body["timezone"] == "UTC"
    assert body["rrule"] == "FREQ=DAILY;BYHOUR=2;BYMINUTE=0"
    assert body["duration_seconds"] == 1800
    assert body["status"] == "ACTIVE"
    assert body["monitors"] == [
        {"monitor_tag": "api-gateway", "impact": "MAINTENANCE"},
        {"monitor_tag": "db", "impact": "DOWN"},
    ]
    assert ISO.fullmatch(body["created_at"]) and body["created_at"] == body["updated_at"]


def test_ids_increase_and_are_never_reused(call: Caller) -> None:
    first = create(call)
    second = create(call)
    assert second["id"] == first["id"] + 1
    assert call("DELETE", f"/api/v4/maintenances/{second['id']}").status == 200
    assert create(call)["id"] == second["id"] + 1


def test_get_returns_what_create_returned(call: Caller) -> None:
    created = create(call, description="Expect slowdowns", timezone="Europe/Berlin")
    response = call("GET", f"/api/v4/maintenances/{created['id']}")
    assert response.status == 200
    assert response.json == {"maintenance": created}


@pytest.mark.parametrize("raw_id", ["999", "abc", "0", "-1", "1.5", "01x"])
def test_unknown_or_malformed_id_is_404(call: Caller, raw_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = call(method, f"/api/v4/maintenances/{raw_id}", body={})
        assert response.status == 404
        assert response.json == not_found(raw_id)


# -- validation: the first failing field, in §3's order, with its exact message ----------

REQUIRED_CASES: list[tuple[dict[str, Any], str]] = [
    ({"title": None}, "title is required and must be a non-empty string"),
    ({"title": "   "}, "title is required and must be a non-empty string"),
    ({"title": 5}, "title is required and must be a non-empty string"),
    ({"title": "x" * 256}, "title must be at most 255 characters"),
    ({"start_date_time": None}, "start_date_time is required"),
    ({"start_date_time": "1900000000"}, "start_date_time must be a valid timestamp (UTC seconds)"),
    ({"start_date_time": True}, "start_date_time must be a valid timestamp (UTC seconds)"),
    ({"start_date_time": -1}, "start_date_time must be a valid timestamp (UTC seconds)"),
    ({"start_date_time": 253402300800}, "start_date_time must be a valid timestamp (UTC seconds)"),
    ({"timezone": "Mars/Base"}, "timezone must be a valid IANA time zone name"),
    ({"timezone": None}, "timezone must be a valid IANA time zone name"),
    ({"timezone": ""}, "timezone must be a valid IANA time zone name"),
    ({"rrule": None}, "rrule is required and must be a non-empty string"),
    ({"rrule": "  "}, "rrule is required and must be a non-empty string"),
    ({"rrule": 7}, "rrule is required and must be a non-empty string"),
    ({"duration_seconds": None}, "duration_seconds is required"),
    ({"duration_seconds": 0}, "duration_seconds must be a positive number"),
    ({"duration_seconds": -5}, "duration_seconds must be a positive number"),
    ({"duration_seconds": 1.5}, "duration_seconds must be a positive number"),
    ({"duration_seconds": "60"}, "duration_seconds must be a positive number"),
    ({"duration_seconds": False}, "duration_seconds must be a positive number"),
    ({"duration_seconds": 31536001}, "duration_seconds must be at most 31536000"),
    ({"status": "active"}, "status must be 'ACTIVE' or 'INACTIVE'"),
    ({"status": None}, "status must be 'ACTIVE' or 'INACTIVE'"),
    ({"description": 5}, "description must be a string or null"),
    ({"description": "x" * 10001}, "description must be at most 10000 characters"),
    ({"monitors": {}}, "monitors must be an array"),
    ({"monitors": None}, "monitors must be an array"),
    (
        {"monitors": [{"monitor_tag": f"m{i}"} for i in range(101)]},
        "monitors must contain at most 100 items",
    ),
    ({"monitors": ["db"]}, "Each monitor must have a valid monitor_tag"),
    ({"monitors": [{"impact": "UP"}]}, "Each monitor must have a valid monitor_tag"),
    ({"monitors": [{"monitor_tag": "a,b"}]}, "Each monitor must have a valid monitor_tag"),
    ({"monitors": [{"monitor_tag": "has space"}]}, "Each monitor must have a valid monitor_tag"),
    ({"monitors": [{"monitor_tag": "-lead"}]}, "Each monitor must have a valid monitor_tag"),
    ({"monitors": [{"monitor_tag": "db"}, {"monitor_tag": "db"}]}, "Duplicate monitor_tag 'db'"),
    (
        {"monitors": [{"monitor_tag": "db", "impact": "down"}]},
        "Invalid impact 'down'. Must be one of: UP, DOWN, DEGRADED, MAINTENANCE",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), REQUIRED_CASES)
def test_create_validation_messages(call: Caller, overrides: dict[str, Any], message: str) -> None:
    response = call("POST", "/api/v4/maintenances", body=valid_body(**overrides))
    assert response.status == 400
    assert response.json == bad_request(message)


@pytest.mark.parametrize("field", ["title", "start_date_time", "rrule", "duration_seconds"])
def test_missing_required_fields(call: Caller, field: str) -> None:
    body = valid_body()
    del body[field]
    response = call("POST", "/api/v4/maintenances", body=body)
    assert response.status == 400
    assert response.json["error"]["message"].startswith(field)
    assert "required" in response.json["error"]["message"]


def test_first_failing_field_wins(call: Caller) -> None:
    body = {"title": "ok", "duration_seconds": 0, "rrule": "", "monitors": 3}
    response = call("POST", "/api/v4/maintenances", body=body)
    assert response.json == bad_request("start_date_time is required")


def test_monitor_items_are_checked_fully_in_order(call: Caller) -> None:
    monitors = [{"monitor_tag": "a", "impact": "BAD"}, {"monitor_tag": "a"}]
    response = call("POST", "/api/v4/maintenances", body=valid_body(monitors=monitors))
    assert response.json == bad_request(
        "Invalid impact 'BAD'. Must be one of: UP, DOWN, DEGRADED, MAINTENANCE"
    )


@pytest.mark.parametrize(
    "rrule",
    [
        "NOT A RULE",
        "BYDAY=MO",
        "FREQ=SECONDLY",
        "FREQ=DAILY;BYSECOND=5",
        "FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z",
        "DTSTART=20260101T000000Z;FREQ=DAILY",
        "FREQ=DAILY;DURATION=PT1H",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    ],
)
def test_bad_rrules_are_400(call: Caller, rrule: str) -> None:
    response = call("POST", "/api/v4/maintenances", body=valid_body(rrule=rrule))
    assert response.status == 400
    assert response.json["error"]["message"].startswith(
        "rrule is not a valid iCalendar RRULE string"
    )


# -- listing ----------------------------------------------------------------------------


def test_list_is_id_descending_with_filters(call: Caller) -> None:
    a = create(call, monitors=[{"monitor_tag": "db"}])
    b = create(call, status="INACTIVE", monitors=[{"monitor_tag": "db"}, {"monitor_tag": "web"}])
    c = create(call)
    listed = call("GET", "/api/v4/maintenances").json["maintenances"]
    assert [m["id"] for m in listed] == [c["id"], b["id"], a["id"]]
    assert listed[0] == c

    def ids(query: dict[str, str]) -> list[int]:
        response = call("GET", "/api/v4/maintenances", query=query)
        assert response.status == 200
        return [m["id"] for m in response.json["maintenances"]]

    assert ids({"status": "ACTIVE"}) == [c["id"], a["id"]]
    assert ids({"status": "INACTIVE"}) == [b["id"]]
    assert ids({"monitor_tag": "db"}) == [b["id"], a["id"]]
    assert ids({"monitor_tag": "web", "status": "ACTIVE"}) == []
    assert ids({"monitor_tag": "d"}) == []


def test_list_bad_status_is_400(call: Caller) -> None:
    response = call("GET", "/api/v4/maintenances", query={"status": "paused"})
    assert response.status == 400
    assert response.json == bad_request("status must be 'ACTIVE' or 'INACTIVE'")


# -- patch ------------------------------------------------------------------------------


def test_patch_is_partial_and_validated(call: Caller) -> None:
    created = create(call, monitors=[{"monitor_tag": "db"}])
    path = f"/api/v4/maintenances/{created['id']}"
    response = call("PATCH", path, body={"title": " Renamed ", "monitors": []})
    assert response.status == 200
    updated = response.json["maintenance"]
    assert updated["title"] == "Renamed"
    assert updated["monitors"] == []
    assert updated["rrule"] == created["rrule"]
    assert updated["updated_at"] >= created["updated_at"]
    assert call("GET", path).json == {"maintenance": updated}
    assert call("GET", "/api/v4/maintenances", query={"monitor_tag": "db"}).json == {
        "maintenances": []
    }


@pytest.mark.parametrize(("overrides", "message"), REQUIRED_CASES)
def test_patch_validation_messages(call: Caller, overrides: dict[str, Any], message: str) -> None:
    created = create(call)
    response = call("PATCH", f"/api/v4/maintenances/{created['id']}", body=overrides)
    assert response.status == 400
    assert response.json == bad_request(message)


def test_empty_patch_changes_nothing(call: Caller) -> None:
    created = create(call)
    path = f"/api/v4/maintenances/{created['id']}"
    assert call("PATCH", path, body={}).json == {"maintenance": created}
    same = {"title": created["title"], "duration_seconds": created["duration_seconds"]}
    assert call("PATCH", path, body=same).json == {"maintenance": created}


def test_patch_start_rechecks_the_stored_rule(call: Caller) -> None:
    created = create(call, rrule="FREQ=DAILY;UNTIL=20310101T000000Z")
    response = call(
        "PATCH", f"/api/v4/maintenances/{created['id']}", body={"start_date_time": 1_990_000_000}
    )
    assert response.status == 400
    assert response.json["error"]["message"].startswith("rrule is not a valid")


def test_patch_bad_json_is_400(call: Caller) -> None:
    created = create(call)
    response = call("PATCH", f"/api/v4/maintenances/{created['id']}", raw_body="[")
    assert response.json == bad_request("Invalid JSON body")


# -- delete -----------------------------------------------------------------------------


def test_delete_removes_every_item(call: Caller, store: Any) -> None:
    import time

    created = create(
        call,
        start_date_time=int(time.time()) // 60 * 60 + 600,
        rrule="FREQ=DAILY;COUNT=5",
        monitors=[{"monitor_tag": "db"}],
    )
    pk = f"M#{created['id']}"
    assert len(store.query("PK = :pk", {":pk": pk})) == 11  # META + 5 events + 5 markers
    response = call("DELETE", f"/api/v4/maintenances/{created['id']}")
    assert response.status == 200
    assert response.json == {
        "message": f"Maintenance with id '{created['id']}' deleted successfully"
    }
    # Only the notification tombstone (title and monitors, expiring by TTL) is left.
    assert [(i["SK"], i["monitors"]) for i in store.query("PK = :pk", {":pk": pk})] == [
        ("GONE", [{"monitor_tag": "db", "impact": "MAINTENANCE"}])
    ]
    assert call("GET", f"/api/v4/maintenances/{created['id']}").status == 404
    assert call("GET", "/api/v4/maintenances").json == {"maintenances": []}
    assert call("DELETE", f"/api/v4/maintenances/{created['id']}").json == not_found(
        str(created["id"])
    )
