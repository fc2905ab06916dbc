"""Recurrence rules: validating RFC 5545 RRULE text and expanding it without running away.

A schedule is an RRULE value (``FREQ=WEEKLY;BYDAY=SU;BYHOUR=2``), a start
(UTC seconds, whole minutes) and an IANA time zone. The start, seen as
wall-clock time in the zone, is the rule's DTSTART; BYHOUR, BYDAY, ... and an
UNTIL without ``Z`` are wall-clock times in that zone (a date alone is its
midnight, as dateutil reads it); an UNTIL with ``Z`` is an instant, compared
with each occurrence's UTC instant so that it is exact across DST changes.
``dateutil.rrule`` expands the rule on naive wall-clock datetimes and each
wall time becomes a UTC instant through ``zoneinfo`` with ``fold=0``: a wall
time inside a spring-forward gap moves forward by the gap (02:30 in
Europe/Berlin on 2026-03-29 is 03:30 CEST, 01:30 UTC) and one that occurs
twice takes its first instant. Occurrences are what dateutil yields from
DTSTART (the start itself only if the rule matches it), returned ascending
and without duplicates (a gap can map two wall times to one instant), none
before the start or after ``MAX_TIMESTAMP``.

Validation (``normalise_rrule``) accepts RFC 5545 RRULE values, parts in any
order and case, with the RFC's restrictions (FREQ required, no part twice,
not both COUNT and UNTIL, BYWEEKNO only with YEARLY, no BYYEARDAY with
MONTHLY/WEEKLY/DAILY, no BYMONTHDAY with WEEKLY, BYDAY ordinals only with
MONTHLY/YEARLY and not with BYWEEKNO, BYSETPOS only next to another BYxxx
part; no DTSTART, DTEND or DURATION inside) and these limits:

- no FREQ=SECONDLY and no BYSECOND other than 0 (schedules are in minutes);
- ``INTERVAL`` <= ``MAX_INTERVAL`` (1000);
- ``COUNT`` <= ``MAX_COUNT`` (10000): a COUNT rule is counted from its start
  by every query, so this caps what one query iterates;
- at most ``MAX_RRULE_LENGTH`` (4096) characters (every RFC list at full
  length, without repeats, fits in about 11000; real rules in under 200).

``parse_schedule`` also requires an occurrence within ``FIRST_OCCURRENCE_DAYS``
of the start: 365 * 10 + 3 days, ten calendar years whatever their leap days.

Bounded expansion. dateutil cannot stop a search that finds nothing: for
``FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31`` it walks to year 9999 (0.2 s), for the
same rule with FREQ=DAILY 3 s. So every expansion runs dateutil on a
subclass that meters it: dateutil's loop reads ``_byeaster`` (a part this
module never uses) each time it enters a new year (YEARLY), a new month
(MONTHLY) or a new calendar month (other frequencies), so counting those
reads tells how many months the search has at least covered and roughly how
much work it has done. A search stops

- once it is past the calendar month of its horizon (two days after the end
  of the query window, or UNTIL): exact, nothing that could match is lost;
- or once its work reaches ``_WORK_BUDGET``, in units of about a microsecond
  of dateutil (100 ms; see ``_tick_cost``). That covers a ten-year search for
  any rule but one that pairs hundreds of BYSETPOS values with finding
  nothing, which ``parse_schedule`` rejects as "too expensive to expand". A
  query stopped by it returns what it found up to there, which only a rule
  whose occurrences are centuries apart (or a huge COUNT of a MINUTELY rule
  with an INTERVAL that does not divide a day) can notice.

The rest keeps the work per call small:

- a query of a window after the start of a rule without COUNT starts dateutil
  in the rule's period (year, month, week, day, hour or minute on the
  INTERVAL lattice from DTSTART) that holds the window's start less 26 hours
  (the largest DST gap in tzdata is 24 hours), with every part dateutil
  derives from DTSTART passed explicitly, so it yields exactly what an
  expansion from DTSTART yields there (from the period's start when BYSETPOS
  needs all of it);
- HOURLY and MINUTELY rules whose INTERVAL divides a day reach the same times
  every day: they run as DAILY rules at those times. For YEARLY to DAILY
  rules without BYSETPOS dateutil only finds the days and this module adds
  the times, so starting inside a period does not build every earlier
  candidate of it;
- BYSETPOS of HOURLY, MINUTELY and DAILY rules, whose periods hold the same
  times every time, becomes the fixed set of times it picks; other MINUTELY
  rules apply BYHOUR here (dateutil steps minute by minute through excluded
  hours);
- a rule that provably never matches (a BYHOUR or BYMINUTE no INTERVAL step
  reaches, a BYSETPOS beyond any period) is not searched at all.

Measured (time.perf_counter, best of 3, warm, on a 2-core machine busy with
other test suites): over some 60 pathological rules (those in
``tests/unit/test_rrules.py`` among them) the slowest calls took 30-80 ms,
never above 140 ms; a first call in a process adds about 30 ms of loading (zone list,
zone file, dateutil). A query costs at most the budget plus about a
microsecond per occurrence it returns (``limit`` is the caller's choice).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from math import gcd
from typing import Final, Literal
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY, rrule, weekday

from maintsvc.errors import ValidationError
from maintsvc.numbers import MAX_TIMESTAMP

__all__ = [
    "FIRST_OCCURRENCE_DAYS",
    "MAX_COUNT",
    "MAX_INTERVAL",
    "MAX_RRULE_LENGTH",
    "MAX_TIMESTAMP",
    "Schedule",
    "normalise_rrule",
    "parse_schedule",
    "validate_timezone",
]

MAX_INTERVAL: Final = 1000
MAX_COUNT: Final = 10000
MAX_RRULE_LENGTH: Final = 4096
FIRST_OCCURRENCE_DAYS: Final = 365 * 10 + 3

_REQUIRED: Final = "rrule is required and must be a non-empty string"
_INVALID: Final = "rrule is not a valid iCalendar RRULE string: "
_NO_OCCURRENCE: Final = "it yields no occurrence within 10 years of start_date_time"
_TIMEZONE: Final = "timezone must be a valid IANA time zone name"

_Freq = Literal[0, 1, 2, 3, 4, 5]

_FREQS: Final[dict[str, _Freq]] = {
    "YEARLY": YEARLY,
    "MONTHLY": MONTHLY,
    "WEEKLY": WEEKLY,
    "DAILY": DAILY,
    "HOURLY": HOURLY,
    "MINUTELY": MINUTELY,
}
_WEEKDAYS: Final = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_PART_NAMES: Final = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
_NOT_IN_RRULE: Final = ("DTSTART", "DTEND", "DURATION")

_UNSIGNED: Final = re.compile(r"[0-9]{1,2}")
_SIGNED_2: Final = re.compile(r"[+-]?[0-9]{1,2}")
_SIGNED_3: Final = re.compile(r"[+-]?[0-9]{1,3}")
_DIGITS: Final = re.compile(r"[0-9]+")
_ZERO: Final = re.compile(r"0{1,2}")
_WEEKDAYNUM: Final = re.compile(r"(?:([+-]?)([0-9]{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_UNTIL: Final = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})(?:T([0-9]{2})([0-9]{2})([0-9]{2})(Z?))?"
)
_PRINTABLE_NAME: Final = re.compile(r"[A-Za-z0-9-]{1,30}")

_EPOCH: Final = datetime(1970, 1, 1)
_SECOND: Final = timedelta(seconds=1)
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

# Work is counted in units of roughly a microsecond of dateutil on one core.
_WORK_BUDGET: Final = 100_000


def _invalid(reason: str) -> ValidationError:
    return ValidationError(_INVALID + reason)


# -- validation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    """A parsed RRULE value; lists are sorted and without duplicates."""

    freq: _Freq
    interval: int
    count: int | None
    until: datetime | None
    until_is_utc: bool
    wkst: int
    bymonth: tuple[int, ...]
    bymonthday: tuple[int, ...]
    byyearday: tuple[int, ...]
    byweekno: tuple[int, ...]
    byweekday: tuple[int, ...]
    bynweekday: tuple[tuple[int, int], ...]
    byhour: tuple[int, ...]
    byminute: tuple[int, ...]
    bysetpos: tuple[int, ...]
    bysecond: bool


def normalise_rrule(value: object) -> str:
    """The rule text, stripped and without a leading ``RRULE:``, once it is a valid RRULE."""
    text = _strip(value)
    _parse(text)
    return text


def _strip(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(_REQUIRED)
    text = value.strip()
    if text[:6].upper() == "RRULE:":
        text = text[6:].strip()
    if not text:
        raise _invalid("FREQ is required")
    return text


@lru_cache(maxsize=512)
def _parse(text: str) -> _Rule:
    if len(text) > MAX_RRULE_LENGTH:
        raise _invalid(f"it is longer than {MAX_RRULE_LENGTH} characters")
    if not text.isascii():
        raise _invalid("it may only contain ASCII characters")
    parts: dict[str, str] = {}
    for raw in text.split(";"):
        name, sep, value = raw.partition("=")
        key = name.upper()
        if not raw:
            raise _invalid("it has an empty rule part")
        if key.startswith(_NOT_IN_RRULE):
            bad = next(word for word in _NOT_IN_RRULE if key.startswith(word))
            raise _invalid(f"{bad} is not allowed in an RRULE")
        if key not in _PART_NAMES:
            shown = f" '{name}'" if _PRINTABLE_NAME.fullmatch(name) else ""
            raise _invalid(f"unknown rule part{shown}")
        if not sep:
            raise _invalid(f"{key} has no value")
        if key in parts:
            raise _invalid(f"{key} appears more than once")
        parts[key] = value

    if "FREQ" not in parts:
        raise _invalid("FREQ is required")
    freq_name = parts["FREQ"].upper()
    if freq_name == "SECONDLY":
        raise _invalid("FREQ=SECONDLY is not supported")
    if freq_name not in _FREQS:
        raise _invalid("FREQ must be YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY")
    freq = _FREQS[freq_name]
    if "COUNT" in parts and "UNTIL" in parts:
        raise _invalid("COUNT and UNTIL must not be used together")

    interval = _positive(parts, "INTERVAL", MAX_INTERVAL) or 1
    count = _positive(parts, "COUNT", MAX_COUNT)
    until, until_is_utc = _until(parts.get("UNTIL"))
    wkst = 0
    if "WKST" in parts:
        wkst_value = _WEEKDAYS.get(parts["WKST"].upper())
        if wkst_value is None:
            raise _invalid("WKST must be one of MO, TU, WE, TH, FR, SA, SU")
        wkst = wkst_value
    if "BYSECOND" in parts and not all(
        _ZERO.fullmatch(item) for item in parts["BYSECOND"].split(",")
    ):
        raise _invalid("BYSECOND must be 0 (schedules are in whole minutes)")
    byminute = _numbers(parts, "BYMINUTE", 59)
    byhour = _numbers(parts, "BYHOUR", 23)
    bymonth = _numbers(parts, "BYMONTH", 12, low=1)
    bymonthday = _signed(parts, "BYMONTHDAY", 31, _SIGNED_2)
    byyearday = _signed(parts, "BYYEARDAY", 366, _SIGNED_3)
    byweekno = _signed(parts, "BYWEEKNO", 53, _SIGNED_2)
    bysetpos = _signed(parts, "BYSETPOS", 366, _SIGNED_3)
    byweekday, bynweekday = _byday(parts.get("BYDAY"))

    if byweekno and freq != YEARLY:
        raise _invalid("BYWEEKNO is only allowed with FREQ=YEARLY")
    if byyearday and freq in (MONTHLY, WEEKLY, DAILY):
        raise _invalid("BYYEARDAY is not allowed with FREQ=MONTHLY, WEEKLY or DAILY")
    if bymonthday and freq == WEEKLY:
        raise _invalid("BYMONTHDAY is not allowed with FREQ=WEEKLY")
    if bynweekday and freq not in (MONTHLY, YEARLY):
        raise _invalid("BYDAY ordinals such as 1MO need FREQ=MONTHLY or FREQ=YEARLY")
    if bynweekday and byweekno:
        raise _invalid("BYDAY ordinals such as 1MO are not allowed with BYWEEKNO")
    if bysetpos and not any(name.startswith("BY") and name != "BYSETPOS" for name in parts):
        raise _invalid("BYSETPOS needs another BYxxx rule part")

    return _Rule(
        freq=freq,
        interval=interval,
        count=count,
        until=until,
        until_is_utc=until_is_utc,
        wkst=wkst,
        bymonth=bymonth,
        bymonthday=bymonthday,
        byyearday=byyearday,
        byweekno=byweekno,
        byweekday=byweekday,
        bynweekday=bynweekday,
        byhour=byhour,
        byminute=byminute,
        bysetpos=bysetpos,
        bysecond="BYSECOND" in parts,
    )


def _positive(parts: dict[str, str], name: str, maximum: int) -> int | None:
    if name not in parts:
        return None
    value = parts[name]
    if not _DIGITS.fullmatch(value):
        raise _invalid(f"{name} must be a positive integer")
    digits = value.lstrip("0")
    number = int(digits or "0") if len(digits) <= 12 else maximum + 1
    if number == 0:
        raise _invalid(f"{name} must be a positive integer")
    if number > maximum:
        raise _invalid(f"{name} must be at most {maximum}")
    return number


def _numbers(parts: dict[str, str], name: str, high: int, low: int = 0) -> tuple[int, ...]:
    if name not in parts:
        return ()
    values = set()
    for item in parts[name].split(","):
        if not _UNSIGNED.fullmatch(item) or not low <= int(item) <= high:
            raise _invalid(f"{name} values must be integers from {low} to {high}")
        values.add(int(item))
    return tuple(sorted(values))


def _signed(
    parts: dict[str, str], name: str, high: int, pattern: re.Pattern[str]
) -> tuple[int, ...]:
    if name not in parts:
        return ()
    values = set()
    for item in parts[name].split(","):
        if not pattern.fullmatch(item) or not 1 <= abs(int(item)) <= high:
            raise _invalid(f"{name} values must be integers from 1 to {high} or -{high} to -1")
        values.add(int(item))
    return tuple(sorted(values))


def _byday(value: str | None) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    if value is None:
        return (), ()
    plain: set[int] = set()
    ordinal: set[tuple[int, int]] = set()
    for item in value.upper().split(","):
        match = _WEEKDAYNUM.fullmatch(item)
        if match is None or (match.group(2) and not 1 <= int(match.group(2)) <= 53):
            raise _invalid("BYDAY values must be weekdays such as MO, 1MO or -1FR (1 to 53)")
        sign, number, name = match.groups()
        if number is None:
            plain.add(_WEEKDAYS[name])
        else:
            ordinal.add((_WEEKDAYS[name], -int(number) if sign == "-" else int(number)))
    return tuple(sorted(plain)), tuple(sorted(ordinal))


def _until(value: str | None) -> tuple[datetime | None, bool]:
    if value is None:
        return None, False
    match = _UNTIL.fullmatch(value.upper())
    try:
        if match is None:
            raise ValueError(value)
        year, month, day, hour, minute, second, zulu = match.groups()
        until = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        raise _invalid(
            "UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS, optionally with Z)"
        ) from None
    return until, bool(zulu)


def validate_timezone(value: object) -> str:
    """The name, once it names an IANA time zone that zoneinfo can load."""
    if not isinstance(value, str) or not 0 < len(value) <= 64 or value not in _zone_names():
        raise ValidationError(_TIMEZONE)
    try:
        ZoneInfo(value)
    except Exception:  # a missing or unreadable zone file: not a zone we can use
        raise ValidationError(_TIMEZONE) from None
    return value


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """IANA zone names: tzdata's list, so that system files like ``localtime`` do not count."""
    try:
        from importlib import resources

        return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())
    except (ImportError, OSError):  # pragma: no cover - tzdata is a runtime dependency
        import zoneinfo

        junk = {"localtime", "posixrules", "Factory"}
        return frozenset(name for name in zoneinfo.available_timezones() if name not in junk)


