"""GET /api/v4/maintenances/calendar.ics, through the handler.

The feed is parsed back with `icalendar` (the library that writes it) and every field of
every VEVENT compared with what the JSON API says of the same event; once more with
`vobject`, an independent parser, so a mistake both the writer and its own parser share
cannot pass unnoticed.
"""

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import icalendar
import pytest
import vobject

from tests.conftest import NOW, Caller, valid_body

CALENDAR = "/api/v4/maintenances/calendar.ics"
CREATE = "/api/v4/maintenances"
SITE = "https://status.example.com"
DAY = 86400
# Commas, semicolons, backslashes and line breaks are escaped in iCalendar text; emoji and
# right-to-left text are multi-byte; the length makes the lines fold.
DESCRIPTION = (
    "Backup of db-1, db-2; expect slowdowns \\ retries.\nSecond line: ✓ 🚧 שלום "
    + "long text " * 20
)
WRITE_KEY_IN_QUERY = {
    "error": {
        "code": "FORBIDDEN",
        "message": "A write key must not be sent in the query string: use a read-only key as token",
    }
}


def instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def stamp(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).replace(microsecond=0)


def vevents(text: str) -> dict[str, Any]:
    """The calendar's VEVENTs by UID, parsed by icalendar."""
    calendar = icalendar.Calendar.from_ical(text)
    found = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert len(found) == text.count("BEGIN:VEVENT")
    return found


def get_calendar(call: Caller, **kwargs: Any) -> Any:
    response = call("GET", CALENDAR, **kwargs)
    assert response.status == 200, response
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return response


def events_of(call: Caller, maintenance_id: int) -> list[dict[str, Any]]:
    return call("GET", f"{CREATE}/{maintenance_id}/events").json["events"]


