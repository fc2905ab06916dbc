"""COUNT rules: rejected at validation, or expanded completely (never cut short).

A COUNT rule is expanded from its start by every query, so the work a query
needs grows with how far into the rule it looks. Before this was checked at
validation, a valid COUNT rule whose occurrences are expensive to find
(``FREQ=DAILY;COUNT=500;BYMONTHDAY=13;BYDAY=FR``: 500 Friday-the-13ths, 300
years of days) was accepted and then silently stopped producing events
where the work budget ran out (after 320 of its 500).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from maintsvc.errors import ValidationError
from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.rrules import MAX_COUNT, parse_schedule
from tests.unit.test_rrules import END, INVALID, utc

TOO_EXPENSIVE = INVALID + "it is too expensive to expand"


def every_occurrence(text: str, start: int, zone_name: str) -> list[int]:
    """dateutil's whole expansion from DTSTART on wall times, each to UTC with fold=0."""
    zone = ZoneInfo(zone_name)
    dtstart = datetime.fromtimestamp(start, zone).replace(tzinfo=None)
    found = set()
    for moment in rrulestr(text, dtstart=dtstart):
        stamp = int(moment.replace(tzinfo=zone).timestamp())
        if start <= stamp <= MAX_TIMESTAMP:
            found.add(stamp)
    return sorted(found)


def assert_complete(text: str, start: int, zone: str) -> None:
    """The schedule returns every occurrence dateutil finds, up to the last one."""
    schedule = parse_schedule(text, start, zone)
    expected = every_occurrence(text, start, zone)
    assert schedule.occurrences_between(0, END, MAX_COUNT) == expected
    assert schedule.occurrences_between(expected[-1], END, 5) == [expected[-1]]
    middle = expected[len(expected) // 2]
    assert schedule.occurrences_between(middle, END, 2) == expected[len(expected) // 2 :][:2]


@pytest.mark.xfail(strict=True, reason="fixed next: COUNT expansion stops at the work budget")
def test_the_rule_that_stopped_short_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_schedule(
            "FREQ=DAILY;COUNT=500;BYMONTHDAY=13;BYDAY=FR", utc("2026-01-01T00:00"), "UTC"
        )
    assert str(caught.value) == TOO_EXPENSIVE
    # The same occurrences, found month by month, are cheap: accepted, and all there.
    assert_complete("FREQ=MONTHLY;COUNT=500;BYMONTHDAY=13;BYDAY=FR", utc("2026-01-01T00:00"), "UTC")


EXPENSIVE = [
    "FREQ=DAILY;COUNT=500;BYMONTHDAY=13;BYDAY=FR",
    "FREQ=YEARLY;COUNT=3000",
    "FREQ=YEARLY;COUNT=10000;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=MONTHLY;COUNT=10000;BYMONTHDAY=31;BYMONTH=2,4,6,9,11,12",
    "FREQ=MINUTELY;COUNT=10000;INTERVAL=7;BYHOUR=5",
    "FREQ=HOURLY;COUNT=10000;INTERVAL=5;BYHOUR=3",
]


@pytest.mark.xfail(strict=True, reason="fixed next: COUNT expansion stops at the work budget")
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("text", EXPENSIVE)
def test_a_count_rule_too_expensive_to_expand_completely_is_rejected(text: str, zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_schedule(text, utc("2026-01-01T00:00"), zone)
    assert str(caught.value) == TOO_EXPENSIVE


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("FREQ=DAILY;COUNT=10000", "2026-01-01T00:00"),
        ("FREQ=MINUTELY;COUNT=10000", "2026-03-28T00:00"),
        ("FREQ=WEEKLY;COUNT=10000;BYDAY=MO,FR;BYHOUR=2;BYMINUTE=30", "2026-01-01T00:00"),
        ("FREQ=YEARLY;COUNT=1000", "2026-01-01T00:00"),
        ("FREQ=MONTHLY;COUNT=500;BYDAY=FR;BYMONTHDAY=13", "2026-01-01T00:00"),
        # Only the expansion the rule needs counts: ten years, then the end of time.
        ("FREQ=YEARLY;COUNT=3000", "9990-01-01T00:00"),
        ("FREQ=DAILY;COUNT=500;BYMONTHDAY=13;BYDAY=FR", "9900-01-01T00:00"),
    ],
)
def test_an_accepted_count_rule_is_expanded_completely(text: str, start: str, zone: str) -> None:
    assert_complete(text, utc(start), zone)