# -- schedules -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """A rule made concrete for one start and zone: dateutil arguments, all explicit.

    Every argument dateutil would derive from DTSTART is given, so that
    dateutil can start at any later period of the lattice and still yield
    what the expansion from DTSTART yields there.
    """

    zone: ZoneInfo
    start_ts: int
    dtstart: datetime
    freq: _Freq
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
    tick_cost: float
    yield_cost: float
    empty: bool


@dataclass(frozen=True, slots=True)
class Schedule:
    """An expanded-on-demand rule: cheap to build, every query bounded."""

    rrule: str
    start_ts: int
    timezone: str
    _plan: _Plan = field(repr=False)
    _first: int | None = field(repr=False)

    def occurrences_between(self, after_ts: int, before_ts: int, limit: int) -> list[int]:
        """Occurrences t with after_ts <= t < before_ts, ascending, at most ``limit``."""
        return _collect(self._plan, int(after_ts), int(before_ts), int(limit))[0]

    def first_occurrence(self) -> int | None:
        return self._first


def parse_schedule(rrule_text: str, start_ts: int, tz_name: str) -> Schedule:
    """The schedule of a rule from ``start_ts`` (seconds are dropped) in ``tz_name``.

    Raises ValidationError when the rule or zone is invalid or the rule has no
    occurrence within ``FIRST_OCCURRENCE_DAYS`` of the start.
    """
    text = normalise_rrule(rrule_text)
    rule = _parse(text)
    name = validate_timezone(tz_name)
    zone = ZoneInfo(name)
    start_ts = int(start_ts)  # also takes the Decimal a DynamoDB item holds
    start_ts -= start_ts % 60
    dtstart = _wall(zone, start_ts)
    if dtstart is None or start_ts > MAX_TIMESTAMP:
        raise _invalid(_NO_OCCURRENCE)
    plan = _make_plan(rule, zone, start_ts, dtstart)
    found, complete = _collect(plan, start_ts, start_ts + FIRST_OCCURRENCE_DAYS * 86400 + 1, 1)
    if not found:
        raise _invalid(_NO_OCCURRENCE if complete else "it is too expensive to expand")
    return Schedule(text, start_ts, name, plan, found[0])


def _make_plan(rule: _Rule, zone: ZoneInfo, start_ts: int, start: datetime) -> _Plan:
    freq, interval = rule.freq, rule.interval
    byhour, byminute, bysetpos = rule.byhour, rule.byminute, rule.bysetpos
    # dateutil's default second is DTSTART's: not 0 only in zones with LMT offsets.
    second = 0 if rule.bysecond else start.second
    hour_filter: frozenset[int] | None = None
    times: tuple[time, ...] = ()
    empty = False
    if freq <= DAILY:
        byhour, byminute = byhour or (start.hour,), byminute or (start.minute,)
        grid = [time(h, m, second) for h in byhour for m in byminute]
        if bysetpos and freq == DAILY:
            # Every day holds the same times, so BYSETPOS picks the same ones every day.
            grid, bysetpos = [grid[i] for i in _positions(bysetpos, len(grid))], ()
            empty = not grid
        elif bysetpos:
            longest = {WEEKLY: 7, MONTHLY: 31, YEARLY: 366}[freq] * len(grid)
            bysetpos = tuple(p for p in bysetpos if abs(p) <= longest)
            empty = not bysetpos
        if not bysetpos:
            # dateutil finds the days, this module adds the times: a period's
            # candidates before the search start are then days, not days x times.
            times = tuple(grid)
    elif freq == HOURLY:
        # dateutil drops hours the INTERVAL steps never reach (and fails when none is left).
        step = gcd(interval, 24)
        byhour = tuple(h for h in byhour if (h - start.hour) % step == 0)
        byminute = byminute or (start.minute,)
        if bysetpos:  # every hour holds the same minutes: BYSETPOS picks some of them
            byminute = tuple(byminute[i] for i in _positions(bysetpos, len(byminute)))
            bysetpos = ()
        empty = (bool(rule.byhour) and not byhour) or not byminute
        if 24 % interval == 0:
            # The steps reach the same hours every day: a DAILY rule at those times.
            times = tuple(
                time(h, m, second)
                for h in range(start.hour % interval, 24, interval)
                if not rule.byhour or h in rule.byhour
                for m in byminute
            )
            freq, interval, byhour, byminute = DAILY, 1, (), ()
    else:
        step = gcd(interval, 60)
        byminute = tuple(m for m in byminute if (m - start.minute) % step == 0)
        empty = bool(rule.byminute) and not byminute
        if bysetpos:  # every minute holds one time: BYSETPOS keeps it or nothing
            empty, bysetpos = empty or not {1, -1} & set(bysetpos), ()
        if 1440 % interval == 0:
            # The steps reach the same minutes every day: a DAILY rule at those times.
            first = start.hour * 60 + start.minute
            times = tuple(
                time(t // 60, t % 60, second)
                for t in range(first % interval, 1440, interval)
                if (not rule.byhour or t // 60 in rule.byhour)
                and (not rule.byminute or t % 60 in rule.byminute)
            )
            empty = empty or not times
            freq, interval, byhour, byminute = DAILY, 1, (), ()
        elif rule.byhour:
            # Applied here, not by dateutil, which would step through excluded hours.
            hour_filter, byhour = frozenset(rule.byhour), ()
            empty = empty or not _minutely_reachable(rule, start, byminute)

    bymonth, bymonthday, byweekday = rule.bymonth, rule.bymonthday, rule.byweekday
    if not (rule.byweekno or rule.byyearday or bymonthday or byweekday or rule.bynweekday):
        # The parts dateutil derives from DTSTART when no day part is given.
        if freq == YEARLY:
            bymonth, bymonthday = bymonth or (start.month,), (start.day,)
        elif freq == MONTHLY:
            bymonthday = (start.day,)
        elif freq == WEEKLY:
            byweekday = (start.weekday(),)
    weekdays = tuple(weekday(d) for d in byweekday) + tuple(
        weekday(d, n) for d, n in rule.bynweekday
    )

    until_wall, until_utc = rule.until, None
    if rule.until is not None and rule.until_is_utc:
        until_utc = (rule.until - _EPOCH) // _SECOND
        until_wall = None
    return _Plan(
        zone=zone,
        start_ts=start_ts,
        dtstart=start,
        freq=freq,
        interval=interval,
        wkst=rule.wkst,
        count=rule.count,
        until_wall=until_wall,
        until_utc=until_utc,
        bymonth=bymonth,
        bymonthday=bymonthday,
        byyearday=rule.byyearday,
        byweekno=rule.byweekno,
        byweekday=weekdays,
        byhour=byhour,
        byminute=byminute,
        bysetpos=bysetpos,
        times=times,
        hour_filter=hour_filter,
        second=second,
        tick_cost=_tick_cost(freq, bysetpos, rule, byhour, byminute),
        yield_cost=_yield_cost(freq, byhour, byminute),
        empty=empty,
    )


def _positions(bysetpos: tuple[int, ...], size: int) -> list[int]:
    """The indexes BYSETPOS picks from a period of ``size`` sorted times, ascending."""
    return sorted({p - 1 if p > 0 else size + p for p in bysetpos if abs(p) <= size})


def _minutely_reachable(rule: _Rule, start: datetime, byminute: tuple[int, ...]) -> bool:
    """Whether a MINUTELY rule's INTERVAL steps ever reach an allowed hour and minute."""
    step = gcd(rule.interval, 1440)
    first = start.hour * 60 + start.minute
    minutes = set(byminute) if byminute else None
    return any(
        minute_of_day // 60 in rule.byhour and (minutes is None or minute_of_day % 60 in minutes)
        for minute_of_day in range(first % step, 1440, step)
    )


