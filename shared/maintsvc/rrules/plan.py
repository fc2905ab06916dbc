"""A rule made concrete for one start and zone: what dateutil is asked, and what it costs.

The start, seen as wall-clock time in the zone, is the rule's DTSTART
(docs/behaviour.md §6). The plan passes dateutil every argument it would
otherwise derive from DTSTART, so that an expansion can start at any later
period of the rule's lattice and still yield what the expansion from DTSTART
yields there (see ``expand.lattice_start``).

It also rewrites rules so that each call does little work:

- HOURLY and MINUTELY rules whose INTERVAL divides a day reach the same
  times every day: they run as DAILY rules at those times. For YEARLY to
  DAILY rules without BYSETPOS dateutil only finds the days and the
  expansion adds the times, so starting inside a period does not build every
  earlier candidate of it;
- BYSETPOS of HOURLY, MINUTELY and DAILY rules, whose periods hold the same
  times every time, becomes the fixed set of times it picks; other MINUTELY
  rules apply BYHOUR after dateutil (which steps minute by minute through
  excluded hours);
- DAILY, HOURLY and MINUTELY rules with day parts (BYMONTH, BYMONTHDAY,
  BYYEARDAY, BYDAY) ask dateutil only for the days, as a YEARLY rule of those
  parts, and the expansion adds each day's times on the INTERVAL lattice:
  dateutil would step through every day (HOURLY, MINUTELY: every hour or
  minute of it) while a YEARLY rule builds a year at a time. A sparse rule
  (``FREQ=MINUTELY;INTERVAL=47;BYMONTHDAY=1;BYHOUR=12;BYMINUTE=59``) can
  have centuries between occurrences, which this makes a matter of
  milliseconds per century; see ``expand.lattice_walls``;
- a rule that provably never matches (a BYHOUR or BYMINUTE no INTERVAL step
  reaches, a BYSETPOS beyond any period) is marked empty and not searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from math import gcd
from typing import Final
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, weekday

from maintsvc.rrules.parse import Freq, Rule

EPOCH: Final = datetime(1970, 1, 1)
SECOND: Final = timedelta(seconds=1)
_MINUTES_A_DAY: Final = 1440
_ALL_HOURS: Final = tuple(range(24))
_DAYS_A_YEAR: Final = 365.25
_DAYS_A_MONTH: Final = _DAYS_A_YEAR / 12
# Work units of a YEARLY day finder: a year (as tick_cost's YEARLY without
# BYSETPOS), and each day found: a base plus each hour looked at (measured,
# like tick_cost, on dateutil 2.9 and CPython 3.11).
_FINDER_YEAR: Final = 60
_FINDER_DAY: Final = 1.5
_FINDER_HOUR: Final = 0.25


@dataclass(frozen=True, slots=True)
class Plan:
    """What one schedule asks of dateutil: every argument explicit, plus the costs of it."""

    zone: ZoneInfo
    start_ts: int
    dtstart: datetime
    freq: Freq
    interval: int
    wkst: int
    count: int | None
    until_wall: datetime | None
    until_utc: int | None
    bymonth: tuple[int, ...]
    bymonthday: tuple[int, ...]
    byyearday: tuple[int, ...]
    byweekno: tuple[int, ...]
    byweekday: tuple[weekday, ...]
    byhour: tuple[int, ...]
    byminute: tuple[int, ...]
    bysetpos: tuple[int, ...]
    times: tuple[time, ...]  # when set, dateutil yields days and each gets these times
    hour_filter: frozenset[int] | None  # MINUTELY's BYHOUR, applied after dateutil
    second: int
    # DAILY, HOURLY, MINUTELY with day parts: dateutil finds the days (a YEARLY rule)
    # and the expansion adds the lattice times, in `day_hours` (HOURLY, MINUTELY).
    finds_days: bool
    day_hours: tuple[int, ...]
    day_cost: float  # work units of a day found, besides its times
    tick_cost: float
    yield_cost: float
    empty: bool


@dataclass(frozen=True, slots=True)
class _Clock:
    """The time-of-day side of a plan, as one frequency's rewrite leaves it."""

    freq: Freq
    interval: int
    byhour: tuple[int, ...]
    byminute: tuple[int, ...]
    bysetpos: tuple[int, ...]
    times: tuple[time, ...] = ()
    hour_filter: frozenset[int] | None = None
    empty: bool = False


