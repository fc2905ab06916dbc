"""IANA time zones: which names are accepted, and wall-clock time in one (docs/behaviour.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from maintsvc.errors import ValidationError

TIMEZONE: Final = "timezone must be a valid IANA time zone name"


def validate_timezone(value: object) -> str:
    """The name, once it names an IANA time zone that zoneinfo can load."""
    if not isinstance(value, str) or not 0 < len(value) <= 64 or value not in _zone_names():
        raise ValidationError(TIMEZONE)
    try:
        ZoneInfo(value)
    except Exception:  # a missing or unreadable zone file: not a zone we can use
        raise ValidationError(TIMEZONE) from None
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


def wall(zone: ZoneInfo, ts: int) -> datetime | None:
    """The naive wall-clock time of a UTC instant in ``zone``; None outside years 1-9999."""
    try:
        return datetime.fromtimestamp(ts, UTC).astimezone(zone).replace(tzinfo=None)
    except (OverflowError, ValueError, OSError):
        return None