def _tick_cost(
    freq: _Freq, bysetpos: tuple[int, ...], rule: _Rule, byhour: object, byminute: object
) -> float:
    """Work units of one metered step: a YEARLY/MONTHLY period, else a calendar month.

    Measured on dateutil 2.9 with rules that never match (the dearest case:
    each day passes most filters): a YEARLY period is 25-60 us plus about 6 us
    per BYSETPOS value (a list of the year's days per value), 0.5 us per BYDAY
    ordinal and month and 1 us per BYWEEKNO value; a MONTHLY period 5 us plus
    1 us per BYSETPOS value; a month of WEEKLY periods 20 us plus 2.5 us per
    BYSETPOS value; a month of DAILY periods about 40 us; HOURLY and MINUTELY
    leave an excluded day in one step of up to 24 (BYHOUR) or 60 (BYMINUTE)
    tries, 0.35 us each.
    """
    setpos = len(bysetpos)
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
        return 110 + (250 if byhour else 0)
    return 130 + (650 if byminute else 0)


def _yield_cost(freq: _Freq, byhour: object, byminute: object) -> float:
    """Work units of a wall time found and not returned (HOURLY/MINUTELY: a period each)."""
    if freq == HOURLY:
        return 6 + (8 if byhour else 0)
    if freq == MINUTELY:
        return 8 + (21 if byminute else 0)
    return 1.5