def make_plan(rule: Rule, zone: ZoneInfo, start_ts: int, start: datetime) -> Plan:
    """The plan of ``rule`` from ``start`` (the wall time of ``start_ts`` in ``zone``)."""
    # dateutil's default second is DTSTART's: not 0 only in zones with LMT offsets.
    second = 0 if rule.bysecond else start.second
    if rule.freq <= DAILY:
        clock = _day_clock(rule, start, second)
    elif rule.freq == HOURLY:
        clock = _hourly_clock(rule, start, second)
    else:
        clock = _minutely_clock(rule, start, second)
    bymonth, bymonthday, byweekday = _day_parts(rule, clock.freq, start)
    weekdays = tuple(weekday(d) for d in byweekday) + tuple(
        weekday(d, n) for d, n in rule.bynweekday
    )
    until_wall, until_utc = rule.until, None
    if rule.until is not None and rule.until_is_utc:
        until_utc = (rule.until - EPOCH) // SECOND
        until_wall = None
    finds_days = _finds_days(rule, clock, len(bymonth), len(bymonthday), len(byweekday))
    return Plan(
        zone=zone,
        start_ts=start_ts,
        dtstart=start,
        freq=clock.freq,
        interval=clock.interval,
        wkst=rule.wkst,
        count=rule.count,
        until_wall=until_wall,
        until_utc=until_utc,
        bymonth=bymonth,
        bymonthday=bymonthday,
        byyearday=rule.byyearday,
        byweekno=rule.byweekno,
        byweekday=weekdays,
        byhour=clock.byhour,
        byminute=clock.byminute,
        bysetpos=clock.bysetpos,
        times=clock.times,
        hour_filter=clock.hour_filter,
        second=second,
        finds_days=finds_days,
        day_hours=_day_hours(clock) if finds_days else (),
        day_cost=day_cost(clock) if finds_days else 0,
        tick_cost=tick_cost(rule, clock, finds_days),
        yield_cost=yield_cost(clock, finds_days),
        empty=clock.empty,
    )


def _day_clock(rule: Rule, start: datetime, second: int) -> _Clock:
    """YEARLY to DAILY: the times of day, which dateutil need not see when BYSETPOS is gone."""
    byhour, byminute = rule.byhour or (start.hour,), rule.byminute or (start.minute,)
    grid = [time(h, m, second) for h in byhour for m in byminute]
    bysetpos, empty = rule.bysetpos, False
    if bysetpos and rule.freq == DAILY:
        # Every day holds the same times, so BYSETPOS picks the same ones every day.
        grid, bysetpos = [grid[i] for i in positions(bysetpos, len(grid))], ()
        empty = not grid
    elif bysetpos:
        longest = {WEEKLY: 7, MONTHLY: 31, YEARLY: 366}[rule.freq] * len(grid)
        bysetpos = tuple(p for p in bysetpos if abs(p) <= longest)
        empty = not bysetpos
    # Without BYSETPOS dateutil finds the days and the expansion adds the times: a
    # period's candidates before the search start are then days, not days x times.
    times = () if bysetpos else tuple(grid)
    return _Clock(rule.freq, rule.interval, byhour, byminute, bysetpos, times, empty=empty)


def _hourly_clock(rule: Rule, start: datetime, second: int) -> _Clock:
    interval = rule.interval
    # dateutil drops hours the INTERVAL steps never reach (and fails when none is left).
    step = gcd(interval, 24)
    byhour = tuple(h for h in rule.byhour if (h - start.hour) % step == 0)
    byminute = rule.byminute or (start.minute,)
    if rule.bysetpos:  # every hour holds the same minutes: BYSETPOS picks some of them
        byminute = tuple(byminute[i] for i in positions(rule.bysetpos, len(byminute)))
    empty = (bool(rule.byhour) and not byhour) or not byminute
    if 24 % interval:
        return _Clock(HOURLY, interval, byhour, byminute, (), empty=empty)
    # The steps reach the same hours every day: a DAILY rule at those times.
    times = tuple(
        time(h, m, second)
        for h in range(start.hour % interval, 24, interval)
        if not rule.byhour or h in rule.byhour
        for m in byminute
    )
    return _Clock(DAILY, 1, (), (), (), times, empty=empty)


