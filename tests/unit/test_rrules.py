"""maintsvc.rrules: RRULE validation, time zones, DST, bounded expansion."""

import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import DAILY, MINUTELY, MONTHLY, YEARLY, rrule, rrulestr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from maintsvc.errors import ValidationError
from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.rrules import metering, normalise_rrule, parse_schedule, validate_timezone

INVALID = "rrule is not a valid iCalendar RRULE string: "
NO_OCCURRENCE = INVALID + "it yields no occurrence within 10 years of start_date_time"
END = MAX_TIMESTAMP + 1
UNTIL_REASON = "UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS, optionally with Z)"
BYDAY_REASON = "BYDAY values must be weekdays such as MO, 1MO or -1FR (1 to 53)"


def utc(text: str) -> int:
    """'2026-03-29T01:30' read as UTC, in seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def local(text: str, zone: str) -> int:
    """A wall-clock time in a zone (fold=0), in UTC seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")


def isos(stamps: list[int]) -> list[str]:
    return [iso(t) for t in stamps]


def wall(ts: int, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


# -- normalise_rrule --------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", "\n\t", 5, b"FREQ=DAILY", ["FREQ=DAILY"]])
def test_missing_or_non_string_rule(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_rrule(value)
    assert str(caught.value) == "rrule is required and must be a non-empty string"
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("  FREQ=DAILY;BYHOUR=2  ", "FREQ=DAILY;BYHOUR=2"),
        ("RRULE:FREQ=WEEKLY;BYDAY=SU", "FREQ=WEEKLY;BYDAY=SU"),
        ("rrule:FREQ=WEEKLY", "FREQ=WEEKLY"),
        (" RrUlE: FREQ=WEEKLY ", "FREQ=WEEKLY"),
        ("byhour=3;freq=daily;ByMinute=5", "byhour=3;freq=daily;ByMinute=5"),
        ("FREQ=MONTHLY;BYDAY=+1MO,-1fr;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=+1MO,-1fr;BYSETPOS=-1"),
    ],
)
def test_normalise_strips_and_keeps_the_text(value: str, expected: str) -> None:
    assert normalise_rrule(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "FREQ=YEARLY",
        "FREQ=MINUTELY;INTERVAL=15",
        "FREQ=HOURLY;BYMINUTE=0,30",
        "FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0",
        "FREQ=DAILY;BYSECOND=00",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;WKST=SU",
        "FREQ=MONTHLY;BYDAY=2TU",
        "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        "FREQ=YEARLY;BYYEARDAY=1,-1,+100",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",  # never occurs: parse_schedule says so
        "FREQ=MINUTELY;BYYEARDAY=366",
        "FREQ=DAILY;COUNT=10000",
        "FREQ=DAILY;INTERVAL=1000",
        "FREQ=DAILY;UNTIL=20301231",
        "FREQ=DAILY;UNTIL=20301231T235959",
        "FREQ=DAILY;UNTIL=20301231T235959Z",
        "FREQ=daily;until=20301231t235959z",
    ],
)
def test_valid_rules(value: str) -> None:
    assert normalise_rrule(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NOT A RULE", "unknown rule part"),
        ("RRULE:", "FREQ is required"),
        ("BYDAY=MO", "FREQ is required"),
        ("FREQ=DAILY;FOO=1", "unknown rule part 'FOO'"),
        ("FREQ=DAILY;BYEASTER=0", "unknown rule part 'BYEASTER'"),
        ("FREQ=DAILY;X-NAME=1", "unknown rule part 'X-NAME'"),
        ("FREQ=DAILY; BYHOUR=1", "unknown rule part"),
        ("FREQ=DAILY;BYHOUR=1;", "it has an empty rule part"),
        ("FREQ=DAILY;;BYHOUR=1", "it has an empty rule part"),
        ("FREQ=DAILY;INTERVAL", "INTERVAL has no value"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears more than once"),
        ("FREQ=DAILY;byhour=1;BYHOUR=2", "BYHOUR appears more than once"),
        ("DTSTART=20260101T000000Z;FREQ=DAILY", "DTSTART is not allowed in an RRULE"),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "DTSTART is not allowed in an RRULE"),
        ("FREQ=DAILY;DTEND=20260101T000000Z", "DTEND is not allowed in an RRULE"),
        ("FREQ=DAILY;DURATION=PT1H", "DURATION is not allowed in an RRULE"),
        ("FREQ=SECONDLY", "FREQ=SECONDLY is not supported"),
        ("FREQ=secondly;INTERVAL=30", "FREQ=SECONDLY is not supported"),
        ("FREQ=FORTNIGHTLY", "FREQ must be YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY"),
        ("FREQ=", "FREQ must be YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY"),
        ("FREQ=DAILY;BYSECOND=5", "BYSECOND must be 0 (schedules are in whole minutes)"),
        ("FREQ=DAILY;BYSECOND=0,30", "BYSECOND must be 0 (schedules are in whole minutes)"),
        ("FREQ=DAILY;BYSECOND=", "BYSECOND must be 0 (schedules are in whole minutes)"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z", "COUNT and UNTIL must not be used together"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a positive integer"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL must be a positive integer"),
        ("FREQ=DAILY;INTERVAL=1.5", "INTERVAL must be a positive integer"),
        ("FREQ=DAILY;INTERVAL=0000000000000000", "INTERVAL must be a positive integer"),
        ("FREQ=DAILY;INTERVAL=1001", "INTERVAL must be at most 1000"),
        ("FREQ=DAILY;INTERVAL=1000000", "INTERVAL must be at most 1000"),
        ("FREQ=DAILY;INTERVAL=" + "9" * 500, "INTERVAL must be at most 1000"),
        ("FREQ=DAILY;BYHOUR=" + ",1" * 2100, "it is longer than 4096 characters"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be a positive integer"),
        ("FREQ=DAILY;COUNT=10001", "COUNT must be at most 10000"),
        ("FREQ=MINUTELY;COUNT=1000000000", "COUNT must be at most 10000"),
        ("FREQ=DAILY;UNTIL=2026", UNTIL_REASON),
        ("FREQ=DAILY;UNTIL=20260230", UNTIL_REASON),
        ("FREQ=DAILY;UNTIL=20260101T240000", UNTIL_REASON),
        ("FREQ=DAILY;UNTIL=20260101T235960Z", UNTIL_REASON),
        ("FREQ=DAILY;UNTIL=20260101Z", UNTIL_REASON),
        ("FREQ=DAILY;UNTIL=2026-01-01", UNTIL_REASON),
        ("FREQ=WEEKLY;WKST=XX", "WKST must be one of MO, TU, WE, TH, FR, SA, SU"),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE values must be integers from 0 to 59"),
        ("FREQ=DAILY;BYMINUTE=1,,2", "BYMINUTE values must be integers from 0 to 59"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR values must be integers from 0 to 23"),
        ("FREQ=DAILY;BYHOUR=+1", "BYHOUR values must be integers from 0 to 23"),
        ("FREQ=DAILY;BYHOUR=\u0661", "it may only contain ASCII characters"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH values must be integers from 1 to 12"),
        ("FREQ=YEARLY;BYMONTH=0", "BYMONTH values must be integers from 1 to 12"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=0",
            "BYMONTHDAY values must be integers from 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-32",
            "BYMONTHDAY values must be integers from 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=YEARLY;BYYEARDAY=367",
            "BYYEARDAY values must be integers from 1 to 366 or -366 to -1",
        ),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO values must be integers from 1 to 53 or -53 to -1"),
        (
            "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0",
            "BYSETPOS values must be integers from 1 to 366 or -366 to -1",
        ),
        ("FREQ=WEEKLY;BYDAY=XX", BYDAY_REASON),
        ("FREQ=MONTHLY;BYDAY=0MO", BYDAY_REASON),
        ("FREQ=MONTHLY;BYDAY=54MO", BYDAY_REASON),
        ("FREQ=MONTHLY;BYDAY=+MO", BYDAY_REASON),
        ("FREQ=MONTHLY;BYDAY=MONDAY", BYDAY_REASON),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO is only allowed with FREQ=YEARLY"),
        ("FREQ=DAILY;BYYEARDAY=1", "BYYEARDAY is not allowed with FREQ=MONTHLY, WEEKLY or DAILY"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY is not allowed with FREQ=WEEKLY"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY ordinals such as 1MO need FREQ=MONTHLY or FREQ=YEARLY"),
        (
            "FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO",
            "BYDAY ordinals such as 1MO are not allowed with BYWEEKNO",
        ),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs another BYxxx rule part"),
        ("FREQ=DAILY;COUNT=3;BYSETPOS=2", "BYSETPOS needs another BYxxx rule part"),
        ("FREQ=DAILY;BYHOUR=1;BYMINUTE=\u00e9", "it may only contain ASCII characters"),
    ],
)
def test_invalid_rules(value: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_rrule(value)
    assert str(caught.value) == INVALID + reason
    assert caught.value.status == 400
    # parse_schedule validates the same way.
    with pytest.raises(ValidationError) as again:
        parse_schedule(value, utc("2026-01-01T00:00"), "UTC")
    assert str(again.value) == str(caught.value)


def test_every_reason_is_the_whole_message() -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_rrule("FREQ=DAILY;INTERVAL=1001")
    assert str(caught.value) == INVALID + "INTERVAL must be at most 1000"
    assert caught.value.message == str(caught.value)


# -- validate_timezone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Etc/GMT+5", "EST5EDT"]
)
def test_valid_timezones(name: str) -> None:
    assert validate_timezone(name) == name


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        " ",
        5,
        b"UTC",
        ["UTC"],
        "../etc/passwd",
        "/etc/localtime",
        "localtime",
        "posixrules",
        "posix/Europe/Berlin",
        "right/UTC",
        "Europe",
        "Europe/",
        "Europe//Berlin",
        "europe/berlin",
        "Mars/Olympus_Mons",
        " UTC",
        "UTC ",
        "Europe/Berlin\x00",
        "a" * 300,
        "CET/../UTC",
    ],
)
def test_invalid_timezones(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_timezone(value)
    assert str(caught.value) == "timezone must be a valid IANA time zone name"
    assert caught.value.status == 400


def test_parse_schedule_checks_the_timezone() -> None:
    with pytest.raises(ValidationError, match=r"^timezone must be a valid IANA time zone name$"):
        parse_schedule("FREQ=DAILY", utc("2026-01-01T00:00"), "Nowhere/Land")


# -- expansion in UTC -------------------------------------------------------------------


def test_daily_in_utc() -> None:
    schedule = parse_schedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", utc("2026-01-01T00:00"), "UTC")
    assert schedule.first_occurrence() == utc("2026-01-01T02:30")
    got = schedule.occurrences_between(utc("2026-01-01T00:00"), utc("2026-01-04T02:30"), 10)
    assert isos(got) == ["2026-01-01T02:30", "2026-01-02T02:30", "2026-01-03T02:30"]
    # after_ts is inclusive, before_ts exclusive, limit caps.
    assert isos(
        schedule.occurrences_between(utc("2026-01-02T02:30"), utc("2026-01-04T02:31"), 2)
    ) == ["2026-01-02T02:30", "2026-01-03T02:30"]


def test_start_counts_when_the_rule_matches_it() -> None:
    schedule = parse_schedule("FREQ=DAILY", utc("2026-01-01T09:15"), "UTC")
    assert schedule.first_occurrence() == utc("2026-01-01T09:15")
    assert isos(schedule.occurrences_between(0, utc("2026-01-03T00:00"), 10)) == [
        "2026-01-01T09:15",
        "2026-01-02T09:15",
    ]


def test_start_not_matched_is_not_an_occurrence() -> None:
    # 2026-01-07 is a Wednesday: the first Monday comes after it.
    start = utc("2026-01-07T10:00")
    schedule = parse_schedule("FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0", start, "UTC")
    assert schedule.first_occurrence() == utc("2026-01-12T10:00")
    assert start not in schedule.occurrences_between(0, END, 5)
    # Same with a time: 09:00 on the start day is before the start.
    daily = parse_schedule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", start, "UTC")
    assert daily.first_occurrence() == utc("2026-01-08T09:00")


def test_weekly_in_utc_with_interval_and_wkst() -> None:
    start = utc("2026-01-07T08:00")  # a Wednesday
    schedule = parse_schedule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR", start, "UTC")
    assert isos(schedule.occurrences_between(start, utc("2026-02-01T00:00"), 10)) == [
        "2026-01-09T08:00",
        "2026-01-19T08:00",
        "2026-01-23T08:00",
    ]


def test_seconds_of_the_start_are_dropped_and_decimals_accepted() -> None:
    # A DynamoDB item holds numbers as Decimal.
    start: Any = Decimal(utc("2026-01-01T00:00") + 59)
    schedule = parse_schedule("FREQ=HOURLY", start, "UTC")
    assert schedule.start_ts == utc("2026-01-01T00:00")
    after: Any = Decimal(utc("2026-01-01T00:00"))
    limit: Any = Decimal(5)
    assert schedule.occurrences_between(after, after + 7200, limit) == [
        utc("2026-01-01T00:00"),
        utc("2026-01-01T01:00"),
    ]


def test_count_and_windows() -> None:
    schedule = parse_schedule("FREQ=DAILY;COUNT=3", utc("2026-01-01T06:00"), "UTC")
    assert isos(schedule.occurrences_between(0, END, 100)) == [
        "2026-01-01T06:00",
        "2026-01-02T06:00",
        "2026-01-03T06:00",
    ]
    assert schedule.occurrences_between(utc("2026-01-03T06:01"), END, 100) == []
    assert schedule.occurrences_between(0, END, 0) == []
    assert schedule.occurrences_between(utc("2026-01-02T00:00"), utc("2026-01-01T00:00"), 5) == []
    assert schedule.occurrences_between(0, utc("2026-01-01T06:00"), 5) == []


def test_bysetpos_and_ordinals() -> None:
    start = utc("2026-01-01T00:00")
    last_weekday = parse_schedule(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=22;BYMINUTE=0", start, "UTC"
    )
    assert isos(last_weekday.occurrences_between(start, utc("2026-06-01T00:00"), 10)) == [
        "2026-01-30T22:00",
        "2026-02-27T22:00",
        "2026-03-31T22:00",
        "2026-04-30T22:00",
        "2026-05-29T22:00",
    ]
    second_tuesday = parse_schedule("FREQ=MONTHLY;BYDAY=2TU;BYHOUR=3;BYMINUTE=0", start, "UTC")
    assert isos(second_tuesday.occurrences_between(start, utc("2026-04-01T00:00"), 10)) == [
        "2026-01-13T03:00",
        "2026-02-10T03:00",
        "2026-03-10T03:00",
    ]
    twice_a_day = parse_schedule("FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0,30;BYSETPOS=1,-1", start, "UTC")
    assert isos(twice_a_day.occurrences_between(start, utc("2026-01-02T12:00"), 10)) == [
        "2026-01-01T09:00",
        "2026-01-01T17:30",
        "2026-01-02T09:00",
    ]


def test_max_timestamp_is_the_end_of_time() -> None:
    start = utc("9999-12-31T22:00")
    schedule = parse_schedule("FREQ=MINUTELY;INTERVAL=30", start, "UTC")
    got = schedule.occurrences_between(0, END + 10_000, 100)
    assert isos(got) == [
        "9999-12-31T22:00",
        "9999-12-31T22:30",
        "9999-12-31T23:00",
        "9999-12-31T23:30",
    ]
    assert got[-1] <= MAX_TIMESTAMP
    with pytest.raises(ValidationError, match=f"^{re.escape(NO_OCCURRENCE)}$"):
        parse_schedule("FREQ=DAILY;BYHOUR=1", start, "UTC")
    # The start's wall time in Tokyo is in year 10000: nothing can be expanded.
    with pytest.raises(ValidationError, match=f"^{re.escape(NO_OCCURRENCE)}$"):
        parse_schedule("FREQ=DAILY", start, "Asia/Tokyo")


def test_far_window_matches_dateutil() -> None:
    """A window decades after the start begins dateutil at a later period: same answer."""
    start = utc("2026-01-07T08:20")
    for text in (
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR;BYHOUR=8,20;BYMINUTE=5",
        "FREQ=MONTHLY;INTERVAL=5;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2,-1",
        "FREQ=YEARLY;INTERVAL=3;BYWEEKNO=1,20,-1;BYDAY=MO,SU;WKST=SU",
        "FREQ=DAILY;INTERVAL=17;BYMONTH=2,3",
        "FREQ=HOURLY;INTERVAL=7;BYMINUTE=10,40",
        "FREQ=MINUTELY;INTERVAL=97;BYHOUR=3,4",
    ):
        schedule = parse_schedule(text, start, "UTC")
        after, before = utc("2071-06-01T00:00"), utc("2075-01-01T00:00")
        assert schedule.occurrences_between(after, before, 40) == brute_force(
            text, start, after, before, 40
        ), text


# -- DST ---------------------------------------------------------------------------------


def test_berlin_sunday_0200_across_both_dst_changes() -> None:
    zone = "Europe/Berlin"
    schedule = parse_schedule(
        "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", utc("2026-03-01T00:00"), zone
    )
    march = schedule.occurrences_between(utc("2026-03-20T00:00"), utc("2026-04-10T00:00"), 10)
    assert isos(march) == [
        "2026-03-22T01:00",  # 02:00 CET
        "2026-03-29T01:00",  # 02:00 does not exist: 03:00 CEST
        "2026-04-05T00:00",  # 02:00 CEST
    ]
    october = schedule.occurrences_between(utc("2026-10-15T00:00"), utc("2026-11-05T00:00"), 10)
    assert isos(october) == [
        "2026-10-18T00:00",  # 02:00 CEST
        "2026-10-25T00:00",  # 02:00 happens twice: the first, CEST
        "2026-11-01T01:00",  # 02:00 CET
    ]
    year = schedule.occurrences_between(utc("2026-03-01T00:00"), utc("2027-03-01T00:00"), 100)
    assert len(year) == 53
    assert {wall(t, zone)[11:] for t in year} == {"02:00", "03:00"}
    assert [wall(t, zone) for t in year if wall(t, zone)[11:] != "02:00"] == ["2026-03-29T03:00"]


def test_berlin_0230_on_the_spring_forward_day() -> None:
    schedule = parse_schedule(
        "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", utc("2026-03-27T00:00"), "Europe/Berlin"
    )
    got = schedule.occurrences_between(utc("2026-03-27T00:00"), utc("2026-03-31T00:00"), 10)
    assert isos(got) == [
        "2026-03-27T01:30",
        "2026-03-28T01:30",
        "2026-03-29T01:30",  # 03:30 CEST
        "2026-03-30T00:30",
    ]
    assert wall(got[2], "Europe/Berlin") == "2026-03-29T03:30"


def test_new_york_across_both_transitions() -> None:
    zone = "America/New_York"
    schedule = parse_schedule("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", utc("2026-03-01T00:00"), zone)
    spring = schedule.occurrences_between(utc("2026-03-07T00:00"), utc("2026-03-10T00:00"), 10)
    assert isos(spring) == ["2026-03-07T06:30", "2026-03-08T06:30", "2026-03-09T05:30"]
    fall = schedule.occurrences_between(utc("2026-10-31T00:00"), utc("2026-11-03T00:00"), 10)
    # 01:30 on 2026-11-01 happens twice: the first (EDT, 05:30 UTC) is taken.
    assert isos(fall) == ["2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"]
    assert fall[1] == local("2026-11-01T01:30", zone)

    gap = parse_schedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", utc("2026-03-01T00:00"), zone)
    got = gap.occurrences_between(utc("2026-03-07T00:00"), utc("2026-03-10T00:00"), 10)
    assert isos(got) == ["2026-03-07T07:30", "2026-03-08T07:30", "2026-03-09T06:30"]
    assert wall(got[1], zone) == "2026-03-08T03:30"


def test_wall_times_from_a_gap_are_sorted_and_unique() -> None:
    zone = "America/New_York"
    schedule = parse_schedule("FREQ=MINUTELY;INTERVAL=15", utc("2026-03-08T05:00"), zone)
    got = schedule.occurrences_between(utc("2026-03-08T06:30"), utc("2026-03-08T08:00"), 100)
    # 01:30 01:45 EST, then 02:00..02:45 (the gap: 03:00..03:45 EDT) and 03:00.. EDT again.
    assert isos(got) == [
        "2026-03-08T06:30",
        "2026-03-08T06:45",
        "2026-03-08T07:00",
        "2026-03-08T07:15",
        "2026-03-08T07:30",
        "2026-03-08T07:45",
    ]
    assert isos(schedule.occurrences_between(utc("2026-03-08T06:40"), END, 3)) == [
        "2026-03-08T06:45",
        "2026-03-08T07:00",
        "2026-03-08T07:15",
    ]


def test_a_24_hour_gap() -> None:
    # Samoa skipped 2011-12-30 entirely (UTC-10 to UTC+14).
    zone = "Pacific/Apia"
    schedule = parse_schedule("FREQ=DAILY;BYHOUR=12;BYMINUTE=0", utc("2011-12-27T00:00"), zone)
    got = schedule.occurrences_between(utc("2011-12-29T00:00"), utc("2012-01-01T12:00"), 10)
    assert [wall(t, zone) for t in got] == [
        "2011-12-29T12:00",
        "2011-12-31T12:00",  # 12:00 on the 30th does not exist: 24 h later, the same instant
        "2012-01-01T12:00",
    ]
    assert len(set(got)) == len(got)


def test_until_with_and_without_z() -> None:
    zone = "Europe/Berlin"
    start = utc("2026-01-01T00:00")
    rule = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;UNTIL="
    wall_until = parse_schedule(rule + "20260103T090000", start, zone)
    assert [wall(t, zone) for t in wall_until.occurrences_between(0, END, 10)] == [
        "2026-01-01T09:00",
        "2026-01-02T09:00",
        "2026-01-03T09:00",
    ]
    # 08:00Z is 09:00 CET: included; a second earlier it is not.
    assert (
        len(parse_schedule(rule + "20260103T080000Z", start, zone).occurrences_between(0, END, 10))
        == 3
    )
    assert (
        len(parse_schedule(rule + "20260103T075959Z", start, zone).occurrences_between(0, END, 10))
        == 2
    )
    # In summer the same wall time is 07:00Z.
    summer = parse_schedule(rule + "20260703T070000Z", utc("2026-07-01T00:00"), zone)
    assert isos(summer.occurrences_between(0, END, 10)) == [
        "2026-07-01T07:00",
        "2026-07-02T07:00",
        "2026-07-03T07:00",
    ]
    # A date alone is that day's midnight, wall clock (as dateutil reads it).
    assert len(parse_schedule(rule + "20260103", start, zone).occurrences_between(0, END, 10)) == 2
    with pytest.raises(ValidationError, match=f"^{re.escape(NO_OCCURRENCE)}$"):
        parse_schedule(rule + "20251231T235959Z", start, zone)


# -- rules that must not run away --------------------------------------------------------


RUNAWAYS = [
    "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31;BYHOUR=1",
    "FREQ=DAILY;BYSETPOS=2",
    "FREQ=DAILY;BYHOUR=1;BYSETPOS=2",
    "FREQ=DAILY;BYHOUR=1,2;BYSETPOS=-3,3",
    "FREQ=MINUTELY;BYYEARDAY=366",
    "FREQ=MINUTELY;BYYEARDAY=366;BYDAY=MO;BYHOUR=5",
    "FREQ=MINUTELY;COUNT=1000000000",
    "FREQ=MINUTELY;COUNT=10000",
    "FREQ=DAILY;INTERVAL=1000000",
    "FREQ=HOURLY;INTERVAL=2;BYHOUR=1",
    "FREQ=MINUTELY;INTERVAL=120;BYHOUR=1",
    "FREQ=MINUTELY;INTERVAL=7;BYHOUR=5;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
    "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=23;BYMINUTE=59",
    "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=5",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
    "FREQ=YEARLY;INTERVAL=400;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
    "FREQ=YEARLY;INTERVAL=1000",
    "FREQ=WEEKLY;INTERVAL=1000;BYDAY=MO",
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
    "FREQ=MONTHLY;BYDAY=MO,1TU",
    "FREQ=MONTHLY;BYDAY=6MO",
    "FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31;BYMONTH=1,2",
    "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO;BYMONTH=6",
    "FREQ=YEARLY;BYYEARDAY=-366;BYMONTH=12",
    "FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60))),
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + ",".join(map(str, range(1, 367))),
    "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30;BYSETPOS=" + ",".join(map(str, range(-366, 0))),
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60)))
    + ";BYSETPOS=1,1440,700",
    "FREQ=DAILY;UNTIL=20200101",
]


