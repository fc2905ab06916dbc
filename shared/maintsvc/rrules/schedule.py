"""Schedules: a validated rule, start and zone, expanded on demand (docs/behaviour.md §3, §4).

``parse_schedule`` is the whole validation of a maintenance's rule: the text
(``parse``), the zone (``zones``), and an occurrence within
``FIRST_OCCURRENCE_DAYS`` of the start (365 * 10 + 3 days: ten calendar
years whatever their leap days).

The work budget (``metering``) covers a ten-year search for any rule but one
that pairs hundreds of BYSETPOS values with finding nothing, which
``parse_schedule`` rejects as "too expensive to expand".

A rule without COUNT is searched from the period that holds each query's
window, so its work does not grow with how far from the start a query
looks; a query the budget stops returns what it found up to there, which
only a rule whose occurrences are centuries apart can notice.

A COUNT rule is counted from its start, so it is expanded completely, once,
here: a COUNT rule whose expansion does not fit in one budget is rejected
as "too expensive to expand" (docs/decisions.md), and an accepted one
answers every query from that list. Either the rule is rejected at
validation or it is expanded completely: no query can stop it short.
"""

from __future__ import annotations

from bisect import bisect_left
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
    """A rule ready to answer queries: every query bounded, a COUNT rule's already answered."""

    rrule: str
    start_ts: int
    timezone: str
    _plan: Plan = field(repr=False)
    _first: int | None = field(repr=False)
    _counted: tuple[int, ...] | None = field(repr=False)  # a COUNT rule's every occurrence

    def occurrences_between(self, after_ts: int, before_ts: int, limit: int) -> list[int]:
        """Occurrences t with after_ts <= t < before_ts, ascending, at most ``limit``."""
        after_ts, before_ts, limit = int(after_ts), int(before_ts), int(limit)
        if self._counted is None:
            return collect(self._plan, after_ts, before_ts, limit)[0]
        if limit <= 0:
            return []
        low = bisect_left(self._counted, after_ts)
        high = bisect_left(self._counted, before_ts, lo=low)
        return list(self._counted[low : min(high, low + limit)])

    def first_occurrence(self) -> int | None:
        return self._first


def parse_schedule(rrule_text: str, start_ts: int, tz_name: str) -> Schedule:
    """The schedule of a rule from ``start_ts`` (seconds are dropped) in ``tz_name``.

    Raises ValidationError when the rule or zone is invalid, the rule has no
    occurrence within ``FIRST_OCCURRENCE_DAYS`` of the start, or it is a
    COUNT rule that cannot be expanded completely within the work budget.
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
    counted = None if plan.count is None else _every_occurrence(plan, plan.count)
    return Schedule(text, start_ts, name, plan, found[0], counted)


def _every_occurrence(plan: Plan, count: int) -> tuple[int, ...]:
    """Every occurrence of a COUNT rule, or the rrule error when one budget cannot reach them.

    One budget, because a query of the last occurrence would otherwise walk
    the same way from the start and stop short where the budget runs out.
    """
    found, complete = collect(plan, plan.start_ts, MAX_TIMESTAMP + 1, count)
    if not complete:
        raise invalid(TOO_EXPENSIVE)
    return tuple(found)