@pytest.fixture
def scene(call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Three maintenances: one with a moved, a cancelled and a plain event; one paused after
    its events were made; one without description or monitors. Times in the future."""
    monkeypatch.setenv("PUBLIC_SITE_URL", SITE + "/")
    backup = call(
        "POST",
        CREATE,
        body=valid_body(
            title="Weekly, Database; Backup ✓",
            description=DESCRIPTION,
            start_date_time=NOW + 3600,
            timezone="Europe/Berlin",
            rrule="FREQ=DAILY;COUNT=4",
            monitors=[
                {"monitor_tag": "database", "impact": "DEGRADED"},
                {"monitor_tag": "api"},
            ],
        ),
    ).json["maintenance"]
    first, second, third, _ = events_of(call, backup["id"])
    base = f"{CREATE}/{backup['id']}/events"
    move = {"start_date_time": NOW + 7200, "end_date_time": NOW + 9000}
    assert call("PATCH", f"{base}/{first['id']}", body=move).status == 200
    move = {"start_date_time": NOW + 7260, "end_date_time": NOW + 9060}
    assert call("PATCH", f"{base}/{first['id']}", body=move).status == 200  # moved twice
    assert call("PATCH", f"{base}/{second['id']}", body={"status": "CANCELLED"}).status == 200
    paused = call(
        "POST",
        CREATE,
        body=valid_body(
            title="Paused",
            start_date_time=NOW + DAY,
            rrule="FREQ=WEEKLY;COUNT=2",
            monitors=[{"monitor_tag": "web", "impact": "DOWN"}],
        ),
    ).json["maintenance"]
    patched = call("PATCH", f"{CREATE}/{paused['id']}", body={"status": "INACTIVE"})
    assert patched.status == 200
    plain = call(
        "POST", CREATE, body=valid_body(start_date_time=NOW + 2 * DAY, rrule="FREQ=DAILY;COUNT=1")
    ).json["maintenance"]
    return {
        "backup": call("GET", f"{CREATE}/{backup['id']}").json["maintenance"],
        "paused": patched.json["maintenance"],
        "plain": plain,
        "moved": first["id"],
        "cancelled": second["id"],
        "untouched": third["id"],
    }


def expected_description(maintenance: dict[str, Any]) -> str | None:
    parts = [maintenance["description"]] if maintenance["description"] else []
    if maintenance["monitors"]:
        named = ", ".join(f"{m['monitor_tag']} ({m['impact']})" for m in maintenance["monitors"])
        parts.append(f"Monitors: {named}")
    return "\n\n".join(parts) or None


def test_every_field_round_trips_through_icalendar(call: Caller, scene: dict[str, Any]) -> None:
    response = get_calendar(call)
    calendar = icalendar.Calendar.from_ical(response.text)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["prodid"]) == "-//maintenance-windows//Kener v4 maintenance API//EN"
    assert str(calendar["calscale"]) == "GREGORIAN"
    assert str(calendar["x-wr-calname"]) == str(calendar["name"]) == "Maintenance windows"
    assert calendar.decoded("refresh-interval").total_seconds() == 3600
    assert response.text.count("\r\nX-PUBLISHED-TTL:PT1H\r\n") == 1
    assert "METHOD" not in calendar  # a published feed: DTSTAMP is the last revision
    found = vevents(response.text)

    # What the JSON API says, and what we did: the moved event twice (SEQUENCE 2), the
    # cancelled one once (1); the paused maintenance was patched once (revision 2: +1).
    sequences = {scene["moved"]: 2, scene["cancelled"]: 1, scene["untouched"]: 0}
    expected: dict[str, dict[str, Any]] = {}
    for name in ("backup", "paused", "plain"):
        maintenance = scene[name]
        for event in events_of(call, maintenance["id"]):
            paused = name == "paused"
            status = "TENTATIVE" if paused else "CONFIRMED"
            if event["status"] == "CANCELLED":
                status = "CANCELLED"
            expected[f"{maintenance['id']}-{event['id']}@status.example.com"] = {
                "summary": maintenance["title"],
                "description": expected_description(maintenance),
                "dtstart": instant(event["start_date_time"]),
                "dtend": instant(event["end_date_time"]),
                "status": status,
                "sequence": sequences.get(event["id"], 0) + (1 if paused else 0),
                "created": stamp(event["created_at"]),
                "last-modified": stamp(max(event["updated_at"], maintenance["updated_at"])),
                "url": f"{SITE}/maintenances/{event['id']}",
            }
    assert set(found) == set(expected)
    assert len(found) == 4 + 2 + 1
    for uid, want in expected.items():
        vevent = found[uid]
        properties = {"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "STATUS", "SEQUENCE"}
        properties |= {"CREATED", "LAST-MODIFIED", "TRANSP", "URL"}
        if want["description"] is not None:
            properties.add("DESCRIPTION")
        assert set(vevent) == properties, uid
        assert str(vevent["summary"]) == want["summary"]
        assert (str(vevent["description"]) if "DESCRIPTION" in vevent else None) == want[
            "description"
        ]
        assert vevent.decoded("dtstart") == want["dtstart"]
        assert vevent.decoded("dtend") == want["dtend"]
        assert vevent.decoded("dtstart").tzinfo is not None
        assert vevent.decoded("dtstart").utcoffset().total_seconds() == 0  # UTC
        assert str(vevent["status"]) == want["status"], uid
        assert int(vevent["sequence"]) == want["sequence"], uid
        assert vevent.decoded("created") == want["created"]
        assert vevent.decoded("last-modified") == want["last-modified"]
        assert vevent.decoded("dtstamp") == want["last-modified"]
        assert str(vevent["transp"]) == "TRANSPARENT"
        assert str(vevent["url"]) == want["url"]
    # The text itself: UTC forms, escaped text, folded lines of at most 75 octets.
    assert "DTSTART:" in response.text and "TZID" not in response.text
    assert "SUMMARY:Weekly\\, Database\\; Backup ✓\r\n" in response.text
    assert all(len(line.encode()) <= 75 for line in response.text.split("\r\n"))


def test_a_second_parser_reads_the_same_calendar(call: Caller, scene: dict[str, Any]) -> None:
    """vobject, which shares no code with icalendar, sees the same events."""
    text = get_calendar(call).text
    parsed = vobject.readOne(text)
    events = {e.uid.value: e for e in parsed.vevent_list}
    by_icalendar = vevents(text)
    assert set(events) == set(by_icalendar)
    for uid, event in events.items():
        mine = by_icalendar[uid]
        assert event.summary.value == str(mine["summary"])
        assert event.dtstart.value == mine.decoded("dtstart")
        assert event.dtend.value == mine.decoded("dtend")
        assert event.status.value == str(mine["status"])
        assert int(event.sequence.value) == int(mine["sequence"])
        assert event.url.value == str(mine["url"])
        assert event.last_modified.value == mine.decoded("last-modified")
    backup = scene["backup"]
    uid = f"{backup['id']}-{scene['untouched']}@status.example.com"
    assert events[uid].description.value == expected_description(backup)
    assert events[uid].description.value.startswith(DESCRIPTION)


def test_sequence_grows_when_the_event_is_moved(call: Caller, scene: dict[str, Any]) -> None:
    backup = scene["backup"]
    uid = f"{backup['id']}-{scene['untouched']}@status.example.com"
    path = f"{CREATE}/{backup['id']}/events/{scene['untouched']}"

    def sequence() -> int:
        return int(vevents(get_calendar(call).text)[uid]["sequence"])

    assert sequence() == 0
    call("PATCH", path, body={"start_date_time": NOW + 5 * DAY, "end_date_time": NOW + 6 * DAY})
    assert sequence() == 1
    call("PATCH", path, body={"start_date_time": NOW + 5 * DAY, "end_date_time": NOW + 6 * DAY})
    assert sequence() == 1  # the same times again: nothing a calendar shows changed
    call("PATCH", path, body={"start_date_time": NOW + 5 * DAY, "end_date_time": NOW + 7 * DAY})
    assert sequence() == 2  # the end alone
    call("PATCH", f"{CREATE}/{backup['id']}", body={"title": "Renamed"})
    assert sequence() == 3  # SUMMARY changed with the maintenance's revision
    call("PATCH", path, body={"status": "CANCELLED"})
    assert sequence() == 4
    assert str(vevents(get_calendar(call).text)[uid]["status"]) == "CANCELLED"


def test_the_scheduler_ending_a_paused_window_counts_too(
    call: Caller, scene: dict[str, Any], clock: Any
) -> None:
    """The counter is kept by every write that moves, shortens or cancels an event: a paused
    maintenance's window passing (CANCELLED by the tick) grows its SEQUENCE as a PATCH would."""
    from tests.conftest import LambdaContext, load_function

    paused = scene["paused"]
    first = events_of(call, paused["id"])[0]
    uid = f"{paused['id']}-{first['id']}@status.example.com"
    before = int(vevents(get_calendar(call).text)[uid]["sequence"])
    clock(first["end_date_time"] + 60)
    tick = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    load_function("scheduler").lambda_handler(tick, LambdaContext())
    after = vevents(get_calendar(call).text)[uid]
    assert (str(after["status"]), int(after["sequence"])) == ("CANCELLED", before + 1)


def test_monitors_keeps_maintenances_naming_any_tag(call: Caller, scene: dict[str, Any]) -> None:
    def ids(query: dict[str, str]) -> set[int]:
        text = get_calendar(call, query=query).text
        return {int(uid.split("-")[0]) for uid in vevents(text)}

    backup, paused, plain = (scene[n]["id"] for n in ("backup", "paused", "plain"))
    assert ids({}) == ids({"monitors": " , "}) == {backup, paused, plain}
    assert ids({"monitors": "api"}) == {backup}
    assert ids({"monitors": " web , database "}) == {backup, paused}
    assert ids({"monitors": "nobody"}) == set()
    named = icalendar.Calendar.from_ical(get_calendar(call, query={"monitors": "web,api"}).text)
    assert str(named["x-wr-calname"]) == "Maintenance windows: api, web"


def test_an_empty_calendar(call: Caller, clock: Any) -> None:
    response = get_calendar(call)
    assert response.text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert response.text.endswith("END:VCALENDAR\r\n")
    assert vevents(response.text) == {}


def test_the_window_is_30_days_back_to_what_is_materialised_ahead(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored events whose window ended less than 30 days ago, and every one ahead."""
    monkeypatch.setenv("EVENT_HORIZON_DAYS", "10")
    daily = call(
        "POST",
        CREATE,
        body=valid_body(start_date_time=NOW, rrule="FREQ=DAILY", duration_seconds=3600),
    ).json["maintenance"]
    starts = sorted(e["start_date_time"] for e in events_of(call, daily["id"]))
    assert len(starts) == 10  # today's and the next nine: the horizon
    # A long window that started 40 days before the later clock and is still running.
    long = call(
        "POST",
        CREATE,
        body=valid_body(
            start_date_time=NOW + 3600, rrule="FREQ=YEARLY;COUNT=1", duration_seconds=50 * DAY
        ),
    ).json["maintenance"]
    later = NOW + 40 * DAY + 1800  # 30 days before: NOW + 10 days + 1800 s
    clock(later)
    found = vevents(get_calendar(call).text)
    shown = sorted(
        int(v.decoded("dtstart").timestamp())
        for uid, v in found.items()
        if uid.startswith(f"{daily['id']}-")
    )
    # Windows [s, s + 3600): those ending after later - 30 days. The last stored one
    # (NOW + 9 days) ended long ago; so did every other: none is shown.
    assert shown == [s for s in starts if s + 3600 > later - 30 * DAY] == []
    assert [uid.split("@")[0] for uid in found] == [
        f"{long['id']}-{events_of(call, long['id'])[0]['id']}"
    ]
    clock(NOW + 35 * DAY)  # now the last five ended less than 30 days ago
    found = vevents(get_calendar(call).text)
    assert (
        sorted(
            int(v.decoded("dtstart").timestamp())
            for u, v in found.items()
            if u.startswith(f"{daily['id']}-")
        )
        == starts[5:]
    )


def test_past_the_cap_upcoming_windows_come_first(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.resources import calendar

    hourly = call(
        "POST",
        CREATE,
        body=valid_body(start_date_time=NOW, rrule="FREQ=HOURLY;COUNT=10", duration_seconds=600),
    ).json["maintenance"]
    starts = sorted(e["start_date_time"] for e in events_of(call, hourly["id"]))
    clock(NOW + 4 * 3600 + 300)  # the first four ended, the fifth is running
    monkeypatch.setattr(calendar, "MAX_CALENDAR_EVENTS", 8)
    shown = sorted(
        int(v.decoded("dtstart").timestamp()) for v in vevents(get_calendar(call).text).values()
    )
    # All six not yet ended (the running one included), then the two most recently ended.
    assert shown == starts[2:]


def test_etag_and_if_none_match(call: Caller, scene: dict[str, Any]) -> None:
    first = get_calendar(call)
    tag = first.headers["etag"]
    again = call("GET", CALENDAR, headers={"If-None-Match": tag})
    assert (again.status, again.text, again.headers["etag"]) == (304, "", tag)
    assert "content-type" not in again.headers
    assert get_calendar(call).text == first.text  # deterministic: the tag holds
    call("PATCH", f"{CREATE}/{scene['plain']['id']}", body={"title": "Changed"})
    changed = call("GET", CALENDAR, headers={"If-None-Match": tag})
    assert changed.status == 200 and changed.headers["etag"] != tag
    assert "SUMMARY:Changed\r\n" in changed.text


def test_gzip_when_accepted(call: Caller, scene: dict[str, Any]) -> None:
    plain = get_calendar(call)
    zipped = call("GET", CALENDAR, headers={"Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.raw["isBase64Encoded"] is True
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] == plain.headers["etag"]
    assert gzip.decompress(base64.b64decode(zipped.raw["body"])).decode() == plain.text


def test_uid_host_is_the_site_or_else_the_api_domain(
    call: Caller, scene: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_site = vevents(get_calendar(call, headers={"Host": "api.example.net"}).text)
    assert all(uid.endswith("@status.example.com") for uid in with_site)
    monkeypatch.delenv("PUBLIC_SITE_URL")
    text = get_calendar(call, headers={"Host": "api.example.net"}).text
    without_site = vevents(text)
    assert {u.split("@")[0] for u in without_site} == {u.split("@")[0] for u in with_site}
    assert all(uid.endswith("@api.example.net") for uid in without_site)
    assert "URL:" not in text  # no site, no link


class TestQueryToken:
    """Calendar apps cannot send headers: a read-only key may come as `?token=`."""

    def test_a_read_only_key_as_token(self, call: Caller, read_key: str, clock: Any) -> None:
        assert get_calendar(call, key=None, query={"token": read_key}).text.startswith(
            "BEGIN:VCALENDAR"
        )

    def test_a_write_key_as_token_is_a_403(self, call: Caller, write_key: str) -> None:
        response = call("GET", CALENDAR, key=None, query={"token": write_key})
        assert (response.status, response.json) == (403, WRITE_KEY_IN_QUERY)
        # Even beside a valid header: the token is the credential, and it must not be a
        # write key, so none stays in a calendar URL.
        beside = call("GET", CALENDAR, query={"token": write_key})
        assert (beside.status, beside.json) == (403, WRITE_KEY_IN_QUERY)

    @pytest.mark.parametrize("token", ["kener_" + "f" * 64, "not-a-key", "kener_" + "F" * 64])
    def test_an_unknown_or_malformed_token_is_a_401(self, call: Caller, token: str) -> None:
        response = call("GET", CALENDAR, query={"token": token})  # a valid header is not read
        assert response.status == 401
        assert response.json == {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}

    def test_a_revoked_read_key_is_a_401(self, call: Caller, store: Any) -> None:
        from maintsvc.edge import apikeys

        key = apikeys.create_api_key(store, "calendar", read_only=True)
        apikeys.revoke_api_key(store, "calendar")
        response = call("GET", CALENDAR, key=None, query={"token": key})
        assert response.status == 401
        assert response.json == {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}

    def test_an_empty_token_counts_as_absent(self, call: Caller, clock: Any) -> None:
        assert get_calendar(call, query={"token": ""}).status == 200  # the header's key
        response = call("GET", CALENDAR, key=None, query={"token": ""})
        assert response.status == 401
        assert response.json == {
            "error": {"code": "UNAUTHORIZED", "message": "Missing or invalid authorization header"}
        }

    def test_header_keys_work_as_on_every_get(
        self, call: Caller, read_key: str, clock: Any
    ) -> None:
        assert get_calendar(call, key=read_key).status == 200
        assert get_calendar(call).status == 200  # a write key in the header is fine


def test_the_largest_maintenances_make_a_400_naming_monitors(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past Lambda's limit only with the largest descriptions on hundreds of events: then a
    400 that says what to ask for, never a 5xx, and the filtered calendar still answers."""
    monkeypatch.setenv("MAX_FUTURE_EVENTS", "120")  # ~4.9 MB of text: 6.6 MB as base64
    huge = valid_body(
        title="🚧" * 255,
        description="🚧" * 10_000,
        rrule="FREQ=HOURLY",
        monitors=[{"monitor_tag": "big"}],
    )
    assert call("POST", CREATE, body=huge).status == 201
    call("POST", CREATE, body=valid_body(monitors=[{"monitor_tag": "small"}]))
    response = call("GET", CALENDAR)
    assert response.status == 400
    assert response.json == {
        "error": {
            "code": "BAD_REQUEST",
            "message": "The calendar is too large for one response: "
            "filter it with the monitors query parameter",
        }
    }
    assert len(vevents(get_calendar(call, query={"monitors": "small"}).text)) == 1


def test_a_thousand_typical_events_fit_with_room_to_spare() -> None:
    """The bound: MAX_CALENDAR_EVENTS events of a 97-character title, a 468-character
    description and three monitors are 1.06 MB of text, 1.4 MB as the payload Lambda returns
    (base64, measured as the edge measures every answer, without gzip): under a quarter of
    its limit."""
    from maintsvc.edge.http import CALENDAR as CONTENT_TYPE
    from maintsvc.edge.http import encoded_response, payload_bytes
    from maintsvc.edge.payloads import MAX_PAYLOAD_BYTES
    from maintsvc.resources import calendar

    maintenance = {
        "id": 12345,
        "title": "Database cluster maintenance window: " + "x" * 60,
        "description": "Ä longer note for the people affected; " * 12,
        "status": "ACTIVE",
        "revision": 7,
        "updated_at": "2030-01-01T00:00:00.000Z",
        "monitors": [
            {"monitor_tag": f"service-{n}.eu-west-1", "impact": "MAINTENANCE"} for n in range(3)
        ],
    }
    entries = [
        (
            {
                "id": 1_000_000 + n,
                "maintenance_id": 12345,
                "start_date_time": NOW + n * 3600,
                "end_date_time": NOW + n * 3600 + 1800,
                "status": "SCHEDULED",
                "sequence": 3,
                "created_at": "2030-01-01T00:00:00.000Z",
                "updated_at": "2030-01-02T00:00:00.000Z",
            },
            maintenance,
        )
        for n in range(calendar.MAX_CALENDAR_EVENTS)
    ]
    text = calendar.render_calendar(entries, "status.example.com", SITE, None)
    size = payload_bytes(encoded_response(200, text.encode(), CONTENT_TYPE))
    assert text.count("BEGIN:VEVENT") == 1000
    assert size < MAX_PAYLOAD_BYTES / 4, size


def test_cost_is_the_listing_and_one_query_per_maintenance(
    call: Caller, scene: dict[str, Any], trips: Any
) -> None:
    with trips() as calls:
        get_calendar(call)
    assert dict(calls) == {"Query": 1 + 3}