@pytest.mark.parametrize("text", RUNAWAYS)
@pytest.mark.parametrize(
    "start", ["2027-01-01T00:00", "2026-03-29T01:30", "1800-06-15T12:00", "9990-01-01T00:00"]
)
def test_runaway_rules_return_or_raise(text: str, start: str) -> None:
    try:
        schedule = parse_schedule(text, utc(start), "Europe/Berlin")
    except ValidationError as error:
        assert str(error).startswith(INVALID)
        return
    first = schedule.first_occurrence()
    assert first is not None
    assert first >= utc(start)
    for after, before, limit in (
        (0, END, 1),
        (utc("2026-06-01T00:00"), END, 3),
        (utc("2100-01-01T00:00"), utc("2300-01-01T00:00"), 50),
        (first + 1, END, 2),
    ):
        got = schedule.occurrences_between(after, before, limit)
        assert got == sorted(set(got))
        assert len(got) <= limit
        assert all(after <= t < before for t in got)


def test_a_far_first_occurrence_is_rejected() -> None:
    # Feb 29 on a Monday: 2044 after 2024, too far from 2027.
    with pytest.raises(ValidationError, match=f"^{re.escape(NO_OCCURRENCE)}$"):
        parse_schedule(
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", utc("2027-01-01T00:00"), "UTC"
        )
    schedule = parse_schedule(
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", utc("2035-01-01T00:00"), "UTC"
    )
    assert isos(schedule.occurrences_between(0, END, 3)) == [
        "2044-02-29T00:00",
        "2072-02-29T00:00",
        "2112-02-29T00:00",
    ]