# -- expansion -------------------------------------------------------------------------


class _Stop(Exception):
    """Raised inside dateutil's loop to end a search."""


class _Meter:
    """Counts dateutil's entries into a new period (YEARLY, MONTHLY) or calendar month."""

    __slots__ = ("budget_hit", "cost", "months_per_step", "reads", "stop_after", "work")

    def __init__(self, plan: _Plan, start: datetime, horizon: datetime) -> None:
        if plan.freq == YEARLY:
            first_month, self.months_per_step = start.year * 12, 12 * plan.interval
        else:
            first_month = start.year * 12 + start.month - 1
            self.months_per_step = plan.interval if plan.freq == MONTHLY else 1
        last_month = horizon.year * 12 + horizon.month - 1
        # Reads 1 and 2 are dateutil's set-up; read 2 + k starts a period at least
        # k * months_per_step months after the first: past the horizon's month, stop.
        self.stop_after = 2 + (last_month - first_month) // self.months_per_step
        self.reads = 0
        self.cost = plan.tick_cost
        self.work = 0.0
        self.budget_hit = False

    def step(self) -> None:
        self.reads += 1
        if self.reads > self.stop_after:
            raise _Stop
        if self.reads > 2:
            self.charge(self.cost)

    def charge(self, units: float) -> None:
        self.work += units
        if self.work > _WORK_BUDGET:
            self.budget_hit = True
            raise _Stop


