"""RRULE text to a validated rule, with the contract's messages (docs/behaviour.md §3).

Accepted: RFC 5545 RRULE values, parts in any order and case, with the RFC's
restrictions (FREQ required, no part twice, not both COUNT and UNTIL,
BYWEEKNO only with YEARLY, no BYYEARDAY with MONTHLY/WEEKLY/DAILY, no
BYMONTHDAY with WEEKLY, BYDAY ordinals only with MONTHLY/YEARLY and not with
BYWEEKNO, BYSETPOS only next to another BYxxx part; no DTSTART, DTEND or
DURATION inside) and these limits:

- no FREQ=SECONDLY and no BYSECOND other than 0 (schedules are in minutes);
- ``INTERVAL`` <= ``MAX_INTERVAL`` (1000);
- ``COUNT`` <= ``MAX_COUNT`` (10000): a COUNT rule is expanded from its
  start, so this caps how far one expansion goes;
- at most ``MAX_RRULE_LENGTH`` (4096) characters (every RFC list at full
  length, without repeats, fits in about 11000; real rules in under 200).

Checks run in a fixed order and the first failing one is the message, so
the order of the code below is part of the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final, Literal

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, WEEKLY, YEARLY

from maintsvc.errors import ValidationError

MAX_INTERVAL: Final = 1000
MAX_COUNT: Final = 10000
MAX_RRULE_LENGTH: Final = 4096

REQUIRED: Final = "rrule is required and must be a non-empty string"
INVALID: Final = "rrule is not a valid iCalendar RRULE string: "

Freq = Literal[0, 1, 2, 3, 4, 5]

_FREQS: Final[dict[str, Freq]] = {
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
# Above this many digits a number is certainly too large: int() is not asked
# to convert thousands of digits.
_MAX_DIGITS: Final = 12


def invalid(reason: str) -> ValidationError:
    """The contract's rrule error: one message prefix, then the reason."""
    return ValidationError(INVALID + reason)


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed RRULE value; lists are sorted and without duplicates."""

    freq: Freq
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
    parse_rule(text)
    return text


def _strip(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(REQUIRED)
    text = value.strip()
    if text[:6].upper() == "RRULE:":
        text = text[6:].strip()
    if not text:
        raise invalid("FREQ is required")
    return text


@lru_cache(maxsize=512)
def parse_rule(text: str) -> Rule:
    """The rule a stripped RRULE value states.

    Cached: one write validates the same text several times (the model, then
    ``parse_schedule``, then materialisation).
    """
    if len(text) > MAX_RRULE_LENGTH:
        raise invalid(f"it is longer than {MAX_RRULE_LENGTH} characters")
    if not text.isascii():
        raise invalid("it may only contain ASCII characters")
    parts = _split(text)
    freq = _freq(parts)
    if "COUNT" in parts and "UNTIL" in parts:
        raise invalid("COUNT and UNTIL must not be used together")
    interval = _positive(parts, "INTERVAL", MAX_INTERVAL) or 1
    count = _positive(parts, "COUNT", MAX_COUNT)
    until, until_is_utc = _until(parts.get("UNTIL"))
    wkst = _wkst(parts.get("WKST"))
    if "BYSECOND" in parts and not all(
        _ZERO.fullmatch(item) for item in parts["BYSECOND"].split(",")
    ):
        raise invalid("BYSECOND must be 0 (schedules are in whole minutes)")
    byminute = _numbers(parts, "BYMINUTE", 59)
    byhour = _numbers(parts, "BYHOUR", 23)
    bymonth = _numbers(parts, "BYMONTH", 12, low=1)
    bymonthday = _signed(parts, "BYMONTHDAY", 31, _SIGNED_2)
    byyearday = _signed(parts, "BYYEARDAY", 366, _SIGNED_3)
    byweekno = _signed(parts, "BYWEEKNO", 53, _SIGNED_2)
    bysetpos = _signed(parts, "BYSETPOS", 366, _SIGNED_3)
    byweekday, bynweekday = _byday(parts.get("BYDAY"))
    rule = Rule(
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
    _check_combinations(rule, parts)
    return rule


def _split(text: str) -> dict[str, str]:
    """The NAME=value parts by upper-case name; a malformed or repeated part fails."""
    parts: dict[str, str] = {}
    for raw in text.split(";"):
        name, sep, value = raw.partition("=")
        key = _part_key(raw, name)
        if not sep:
            raise invalid(f"{key} has no value")
        if key in parts:
            raise invalid(f"{key} appears more than once")
        parts[key] = value
    return parts


def _part_key(raw: str, name: str) -> str:
    key = name.upper()
    if not raw:
        raise invalid("it has an empty rule part")
    if key.startswith(_NOT_IN_RRULE):
        bad = next(word for word in _NOT_IN_RRULE if key.startswith(word))
        raise invalid(f"{bad} is not allowed in an RRULE")
    if key not in _PART_NAMES:
        # Only a name that is safe to echo back is quoted in the message.
        shown = f" '{name}'" if _PRINTABLE_NAME.fullmatch(name) else ""
        raise invalid(f"unknown rule part{shown}")
    return key


def _freq(parts: dict[str, str]) -> Freq:
    if "FREQ" not in parts:
        raise invalid("FREQ is required")
    name = parts["FREQ"].upper()
    if name == "SECONDLY":
        raise invalid("FREQ=SECONDLY is not supported")
    if name not in _FREQS:
        raise invalid("FREQ must be YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY")
    return _FREQS[name]


def _check_combinations(rule: Rule, parts: dict[str, str]) -> None:
    """RFC 5545's restrictions on which parts go together (after every value is valid)."""
    freq = rule.freq
    if rule.byweekno and freq != YEARLY:
        raise invalid("BYWEEKNO is only allowed with FREQ=YEARLY")
    if rule.byyearday and freq in (MONTHLY, WEEKLY, DAILY):
        raise invalid("BYYEARDAY is not allowed with FREQ=MONTHLY, WEEKLY or DAILY")
    if rule.bymonthday and freq == WEEKLY:
        raise invalid("BYMONTHDAY is not allowed with FREQ=WEEKLY")
    if rule.bynweekday and freq not in (MONTHLY, YEARLY):
        raise invalid("BYDAY ordinals such as 1MO need FREQ=MONTHLY or FREQ=YEARLY")
    if rule.bynweekday and rule.byweekno:
        raise invalid("BYDAY ordinals such as 1MO are not allowed with BYWEEKNO")
    if rule.bysetpos and not any(name.startswith("BY") and name != "BYSETPOS" for name in parts):
        raise invalid("BYSETPOS needs another BYxxx rule part")