def _minutely_clock(rule: Rule, start: datetime, second: int) -> _Clock:
    interval = rule.interval
    step = gcd(interval, 60)
    byminute = tuple(m for m in rule.byminute if (m - start.minute) % step == 0)
    empty = bool(rule.byminute) and not byminute
    if rule.bysetpos:  # every minute holds one time: BYSETPOS keeps it or nothing
        empty = empty or not {1, -1} & set(rule.bysetpos)
    if _MINUTES_A_DAY % interval == 0:
        # The steps reach the same minutes every day: a DAILY rule at those times.
        first = start.hour * 60 + start.minute
        times = tuple(
            time(t // 60, t % 60, second)
            for t in range(first % interval, _MINUTES_A_DAY, interval)
            if (not rule.byhour or t // 60 in rule.byhour)
            and (not rule.byminute or t % 60 in rule.byminute)
        )
        return _Clock(DAILY, 1, (), (), (), times, empty=empty or not times)
    if rule.byhour:
        # Applied after dateutil, which would step through excluded hours.
        empty = empty or not _minutely_reachable(rule, start, byminute)
        return _Clock(MINUTELY, interval, (), byminute, (), (), frozenset(rule.byhour), empty)
    return _Clock(MINUTELY, interval, rule.byhour, byminute, (), empty=empty)


def _day_parts(
    rule: Rule, freq: Freq, start: datetime
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """BYMONTH, BYMONTHDAY and BYDAY, with what dateutil derives from DTSTART made explicit."""
    bymonth, bymonthday, byweekday = rule.bymonth, rule.bymonthday, rule.byweekday
    if rule.byweekno or rule.byyearday or bymonthday or byweekday or rule.bynweekday:
        return bymonth, bymonthday, byweekday
    if freq == YEARLY:
        return bymonth or (start.month,), (start.day,), byweekday
    if freq == MONTHLY:
        return bymonth, (start.day,), byweekday
    if freq == WEEKLY:
        return bymonth, bymonthday, (start.weekday(),)
    return bymonth, bymonthday, byweekday


def _finds_days(rule: Rule, clock: _Clock, months: int, monthdays: int, weekdays: int) -> bool:
    """Whether a YEARLY day finder costs less a year than dateutil's own DAILY to MINUTELY loop.

    The finder pays for a year and for every day passing the day parts (an
    estimate from how many values each part has); dateutil's loop pays for
    every calendar month its INTERVAL steps enter. The finder wins unless
    the steps are far apart and the day parts let many days through
    (``FREQ=DAILY;INTERVAL=1000;BYMONTH=3,11``).
    """
    yeardays = len(rule.byyearday)
    if clock.freq < DAILY or clock.empty or not (months or monthdays or weekdays or yeardays):
        return False
    share = (months / 12 if months else 1) * (min(1, monthdays / _DAYS_A_MONTH) if monthdays else 1)
    share *= (weekdays / 7 if weekdays else 1) * (
        min(1, yeardays / _DAYS_A_YEAR) if yeardays else 1
    )
    finder = _FINDER_YEAR + share * _DAYS_A_YEAR * day_cost(clock)
    step_days = clock.interval / {DAILY: 1, HOURLY: 24, MINUTELY: _MINUTES_A_DAY}[clock.freq]
    native = tick_cost(rule, clock, False) * min(12, _DAYS_A_YEAR / step_days)
    return finder < native


def day_cost(clock: _Clock) -> float:
    """Work units of a day a YEARLY day finder yields, besides the times on it."""
    return _FINDER_DAY + _FINDER_HOUR * len(_day_hours(clock))


def _day_hours(clock: _Clock) -> tuple[int, ...]:
    """The hours of a day an HOURLY or MINUTELY rule may hit (DAILY: none needed)."""
    if clock.freq == DAILY:
        return ()
    if clock.hour_filter is not None:
        return tuple(sorted(clock.hour_filter))
    return clock.byhour or _ALL_HOURS


def positions(bysetpos: tuple[int, ...], size: int) -> list[int]:
    """The indexes BYSETPOS picks from a period of ``size`` sorted times, ascending."""
    return sorted({p - 1 if p > 0 else size + p for p in bysetpos if abs(p) <= size})


def _minutely_reachable(rule: Rule, start: datetime, byminute: tuple[int, ...]) -> bool:
    """Whether a MINUTELY rule's INTERVAL steps ever reach an allowed hour and minute."""
    step = gcd(rule.interval, _MINUTES_A_DAY)
    first = start.hour * 60 + start.minute
    minutes = set(byminute) if byminute else None
    return any(
        minute_of_day // 60 in rule.byhour and (minutes is None or minute_of_day % 60 in minutes)
        for minute_of_day in range(first % step, _MINUTES_A_DAY, step)
    )


def tick_cost(rule: Rule, clock: _Clock, finds_days: bool) -> float:
    """Work units of one metered step: a YEARLY/MONTHLY period, else a calendar month.

    Measured on dateutil 2.9 with rules that never match (the dearest case:
    each day passes most filters): a YEARLY period is 25-60 us plus about 6 us
    per BYSETPOS value (a list of the year's days per value), 0.5 us per BYDAY
    ordinal and month and 1 us per BYWEEKNO value; a MONTHLY period 5 us plus
    1 us per BYSETPOS value; a month of WEEKLY periods 20 us plus 2.5 us per
    BYSETPOS value; a month of DAILY periods about 40 us; HOURLY and MINUTELY
    leave an excluded day in one step of up to 24 (BYHOUR) or 60 (BYMINUTE)
    tries, 0.35 us each. A plan that finds days steps a year at a time, as a
    YEARLY rule without BYSETPOS.
    """
    if finds_days:
        return _FINDER_YEAR
    freq, setpos = clock.freq, len(clock.bysetpos)
    if freq == YEARLY:
        ordinals = len(rule.bynweekday) * (len(rule.bymonth) or 1)
        return 60 + 6.5 * setpos + 0.5 * ordinals + len(rule.byweekno)
    if freq == MONTHLY:
        return 5 + setpos + 0.3 * len(rule.bynweekday)
    if freq == WEEKLY:
        return 20 + 2.5 * setpos
    if freq == DAILY:
        return 45
    if freq == HOURLY:
        return 110 + (250 if clock.byhour else 0)
    return 130 + (650 if clock.byminute else 0)


def yield_cost(clock: _Clock, finds_days: bool) -> float:
    """Work units of a wall time found and not returned (HOURLY/MINUTELY: a period each)."""
    if finds_days:
        return 1.5
    if clock.freq == HOURLY:
        return 6 + (8 if clock.byhour else 0)
    if clock.freq == MINUTELY:
        return 8 + (21 if clock.byminute else 0)
    return 1.5