class _MeteredRRule(rrule):
    """dateutil's rrule, reporting to a meter each time its loop reads ``_byeaster``."""

    def __init__(
        self,
        meter: _Meter,
        plan: _Plan,
        start: datetime,
        until: datetime,
        byhour: tuple[int, ...],
        byminute: tuple[int, ...],
        second: int,
    ) -> None:
        self._meter = meter
        super().__init__(
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

    @property
    def _byeaster(self) -> None:
        self._meter.step()
        return None

    @_byeaster.setter
    def _byeaster(self, value: object) -> None:
        """dateutil's constructor stores None here: this module never passes BYEASTER."""


def _walls(plan: _Plan, start: datetime, until: datetime, meter: _Meter) -> Iterator[datetime]:
    """The rule's wall times from ``start`` (see _lattice_start) until the meter stops it."""
    if not plan.times:
        rule = _MeteredRRule(meter, plan, start, until, plan.byhour, plan.byminute, plan.second)
        yield from _walk(rule)
        return
    midnight = datetime.combine(start.date(), time())
    for day in _walk(_MeteredRRule(meter, plan, midnight, until, (0,), (0,), 0)):
        date = day.date()
        for at in plan.times:
            yield datetime.combine(date, at)


def _walk(rule: _MeteredRRule) -> Iterator[datetime]:
    try:
        yield from rule
    except (_Stop, ValueError):
        # ValueError: dateutil's "no BYHOUR/BYMINUTE reachable", which _make_plan
        # already turns into an empty plan; kept as a safety net.
        return


def _collect(plan: _Plan, after_ts: int, before_ts: int, limit: int) -> tuple[list[int], bool]:
    """Up to ``limit`` occurrences in [after_ts, before_ts), and whether the search finished."""
    low = max(after_ts, plan.start_ts)
    high = min(before_ts, MAX_TIMESTAMP + 1)
    if plan.until_utc is not None:
        high = min(high, plan.until_utc + 1)
    if plan.empty or limit <= 0 or low >= high:
        return [], True
    low_wall = _wall(plan.zone, low)
    if low_wall is None:
        return [], True
    # Every wall time before `target` maps before `low`, even one inside a DST gap.
    target = max(_sub(low_wall.replace(second=0), _GAP_MARGIN), plan.dtstart)
    high_wall = _wall(plan.zone, high - 1)
    horizon = datetime.max if high_wall is None else _add(high_wall, _HORIZON_MARGIN)
    if plan.until_wall is not None:
        horizon = min(horizon, plan.until_wall)
    start = plan.dtstart if plan.count is not None else _lattice_start(plan, target)
    if start is None or start > horizon:
        return [], True

    meter = _Meter(plan, start, horizon)
    found: set[int] = set()
    # A wall time in a DST gap maps later than the wall times just after the
    # gap; until `settled` is passed, a later wall time may still map lower.
    settled = start
    seen = 0
    for wall in _walls(plan, start, horizon, meter):
        if meter.work > _WORK_BUDGET:
            meter.budget_hit = True
            break
        if wall < plan.dtstart or (
            plan.hour_filter is not None and wall.hour not in plan.hour_filter
        ):
            meter.work += plan.yield_cost
            continue
        if plan.until_wall is not None and wall > plan.until_wall:
            break
        seen += 1
        if plan.count is not None and seen > plan.count:
            break
        if wall < target:
            meter.work += plan.yield_cost
            continue
        aware = wall.replace(tzinfo=plan.zone)
        offset = aware.utcoffset()
        later_offset = aware.replace(fold=1).utcoffset()
        assert offset is not None and later_offset is not None
        instant = (wall - _EPOCH) // _SECOND - offset // _SECOND
        if low <= instant < high:
            found.add(instant)
        else:
            meter.work += plan.yield_cost
        if later_offset > offset:
            settled = max(settled, wall + (later_offset - offset))
        elif wall >= settled and (instant >= high or len(found) >= limit):
            break
    return sorted(found)[:limit], not meter.budget_hit


def _lattice_start(plan: _Plan, target: datetime) -> datetime | None:
    """Where dateutil can start so that it yields every occurrence >= target, and no other.

    That is the start of the rule's period (on the INTERVAL lattice from
    DTSTART) holding ``target``, or ``target`` itself when no BYSETPOS needs the
    whole period, or the next lattice period when ``target`` falls between
    periods; DTSTART itself for ``target`` in the first period. None: no more
    periods before year 9999.
    """
    first = plan.dtstart
    if target <= first:
        return first
    step = plan.interval
    end: datetime | None
    following: datetime | None
    try:
        if plan.freq == YEARLY:
            k = (target.year - first.year) // step
            year = first.year + k * step
            period, end = datetime(year, 1, 1), _year_start(year + 1)
            following = _year_start(year + step)
        elif plan.freq == MONTHLY:
            base = first.year * 12 + first.month - 1
            k = (target.year * 12 + target.month - 1 - base) // step
            index = base + k * step
            period = datetime(index // 12, index % 12 + 1, 1)
            end, following = _month_start(index + 1), _month_start(index + step)
        else:
            origin, unit = _origin(plan)
            k = (target - origin) // unit // step
            period = origin + k * step * unit
            end = _add(period, unit)
            following = _add(period, step * unit)
    except OverflowError:
        return None
    if k <= 0:
        period = first
    if plan.bysetpos:
        return period
    if end is None or target < end:
        return max(period, target)
    return None if following is None or following == datetime.max else following


def _origin(plan: _Plan) -> tuple[datetime, timedelta]:
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


def _wall(zone: ZoneInfo, ts: int) -> datetime | None:
    """The naive wall-clock time of a UTC instant in ``zone``; None outside years 1-9999."""
    try:
        return datetime.fromtimestamp(ts, UTC).astimezone(zone).replace(tzinfo=None)
    except (OverflowError, ValueError, OSError):
        return None
