"""Number (and monitor-tag) rules shared by every validator (a light module: no pydantic, no
dateutil).
"""

import math
import re
from typing import Any

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the largest accepted timestamp
MAX_ID_DIGITS = 15  # ids come from a counter; a longer number names nothing
# A monitor tag: what a maintenance's monitors may name, and what the monitor route accepts.
MONITOR_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}")


def is_number(value: Any) -> bool:
    """A finite JSON number: booleans are not numbers here."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def minute_timestamp(value: Any) -> int | None:
    """A number 0..MAX_TIMESTAMP truncated down to the minute; None when it is not one."""
    if not is_number(value) or not 0 <= value <= MAX_TIMESTAMP:
        return None
    whole: int = math.floor(value)
    return whole - whole % 60


def small_natural(raw: str, max_digits: int) -> bool:
    """ASCII digits only, and few enough that int() is cheap (it refuses 4,300+ digits)."""
    return raw.isdigit() and raw.isascii() and len(raw.lstrip("0")) <= max_digits


def timestamp_text(raw: str) -> int | None:
    """A query value naming a timestamp (0..MAX_TIMESTAMP in base 10); None when it is not one."""
    if not small_natural(raw, len(str(MAX_TIMESTAMP))) or int(raw) > MAX_TIMESTAMP:
        return None
    return int(raw)