def _positive(parts: dict[str, str], name: str, maximum: int) -> int | None:
    if name not in parts:
        return None
    value = parts[name]
    if not _DIGITS.fullmatch(value):
        raise invalid(f"{name} must be a positive integer")
    digits = value.lstrip("0")
    number = int(digits or "0") if len(digits) <= _MAX_DIGITS else maximum + 1
    if number == 0:
        raise invalid(f"{name} must be a positive integer")
    if number > maximum:
        raise invalid(f"{name} must be at most {maximum}")
    return number


def _wkst(value: str | None) -> int:
    """The week start as dateutil numbers weekdays (MO = 0); RFC 5545's default is MO."""
    if value is None:
        return 0
    wkst = _WEEKDAYS.get(value.upper())
    if wkst is None:
        raise invalid("WKST must be one of MO, TU, WE, TH, FR, SA, SU")
    return wkst


def _numbers(parts: dict[str, str], name: str, high: int, low: int = 0) -> tuple[int, ...]:
    reason = f"{name} values must be integers from {low} to {high}"
    return _listed(parts, name, _UNSIGNED, low, high, reason)


def _signed(
    parts: dict[str, str], name: str, high: int, pattern: re.Pattern[str]
) -> tuple[int, ...]:
    reason = f"{name} values must be integers from 1 to {high} or -{high} to -1"
    return _listed(parts, name, pattern, 1, high, reason)


def _listed(
    parts: dict[str, str], name: str, pattern: re.Pattern[str], low: int, high: int, reason: str
) -> tuple[int, ...]:
    """A comma-separated list whose items match ``pattern`` and lie in low..high by size."""
    if name not in parts:
        return ()
    values = set()
    for item in parts[name].split(","):
        if not pattern.fullmatch(item) or not low <= abs(int(item)) <= high:
            raise invalid(reason)
        values.add(int(item))
    return tuple(sorted(values))


def _byday(value: str | None) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Plain weekdays and (weekday, ordinal) pairs, the two lists dateutil keeps apart."""
    if value is None:
        return (), ()
    plain: set[int] = set()
    ordinal: set[tuple[int, int]] = set()
    for item in value.upper().split(","):
        match = _WEEKDAYNUM.fullmatch(item)
        if match is None or (match.group(2) and not 1 <= int(match.group(2)) <= 53):
            raise invalid("BYDAY values must be weekdays such as MO, 1MO or -1FR (1 to 53)")
        sign, number, name = match.groups()
        if number is None:
            plain.add(_WEEKDAYS[name])
        else:
            ordinal.add((_WEEKDAYS[name], -int(number) if sign == "-" else int(number)))
    return tuple(sorted(plain)), tuple(sorted(ordinal))


def _until(value: str | None) -> tuple[datetime | None, bool]:
    """UNTIL as a naive datetime, and whether it is UTC (``Z``) rather than wall clock."""
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
        raise invalid(
            "UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS, optionally with Z)"
        ) from None
    return until, bool(zulu)