def test_horizon_does_not_cut_a_sparse_rule_short() -> None:
    for text in ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29"):
        schedule = parse_schedule(text, utc("2026-01-01T00:00"), "UTC")
        leap = utc("2028-02-29T00:00")
        assert schedule.occurrences_between(0, leap + 1, 5) == [leap]
        assert schedule.occurrences_between(0, leap, 5) == []
        assert schedule.occurrences_between(leap + 1, END, 1) == [utc("2032-02-29T00:00")]
        assert schedule.occurrences_between(utc("2096-03-01T00:00"), END, 1) == [
            utc("2104-02-29T00:00")
        ]


def test_dateutil_reads_byeaster_as_the_meter_expects() -> None:
    """The meter counts reads of ``_byeaster``: two to set up, then one per new period
    (YEARLY, MONTHLY) or calendar month (the rest). A dateutil upgrade that reads it
    more often would make searches stop early, so this pins the pattern down."""
    reads: list[int] = []

    class Probe(rrule):
        @property
        def _byeaster(self) -> None:
            reads.append(1)

        @_byeaster.setter
        def _byeaster(self, value: object) -> None:
            pass

    def count(freq: Literal[0, 1, 3, 5], dtstart: datetime, n: int, **parts: int) -> int:
        reads.clear()
        found = list(itertools.islice(Probe(freq, dtstart=dtstart, **parts), n))  # type: ignore[arg-type]
        assert len(found) == n
        return len(reads)

    assert count(YEARLY, datetime(2026, 1, 1), 5) == 2 + 4
    assert count(MONTHLY, datetime(2026, 1, 1), 5) == 2 + 4
    assert count(DAILY, datetime(2026, 1, 30), 5) == 2 + 1
    assert count(DAILY, datetime(2026, 1, 30), 5, interval=40) == 2 + 4
    assert count(MINUTELY, datetime(2026, 1, 31, 23, 58), 5) == 2 + 1


