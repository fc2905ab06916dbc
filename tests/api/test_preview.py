"""POST /api/v4/maintenances/preview: a create body's next windows, through the handler.

Exact bodies: the daylight-saving cases are worked out by hand from the zones' rules
(Europe/Berlin springs forward on 2030-03-31 at 02:00 CET, America/New_York falls back
on 2030-11-03 at 02:00 EDT), not from the code under test.
"""

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import NOW, Caller, valid_body

PREVIEW = "/api/v4/maintenances/preview"
CREATE = "/api/v4/maintenances"


def utc(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[misc]


def window(start: int, duration: int, local: str, offset: int, shift: bool) -> dict[str, Any]:
    return {
        "start_date_time": start,
        "end_date_time": start + duration,
        "local_start": local,
        "utc_offset_seconds": offset,
        "dst_shift": shift,
    }


def test_berlin_daily_0230_across_the_march_change(call: Caller, clock: Any) -> None:
    """02:30 does not exist on 2030-03-31 in Berlin: that window is moved later by the gap
    (03:30 CEST, the same instant as 02:30 CET would be) and shows the new offset."""
    clock(utc(2030, 3, 29, 12, 0))
    body = valid_body(
        start_date_time=utc(2030, 3, 27, 23, 0),  # 2030-03-28 00:00 in Berlin
        timezone="Europe/Berlin",
        rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
        duration_seconds=1800,
        count=4,
    )
    response = call("POST", PREVIEW, body=body)
    assert response.status == 200
    assert response.json == {
        "occurrences": [
            window(utc(2030, 3, 30, 1, 30), 1800, "2030-03-30T02:30:00+01:00", 3600, False),
            window(utc(2030, 3, 31, 1, 30), 1800, "2030-03-31T03:30:00+02:00", 7200, True),
            window(utc(2030, 4, 1, 0, 30), 1800, "2030-04-01T02:30:00+02:00", 7200, False),
            window(utc(2030, 4, 2, 0, 30), 1800, "2030-04-02T02:30:00+02:00", 7200, False),
        ],
        "truncated": True,
    }


def test_new_york_daily_0130_across_the_november_change(call: Caller, clock: Any) -> None:
    """01:30 happens twice on 2030-11-03 in New York: the window is the first (EDT); the next
    day's is an hour later in UTC, and the first with the new offset."""
    clock(utc(2030, 11, 1, 12, 0))
    body = valid_body(
        start_date_time=utc(2030, 10, 1, 4, 0),  # 2030-10-01 00:00 EDT
        timezone="America/New_York",
        rrule="FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
        duration_seconds=3600,
        count=3,
    )
    response = call("POST", PREVIEW, body=body)
    assert response.status == 200
    assert response.json == {
        "occurrences": [
            window(utc(2030, 11, 2, 5, 30), 3600, "2030-11-02T01:30:00-04:00", -14400, False),
            window(utc(2030, 11, 3, 5, 30), 3600, "2030-11-03T01:30:00-04:00", -14400, False),
            window(utc(2030, 11, 4, 6, 30), 3600, "2030-11-04T01:30:00-05:00", -18000, True),
        ],
        "truncated": True,
    }


def test_a_weekly_utc_rule_never_shifts_and_a_count_rule_ends(call: Caller, clock: Any) -> None:
    """From start_date_time when it is later than now; `truncated` false once the rule has
    nothing more; UTC has no daylight-saving changes. Default count 10 is more than 3."""
    start = NOW + 7 * 86400
    response = call(
        "POST", PREVIEW, body=valid_body(start_date_time=start, rrule="FREQ=WEEKLY;COUNT=3")
    )
    assert response.status == 200
    assert response.json == {
        "occurrences": [
            window(start + week * 7 * 86400, 1800, local, 0, False)
            for week, local in enumerate(
                [
                    "2030-03-24T17:00:00+00:00",
                    "2030-03-31T17:00:00+00:00",
                    "2030-04-07T17:00:00+00:00",
                ]
            )
        ],
        "truncated": False,
    }
    assert start == utc(2030, 3, 24, 17, 0)


def test_a_window_in_progress_comes_first(call: Caller, clock: Any) -> None:
    """What a create would make: the window running now (created ONGOING) is listed."""
    body = valid_body(start_date_time=NOW - 600, rrule="FREQ=HOURLY", duration_seconds=1200)
    response = call("POST", PREVIEW, body={**body, "count": 2})
    assert response.status == 200
    assert [o["start_date_time"] for o in response.json["occurrences"]] == [NOW - 600, NOW + 3000]
    assert response.json["truncated"] is True


def test_count_defaults_to_ten_and_goes_to_a_hundred(call: Caller, clock: Any) -> None:
    daily = valid_body(rrule="FREQ=DAILY")
    assert len(call("POST", PREVIEW, body=daily).json["occurrences"]) == 10
    assert len(call("POST", PREVIEW, body={**daily, "count": None}).json["occurrences"]) == 10
    most = call("POST", PREVIEW, body={**daily, "count": 100.0})
    assert most.status == 200
    assert len(most.json["occurrences"]) == 100 and most.json["truncated"] is True
    one = call("POST", PREVIEW, body={**daily, "count": 1}).json
    assert len(one["occurrences"]) == 1 and one["truncated"] is True


@pytest.mark.parametrize("count", [0, 101, -1, 2.5, "5", True, [], {}, 1e309])
def test_a_bad_count_is_a_400_naming_it(call: Caller, count: Any) -> None:
    body = valid_body(rrule="FREQ=DAILY")
    raw = None
    if count == 1e309:  # a JSON number too large for a float: parsed as infinity
        raw = '{"title":"x","start_date_time":0,"rrule":"FREQ=DAILY","duration_seconds":60,"count":1e309}'
    response = call("POST", PREVIEW, body={**body, "count": count}, raw_body=raw)
    assert response.status == 400
    assert response.json == {
        "error": {"code": "BAD_REQUEST", "message": "count must be an integer from 1 to 100"}
    }


def test_the_create_fields_are_checked_before_count(call: Caller) -> None:
    response = call("POST", PREVIEW, body=valid_body(title=" ", count=0))
    assert response.status == 400
    assert response.json == {
        "error": {
            "code": "BAD_REQUEST",
            "message": "title is required and must be a non-empty string",
        }
    }


INVALID_CREATES: list[dict[str, Any]] = [
    valid_body(title="   "),
    valid_body(title="x" * 256),
    valid_body(title="bidi \u202e"),
    valid_body(start_date_time="1900000000"),
    valid_body(start_date_time=None),
    valid_body(timezone="Mars/Base"),
    valid_body(timezone=""),
    valid_body(rrule="FREQ=SECONDLY"),
    valid_body(rrule="FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z"),
    valid_body(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
    valid_body(duration_seconds=1.5),
    valid_body(duration_seconds=31536001),
    valid_body(status="active"),
    valid_body(description=5),
    valid_body(monitors={}),
    valid_body(monitors=[{"monitor_tag": "db"}, {"monitor_tag": "db"}]),
    valid_body(monitors=[{"monitor_tag": "db", "impact": "down"}]),
    {"start_date_time": 0},
]


@pytest.mark.parametrize("body", INVALID_CREATES, ids=range(len(INVALID_CREATES)))
def test_an_invalid_body_gets_exactly_the_create_400(call: Caller, body: dict[str, Any]) -> None:
    """Same status, same body, for the same first failing field: a body that previews is a
    body that creates."""
    created = call("POST", CREATE, body=body)
    previewed = call("POST", PREVIEW, body=body)
    assert created.status == 400, created
    assert (previewed.status, previewed.json) == (created.status, created.json)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{nope", "Invalid JSON body"),
        ("[1, 2]", "Request body must be a JSON object"),
        ("null", "Request body must be a JSON object"),
        ("", "Invalid JSON body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_the_create_400(
    call: Caller, raw: str, message: str
) -> None:
    created = call("POST", CREATE, raw_body=raw)
    previewed = call("POST", PREVIEW, raw_body=raw)
    expected = {"error": {"code": "BAD_REQUEST", "message": message}}
    assert (created.status, created.json) == (previewed.status, previewed.json) == (400, expected)


def test_read_only_keys_get_403(call: Caller, read_key: str) -> None:
    response = call("POST", PREVIEW, body=valid_body(), key=read_key)
    assert response.status == 403
    assert response.json == {"error": {"code": "FORBIDDEN", "message": "This API key is read-only"}}


def test_it_writes_nothing_not_even_an_idempotency_record(
    call: Caller, store: Any, trips: Any
) -> None:
    """No maintenance, no events, no id reserved, no Idempotency-Key record: the header is
    ignored (there is nothing to protect), and the table is never called."""
    from maintsvc.storage.store import from_item

    def items() -> list[dict[str, Any]]:
        raw = store._ddb.scan(TableName=store.table_name)["Items"]
        return sorted((from_item(i) for i in raw), key=lambda i: (i["PK"], i["SK"]))

    before = items()
    with trips() as calls:
        first = call("POST", PREVIEW, body=valid_body(), headers={"Idempotency-Key": "once"})
        again = call(
            "POST", PREVIEW, body=valid_body(title="Other"), headers={"Idempotency-Key": "once"}
        )
    assert (first.status, again.status) == (200, 200)
    assert "Idempotent-Replayed" not in (again.raw.get("headers") or {})
    assert sum(calls.values()) == 0
    assert items() == before
    assert call("GET", CREATE).json == {"maintenances": []}
