"""Occurrences of a plan between two instants, with bounded work (docs/behaviour.md §4, §6).

``dateutil.rrule`` expands the rule on naive wall-clock datetimes and each
wall time becomes a UTC instant through ``zoneinfo`` with ``fold=0``: a wall
time inside a spring-forward gap moves forward by the gap (02:30 in
Europe/Berlin on 2026-03-29 is 03:30 CEST, 01:30 UTC) and one that occurs
twice takes its first instant. An UNTIL with ``Z`` is compared with each
occurrence's UTC instant, so that it is exact across DST changes; one
without is a wall time, as dateutil reads it. Occurrences come back
ascending and without duplicates (a gap can map two wall times to one
instant), none before the start or after ``MAX_TIMESTAMP``.

A query of a window after the start of a rule without COUNT starts dateutil
in the rule's period (year, month, week, day, hour or minute on the INTERVAL
lattice from DTSTART) that holds the window's start less 26 hours (the
largest DST gap in tzdata is 24 hours), from the period's start when BYSETPOS
needs all of it. A COUNT rule is counted from DTSTART, so it always starts
there (``parse_schedule`` does that once, for every occurrence). Every
search runs under a meter (``metering``) with a horizon two days past the
window's last wall time (or UNTIL). A DAILY to MINUTELY plan that finds days
runs dateutil as a YEARLY rule of its day parts (``lattice_walls``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Final

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, weekdays

from maintsvc.numbers import MAX_TIMESTAMP
from maintsvc.rrules.metering import Meter, MeteredRRule, walk
from maintsvc.rrules.parse import Freq
from maintsvc.rrules.plan import EPOCH, SECOND, Plan
from maintsvc.rrules.zones import wall

_MINUTE: Final = timedelta(minutes=1)
_HOUR: Final = timedelta(hours=1)
_DAY: Final = timedelta(days=1)
_WEEK: Final = timedelta(weeks=1)
_MAXYEAR: Final = 9999
# Wall times up to this far before a window can land in it: the largest
# spring-forward gap in tzdata is 24 hours (Asia/Manila 1844, Pacific/Apia 2011).
_GAP_MARGIN: Final = timedelta(hours=26)
# How far past a window's last wall time dateutil keeps looking (>= any fold).
_HORIZON_MARGIN: Final = timedelta(days=2)
_MINUTES_A_DAY: Final = 1440
_EVERY_WEEKDAY: Final = tuple(weekdays)


def collect(plan: Plan, after_ts: int, before_ts: int, limit: int) -> tuple[list[int], bool]:
    """Up to ``limit`` occurrences in [after_ts, before_ts), and whether the search finished.

    An unfinished search (the meter's budget ran out) returns what it found
    up to there; the caller decides whether that is an answer.
    """
    search = _search(plan, after_ts, before_ts, limit)
    if search is None:
        return [], True
    # A plan that finds days runs dateutil as a YEARLY rule: its meter counts years.
    freq: Freq = YEARLY if plan.finds_days else plan.freq
    interval = 1 if plan.finds_days else plan.interval
    meter = Meter(freq, interval, plan.tick_cost, search.start, search.horizon)
    for moment in _walls(plan, search.start, search.horizon, meter):
        if meter.exhausted() or not search.take(moment, meter):
            break
    return sorted(search.found)[:limit], not meter.budget_hit


@dataclass(slots=True)
class _Search:
    """One query's walk over wall times: where it starts, ends, and what it has found."""

    plan: Plan
    low: int  # instants in [low, high) are returned
    high: int
    limit: int
    target: datetime  # every wall time before it maps before `low`, even one in a DST gap
    start: datetime  # where dateutil starts (see lattice_start)
    horizon: datetime  # the last wall time dateutil is asked for
    found: set[int] = field(default_factory=set)
    seen: int = 0  # wall times counted towards COUNT
    # A wall time in a DST gap maps later than the wall times just after the
    # gap; until `settled` is passed, a later wall time may still map lower.
    settled: datetime = datetime.min

    def take(self, moment: datetime, meter: Meter) -> bool:
        """Account for one wall time dateutil yielded; whether the walk goes on."""
        plan = self.plan
        if moment < plan.dtstart or (
            plan.hour_filter is not None and moment.hour not in plan.hour_filter
        ):
            meter.add(plan.yield_cost)
            return True
        if plan.until_wall is not None and moment > plan.until_wall:
            return False
        self.seen += 1
        if plan.count is not None and self.seen > plan.count:
            return False
        if moment < self.target:
            meter.add(plan.yield_cost)
            return True
        return self._place(moment, meter)

    def _place(self, moment: datetime, meter: Meter) -> bool:
        """Turn a wall time at or after the target into an instant and keep it if it fits."""
        aware = moment.replace(tzinfo=self.plan.zone)
        offset = aware.utcoffset()
        later_offset = aware.replace(fold=1).utcoffset()
        assert offset is not None and later_offset is not None
        instant = (moment - EPOCH) // SECOND - offset // SECOND
        if self.low <= instant < self.high:
            self.found.add(instant)
        else:
            meter.add(self.plan.yield_cost)
        if later_offset > offset:  # a gap: wall times just after it map lower
            self.settled = max(self.settled, moment + (later_offset - offset))
            return True
        return moment < self.settled or (instant < self.high and len(self.found) < self.limit)


def _search(plan: Plan, after_ts: int, before_ts: int, limit: int) -> _Search | None:
    """The walk a query needs, or None when it certainly finds nothing."""
    low = max(after_ts, plan.start_ts)
    high = min(before_ts, MAX_TIMESTAMP + 1)
    if plan.until_utc is not None:
        high = min(high, plan.until_utc + 1)
    if plan.empty or limit <= 0 or low >= high:
        return None
    low_wall = wall(plan.zone, low)
    if low_wall is None:
        return None
    target = max(_sub(low_wall.replace(second=0), _GAP_MARGIN), plan.dtstart)
    horizon = _horizon(plan, high)
    start = plan.dtstart if plan.count is not None else lattice_start(plan, target)
    if start is None or start > horizon:
        return None
    return _Search(plan, low, high, limit, target, start, horizon, settled=start)


def _horizon(plan: Plan, high: int) -> datetime:
    """The last wall time worth asking dateutil for, for instants before ``high``."""
    high_wall = wall(plan.zone, high - 1)
    horizon = datetime.max if high_wall is None else _add(high_wall, _HORIZON_MARGIN)
    if plan.until_wall is not None:
        horizon = min(horizon, plan.until_wall)
    return horizon


def _walls(plan: Plan, start: datetime, until: datetime, meter: Meter) -> Iterator[datetime]:
    """The rule's wall times from ``start`` (see lattice_start) until the meter stops it."""
    if plan.finds_days:
        yield from lattice_walls(plan, start, until, meter)
        return
    if not plan.times:
        yield from walk(_rrule(plan, meter, start, until, plan.byhour, plan.byminute, plan.second))
        return
    # dateutil finds the days (at midnight), the plan's times are added to each.
    midnight = datetime.combine(start.date(), time())
    for day in walk(_rrule(plan, meter, midnight, until, (0,), (0,), 0)):
        date = day.date()
        for at in plan.times:
            yield datetime.combine(date, at)


def lattice_walls(plan: Plan, start: datetime, until: datetime, meter: Meter) -> Iterator[datetime]:
    """A DAILY, HOURLY or MINUTELY rule's wall times, from the days a YEARLY rule finds.

    dateutil's DAILY to MINUTELY loops step through every day the INTERVAL
    lattice reaches, however few pass the day parts; a YEARLY rule with the
    same day parts yields just those days, a year at a time. The times on
    each are the rule's lattice points (DTSTART plus whole INTERVALs, in
    wall-clock time as dateutil counts them) in the allowed hours and
    minutes: the same wall times, in the same order, as dateutil's loop.
    The plan chooses this when it costs less (``plan.day_cost``).
    """
    midnight = datetime.combine(start.date(), time())
    origin = datetime.combine(plan.dtstart.date(), time())
    for day in walk(_day_finder(plan, meter, midnight, until)):
        meter.add(plan.day_cost)
        minutes = (day - origin) // _MINUTE  # whole days since DTSTART's midnight
        if plan.freq == DAILY:
            if minutes // _MINUTES_A_DAY % plan.interval == 0:
                yield from (datetime.combine(day.date(), at) for at in plan.times)
            continue
        for minute in _lattice_minutes(plan, minutes):
            yield from _times_at(plan, day, minute)


def _day_finder(plan: Plan, meter: Meter, start: datetime, until: datetime) -> MeteredRRule:
    """A YEARLY rule of the plan's day parts: the days any of its times can fall on."""
    only_months = not (plan.bymonthday or plan.byyearday or plan.byweekday)
    return MeteredRRule(
        meter,
        YEARLY,
        dtstart=start,
        until=until,
        bymonth=plan.bymonth or None,
        bymonthday=plan.bymonthday or None,
        byyearday=plan.byyearday or None,
        # BYMONTH alone would make dateutil take DTSTART's day of the month.
        byweekday=_EVERY_WEEKDAY if only_months else plan.byweekday or None,
        byhour=(0,),
        byminute=(0,),
        bysecond=(0,),
    )


def _lattice_minutes(plan: Plan, day_start: int) -> Iterator[int]:
    """Minutes of the day (0-1439) on the plan's lattice, in its allowed hours, ascending.

    ``day_start`` is the day's first minute counted from DTSTART's midnight;
    HOURLY's lattice is DTSTART's hour plus whole INTERVALs of hours,
    MINUTELY's DTSTART's minute plus whole INTERVALs of minutes.
    """
    first = plan.dtstart.hour * 60
    step = plan.interval * 60
    if plan.freq == MINUTELY:
        first, step = first + plan.dtstart.minute, plan.interval
    phase = (first - day_start) % step
    for hour in plan.day_hours:
        low = hour * 60
        minute = low + (phase - low) % step
        while minute < low + 60:
            yield minute
            minute += step


def _times_at(plan: Plan, day: datetime, minute: int) -> Iterator[datetime]:
    """The wall times at a lattice point: HOURLY's BYMINUTE in that hour, or the minute."""
    hour, at = divmod(minute, 60)
    if plan.freq == HOURLY:
        for each in plan.byminute:
            yield day.replace(hour=hour, minute=each, second=plan.second)
    elif not plan.byminute or at in plan.byminute:
        yield day.replace(hour=hour, minute=at, second=plan.second)


def _rrule(
    plan: Plan,
    meter: Meter,
    start: datetime,
    until: datetime,
    byhour: tuple[int, ...],
    byminute: tuple[int, ...],
    second: int,
) -> MeteredRRule:
    """The metered dateutil rule of a plan; an empty part is dateutil's None."""
    return MeteredRRule(
        meter,
        plan.freq,
        dtstart=start,
        interval=plan.interval,
        wkst=plan.wkst,
        until=until,
        bysetpos=plan.bysetpos or None,
        bymonth=plan.bymonth or None,
        bymonthday=plan.bymonthday or None,
        byyearday=plan.byyearday or None,
        byweekno=plan.byweekno or None,
        byweekday=plan.byweekday or None,
        byhour=byhour or None,
        byminute=byminute or None,
        bysecond=(second,),
    )


def lattice_start(plan: Plan, target: datetime) -> datetime | None:
    """Where dateutil can start so that it yields every occurrence >= target, and no other.

    That is the start of the rule's period (on the INTERVAL lattice from
    DTSTART) holding ``target``, or ``target`` itself when no BYSETPOS needs the
    whole period, or the next lattice period when ``target`` falls between
    periods; DTSTART itself for ``target`` in the first period. None: no more
    periods before year 9999.
    """
    if target <= plan.dtstart:
        return plan.dtstart
    try:
        k, period, end, following = _period(plan, target)
    except OverflowError:
        return None
    if k <= 0:
        period = plan.dtstart
    if plan.bysetpos:
        return period
    if end is None or target < end:
        return max(period, target)
    return None if following is None or following == datetime.max else following


def _period(plan: Plan, target: datetime) -> tuple[int, datetime, datetime | None, datetime | None]:
    """The lattice period holding ``target``: its index from DTSTART's, its start, the
    start of the unit after it, and the start of the next period (None past year 9999)."""
    first, step = plan.dtstart, plan.interval
    if plan.freq == YEARLY:
        k = (target.year - first.year) // step
        year = first.year + k * step
        return k, datetime(year, 1, 1), _year_start(year + 1), _year_start(year + step)
    if plan.freq == MONTHLY:
        base = first.year * 12 + first.month - 1
        k = (target.year * 12 + target.month - 1 - base) // step
        index = base + k * step
        period = datetime(index // 12, index % 12 + 1, 1)
        return k, period, _month_start(index + 1), _month_start(index + step)
    origin, unit = _origin(plan)
    k = (target - origin) // unit // step
    period = origin + k * step * unit
    return k, period, _add(period, unit), _add(period, step * unit)


def _origin(plan: Plan) -> tuple[datetime, timedelta]:
    """The lattice's first period start and unit, for WEEKLY to MINUTELY."""
    first = plan.dtstart
    if plan.freq == WEEKLY:
        monday = first.date() - timedelta(days=(first.weekday() - plan.wkst) % 7)
        return datetime.combine(monday, time()), _WEEK
    if plan.freq == DAILY:
        return datetime.combine(first.date(), time()), _DAY
    if plan.freq == HOURLY:
        return first.replace(minute=0), _HOUR
    return first, _MINUTE


def _year_start(year: int) -> datetime | None:
    return datetime(year, 1, 1) if year <= _MAXYEAR else None


def _month_start(index: int) -> datetime | None:
    return datetime(index // 12, index % 12 + 1, 1) if index // 12 <= _MAXYEAR else None


def _add(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:
        return datetime.max


def _sub(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment - delta
    except OverflowError:
        return datetime.min