def test_work_budget_ends_a_fruitless_search(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metering, "_WORK_BUDGET", 200)
    with pytest.raises(ValidationError) as caught:
        parse_schedule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", utc("2026-01-01T00:00"), "UTC")
    assert str(caught.value) == INVALID + "it is too expensive to expand"


# -- property: the same as dateutil ------------------------------------------------------


def brute_force(text: str, start: int, after: int, before: int, limit: int) -> list[int]:
    """dateutil straight from DTSTART in UTC, filtered to the window and limit."""
    dtstart = datetime.fromtimestamp(start, UTC).replace(tzinfo=None)
    try:
        rule = rrulestr(text, dtstart=dtstart)
        found: list[int] = []
        for moment in rule:
            stamp = int(moment.replace(tzinfo=UTC).timestamp())
            if stamp >= before or len(found) == limit:
                break
            if stamp >= after:
                found.append(stamp)
        return found
    except ValueError:  # dateutil: no BYHOUR value reachable with this INTERVAL
        return []


WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def simple_rules(draw: st.DrawFn) -> str:
    parts = [f"FREQ={draw(st.sampled_from(['DAILY', 'WEEKLY', 'MONTHLY', 'HOURLY']))}"]
    parts.append(f"INTERVAL={draw(st.integers(1, 5))}")
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=4, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if draw(st.booleans()):
        hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=4, unique=True))
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    return ";".join(draw(st.permutations(parts)))


