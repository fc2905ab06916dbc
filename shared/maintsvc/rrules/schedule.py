"""Schedules: a validated rule, start and zone, expanded on demand (docs/behaviour.md §3, §4).

``parse_schedule`` is the whole validation of a maintenance's rule: the text
(``parse``), the zone (``zones``), and an occurrence within
``FIRST_OCCURRENCE_DAYS`` of the start (365 * 10 + 3 days: ten calendar
years whatever their leap days).

The work budget (``metering``) covers a ten-year search for any rule but one
that pairs hundreds of BYSETPOS values with finding nothing, which
``parse_schedule`` rejects as "too expensive to expand". A query stopped by
it returns what it found up to there, which only a rule whose occurrences
are centuries apart (or a huge COUNT of a MINUTELY rule with an INTERVAL
that does not divide a day) can notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo

from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.rrules.expand import collect
from maintsvc.rrules.parse import invalid, normalise_rrule, parse_rule
from maintsvc.rrules.plan import Plan, make_plan
from maintsvc.rrules.zones import validate_timezone, wall

FIRST_OCCURRENCE_DAYS: Final = 365 * 10 + 3

NO_OCCURRENCE: Final = "it yields no occurrence within 10 years of start_date_time"
TOO_EXPENSIVE: Final = "it is too expensive to expand"


@dataclass(frozen=True, slots=True)
class Schedule:
    """An expanded-on-demand rule: cheap to build, every query bounded."""

    rrule: str
    start_ts: int
    timezone: str
    _plan: Plan = field(repr=False)
    _first: int | None = field(repr=False)

    def occurrences_between(self, after_ts: int, before_ts: int, limit: int) -> list[int]:
        """Occurrences t with after_ts <= t < before_ts, ascending, at most ``limit``."""
        return collect(self._plan, int(after_ts), int(before_ts), int(limit))[0]

    def first_occurrence(self) -> int | None:
        return self._first


def parse_schedule(rrule_text: str, start_ts: int, tz_name: str) -> Schedule:
    """The schedule of a rule from ``start_ts`` (seconds are dropped) in ``tz_name``.

    Raises ValidationError when the rule or zone is invalid or the rule has no
    occurrence within ``FIRST_OCCURRENCE_DAYS`` of the start.
    """
    text = normalise_rrule(rrule_text)
    rule = parse_rule(text)
    name = validate_timezone(tz_name)
    zone = ZoneInfo(name)
    start_ts = int(start_ts)  # also takes the Decimal a DynamoDB item holds
    start_ts -= start_ts % 60
    dtstart = wall(zone, start_ts)
    if dtstart is None or start_ts > MAX_TIMESTAMP:
        raise invalid(NO_OCCURRENCE)
    plan = make_plan(rule, zone, start_ts, dtstart)
    found, complete = collect(plan, start_ts, start_ts + FIRST_OCCURRENCE_DAYS * 86400 + 1, 1)
    if not found:
        raise invalid(NO_OCCURRENCE if complete else TOO_EXPENSIVE)
    return Schedule(text, start_ts, name, plan, found[0])
