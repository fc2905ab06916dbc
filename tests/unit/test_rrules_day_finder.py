"""DAILY, HOURLY and MINUTELY rules with day parts: days from a YEARLY rule, times added.

The plan asks dateutil only for the days such a rule can fall on and adds
the INTERVAL lattice's times itself (``expand.lattice_walls``): the answers
must be dateutil's, near the start and far from it, in zones with DST.
"""

from datetime import UTC, datetime

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from maintsvc.errors import ValidationError
from maintsvc.rrules import parse_schedule
from tests.unit.test_rrules import NO_OCCURRENCE, WEEKDAYS, brute_force_in_zone, utc
from tests.unit.test_rrules_count import TOO_EXPENSIVE

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
INTERVALS = {
    "DAILY": [1, 2, 3, 17, 100, 1000],
    "HOURLY": [1, 5, 7, 13, 25, 1000],
    "MINUTELY": [7, 47, 90, 97, 1000],
}


@st.composite
def day_part_rules(draw: st.DrawFn) -> str:
    """A DAILY to MINUTELY rule with at least one day part, any INTERVAL, maybe COUNT."""
    freq = draw(st.sampled_from(sorted(INTERVALS)))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from(INTERVALS[freq]))}"]
    day_parts = {
        "BYMONTH": st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True),
        "BYMONTHDAY": st.lists(st.sampled_from([1, 13, 29, 31, -1, -7]), min_size=1, max_size=3),
        "BYDAY": st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True),
    }
    if freq != "DAILY":
        day_parts["BYYEARDAY"] = st.lists(st.sampled_from([1, 60, 366, -1]), min_size=1, max_size=2)
    chosen = draw(st.lists(st.sampled_from(sorted(day_parts)), min_size=1, unique=True))
    for name in chosen:
        values = draw(day_parts[name])
        parts.append(f"{name}={','.join(map(str, values))}")
    if draw(st.booleans()):
        hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=3))
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    if draw(st.booleans()):
        minutes = draw(st.lists(st.sampled_from([0, 7, 30, 59]), min_size=1, max_size=2))
        parts.append("BYMINUTE=" + ",".join(map(str, minutes)))
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 50))}")
    return ";".join(draw(st.permutations(parts)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=day_part_rules(),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)),
    years=st.integers(0, 40),
    days=st.integers(1, 800),
    limit=st.integers(1, 40),
)
def test_days_found_yearly_give_dateutils_times(
    text: str, zone: str, start: datetime, years: int, days: int, limit: int
) -> None:
    start_ts = int(start.replace(tzinfo=UTC).timestamp()) // 60 * 60
    try:
        schedule = parse_schedule(text, start_ts, zone)
    except ValidationError as error:
        # A COUNT rule whose whole expansion would not fit the work budget is rejected
        # (test_rrules_count); any other rule only when nothing occurs in ten years.
        allowed = {NO_OCCURRENCE, TOO_EXPENSIVE} if "COUNT" in text else {NO_OCCURRENCE}
        assert str(error) in allowed
        event(str(error))
        return
    if "MINUTELY" in text:  # dateutil's own MINUTELY loop is slow to walk decades
        years = min(years, 2)
    # Windows from the first occurrence: near it more often than not.
    first = schedule.first_occurrence()
    assert first is not None
    after = first - 3600 + years * 365 * 86400
    before = after + days * 86400
    expected = brute_force_in_zone(text, start_ts, zone, after, before, limit)
    event("compared, some found" if expected else "compared, none found")
    assert schedule.occurrences_between(after, before, limit) == expected


def test_a_rule_with_centuries_between_occurrences() -> None:
    """Every 47 minutes, at 12:59 on 1 May or 1 July: 24 times in about 600 years."""
    text = "FREQ=MINUTELY;INTERVAL=47;COUNT=24;BYMONTH=5,7;BYMONTHDAY=1;BYHOUR=12;BYMINUTE=59"
    start = utc("2020-01-01T00:38")
    schedule = parse_schedule(text, start, "UTC")
    found = schedule.occurrences_between(0, utc("9999-01-01T00:00"), 100)
    assert len(found) == 24
    moments = [datetime.fromtimestamp(t, UTC) for t in found]
    assert all(m.day == 1 and m.month in (5, 7) and (m.hour, m.minute) == (12, 59) for m in moments)
    assert all((t - start) % (47 * 60) == 0 for t in found)
    assert (moments[0].year, moments[-1].year) == (2020, 2601)
    # dateutil agrees on the first ones (its own loop would take seconds for all 24).
    assert found[:3] == brute_force_in_zone(text, start, "UTC", start, utc("2100-01-01T00:00"), 3)
