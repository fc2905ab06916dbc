"""COUNT rules: rejected at validation, or expanded completely (never cut short).

A COUNT rule is counted from its start, so a query far into it used to walk
from the start and could run out of work budget on the way: a valid COUNT
rule whose occurrences are expensive to find
(``FREQ=DAILY;COUNT=500;BYMONTHDAY=13;BYDAY=FR``: 500 Friday-the-13ths over
about 300 years, dateutil stepping through every day) was accepted and then
silently stopped producing events (after 320 of its 500). Now such a rule
finds its days a year at a time (``test_rrules_day_finder``), and
``parse_schedule`` expands every COUNT rule completely, once, within the
work budget, or rejects it.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from maintsvc.errors import ValidationError
from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.rrules import MAX_COUNT, parse_schedule
from tests.conftest import property_examples
from tests.unit.test_rrules import END, INVALID, NO_OCCURRENCE, utc

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


def assert_complete(text: str, start: int, zone: str) -> list[int]:
    """The schedule returns every occurrence dateutil finds, up to the last one."""
    schedule = parse_schedule(text, start, zone)
    expected = every_occurrence(text, start, zone)
    assert schedule.occurrences_between(0, END, MAX_COUNT) == expected
    assert schedule.occurrences_between(expected[-1], END, 5) == [expected[-1]]
    middle = expected[len(expected) // 2]
    assert schedule.occurrences_between(middle, END, 2) == expected[len(expected) // 2 :][:2]
    return expected


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_the_rule_that_stopped_short_is_expanded_completely(zone: str) -> None:
    text = "FREQ=DAILY;COUNT=500;BYMONTHDAY=13;BYDAY=FR"
    assert len(assert_complete(text, utc("2026-01-01T00:00"), zone)) == 500


EXPENSIVE = [
    "FREQ=DAILY;COUNT=10000;BYMONTHDAY=13;BYDAY=FR",
    "FREQ=YEARLY;COUNT=3000",
    "FREQ=YEARLY;COUNT=10000;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=MONTHLY;COUNT=10000;BYMONTHDAY=31;BYMONTH=2,4,6,9,11,12",
    "FREQ=MINUTELY;COUNT=10000;INTERVAL=7;BYHOUR=5",
    "FREQ=HOURLY;COUNT=10000;INTERVAL=5;BYHOUR=3",
]


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


@st.composite
def sparse_count_rules(draw: st.DrawFn) -> str:
    """COUNT rules whose filters make occurrences rare, so some are expensive to reach."""
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "DAILY", "HOURLY"]))
    parts = [f"FREQ={freq}", f"COUNT={draw(st.sampled_from([10, 100, 400, 2000, 10000]))}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.sampled_from([2, 3, 5, 7]))}")
    parts.append(f"BYMONTHDAY={draw(st.sampled_from([13, 29, 31, -1]))}")
    if draw(st.booleans()):
        parts.append(f"BYDAY={draw(st.sampled_from(['MO', 'FR', 'SA,SU']))}")
    if draw(st.booleans()):
        parts.append(f"BYMONTH={draw(st.sampled_from(['2', '2,8', '1,4,6']))}")
    if freq == "HOURLY":
        parts.append(f"BYHOUR={draw(st.sampled_from([0, 3, 23]))}")
    return ";".join(draw(st.permutations(parts)))


@pytest.mark.property
@settings(
    max_examples=property_examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=sparse_count_rules(), year=st.integers(2000, 2100))
def test_a_count_rule_is_rejected_or_complete(text: str, year: int) -> None:
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    try:
        parse_schedule(text, start, "Europe/Berlin")
    except ValidationError as error:
        assert str(error) in (TOO_EXPENSIVE, NO_OCCURRENCE)
        event(str(error))
        return
    event("accepted")
    assert_complete(text, start, "Europe/Berlin")