MINUTES_2020 = utc("2020-01-01T00:00") // 60
MINUTES_2030 = utc("2030-01-01T00:00") // 60


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=simple_rules(),
    start_minute=st.integers(MINUTES_2020, MINUTES_2030),
    offset=st.integers(-40 * 86400, 3 * 365 * 86400),
    length=st.integers(0, 400 * 86400),
    limit=st.integers(1, 60),
)
def test_matches_dateutil_in_utc(
    text: str, start_minute: int, offset: int, length: int, limit: int
) -> None:
    start = start_minute * 60
    after = start + offset
    before = after + length
    try:
        schedule = parse_schedule(text, start, "UTC")
    except ValidationError as error:
        assert str(error) == NO_OCCURRENCE
        assert brute_force(text, start, start, start + 3653 * 86400 + 1, 1) == []
        return
    assert schedule.first_occurrence() == brute_force(text, start, start, END, 1)[0]
    assert schedule.occurrences_between(after, before, limit) == brute_force(
        text, start, after, before, limit
    )


def test_a_dense_rule_queried_late_starts_near_the_window() -> None:
    schedule = parse_schedule("FREQ=MINUTELY", utc("2026-01-01T00:00"), "Europe/Berlin")
    assert schedule.first_occurrence() == utc("2026-01-01T00:00")
    got = schedule.occurrences_between(utc("2230-05-05T05:05"), END, 3)
    assert isos(got) == ["2230-05-05T05:05", "2230-05-05T05:06", "2230-05-05T05:07"]


def brute_force_in_zone(
    text: str, start: int, zone_name: str, after: int, before: int, limit: int
) -> list[int]:
    """dateutil from DTSTART on wall times, each to UTC with fold=0, then sorted and filtered."""
    zone = ZoneInfo(zone_name)
    dtstart = datetime.fromtimestamp(start, zone).replace(tzinfo=None)
    last_wall = datetime.fromtimestamp(before, zone).replace(tzinfo=None) + timedelta(days=2)
    found = set()
    for moment in rrulestr(text, dtstart=dtstart):
        if moment > last_wall:
            break
        stamp = int(moment.replace(tzinfo=zone).timestamp())
        if start <= stamp and after <= stamp < before:
            found.add(stamp)
    return sorted(found)[:limit]


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/St_Johns"]


@st.composite
def zoned_cases(draw: st.DrawFn) -> tuple[str, int, str, int, int, int]:
    """(rule, start, zone, window offset from the first occurrence, window length, limit)."""
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"]))
    parts = [f"FREQ={freq}"]
    intervals = {"HOURLY": [1, 2, 5, 7], "MINUTELY": [1, 15, 45, 47, 90]}
    parts.append(f"INTERVAL={draw(st.sampled_from(intervals.get(freq, [1, 2, 3])))}")
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 30))}")
    elif draw(st.booleans()):
        until = datetime(2020, 1, 1) + timedelta(minutes=draw(st.integers(0, 12 * 525600)))
        parts.append(f"UNTIL={until:%Y%m%dT%H%M%S}")  # wall clock: dateutil reads it so too
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
        if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
            days = [
                f"{draw(st.sampled_from(['', '+', '-']))}{draw(st.integers(1, 4))}{d}" for d in days
            ]
        parts.append("BYDAY=" + ",".join(days))
    if freq != "WEEKLY" and draw(st.booleans()):
        monthdays = draw(st.lists(st.sampled_from([1, 2, 15, 28, -1]), min_size=1, max_size=2))
        parts.append("BYMONTHDAY=" + ",".join(map(str, monthdays)))
    if draw(st.booleans()):
        months = draw(st.lists(st.integers(1, 12), min_size=2, max_size=6, unique=True))
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if draw(st.booleans()):
        hours = draw(st.lists(st.sampled_from([0, 1, 2, 3, 12, 23]), min_size=1, max_size=3))
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    if draw(st.booleans()):
        minutes = draw(st.lists(st.sampled_from([0, 15, 30, 59]), min_size=1, max_size=2))
        parts.append("BYMINUTE=" + ",".join(map(str, minutes)))
    if len(parts) > 2 and draw(st.booleans()):
        positions = draw(st.lists(st.sampled_from([1, 2, -1, -2]), min_size=1, max_size=2))
        parts.append("BYSETPOS=" + ",".join(map(str, positions)))
    text = ";".join(draw(st.permutations(parts)))
    zone = draw(st.sampled_from(ZONES))
    start = draw(st.integers(MINUTES_2020, MINUTES_2030)) * 60
    reach = 20 * 86400 if freq in ("HOURLY", "MINUTELY") else 3 * 365 * 86400
    # Windows are placed from the first occurrence: near it more often than not.
    offset = draw(st.one_of(st.integers(-3600, 7 * 86400), st.integers(-86400, reach)))
    length = draw(st.one_of(st.integers(3600, 3 * 86400), st.integers(86400, reach)))
    return text, start, zone, offset, length, draw(st.integers(1, 40))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=zoned_cases())
def test_matches_dateutil_in_zones(case: tuple[str, int, str, int, int, int]) -> None:
    """Any frequency and zone: the same as converting dateutil's whole expansion."""
    text, start, zone, offset, length, limit = case
    try:
        normalise_rrule(text)
    except ValidationError:
        event("not an RFC 5545 rule")
        return
    try:
        schedule = parse_schedule(text, start, zone)
    except ValidationError as error:
        assert str(error) == NO_OCCURRENCE
        event("no occurrence")
        return
    first = schedule.first_occurrence()
    assert first is not None
    after = first + offset
    before = after + length
    expected = brute_force_in_zone(text, start, zone, after, before, limit)
    event("compared, some found" if expected else "compared, none found")
    assert schedule.occurrences_between(after, before, limit) == expected
