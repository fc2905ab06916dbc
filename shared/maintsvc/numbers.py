"""Number rules shared by every validator (a light module: no pydantic, no dateutil)."""

import math
from typing import Any

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the largest accepted timestamp
MAX_ID_DIGITS = 15  # ids come from a counter; a longer number names nothing


def is_number(value: Any) -> bool:
    """A finite JSON number: booleans are not numbers here."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def minute_timestamp(value: Any) -> int | None:
    """A number 0..MAX_TIMESTAMP truncated down to the minute; None when it is not one."""
    if not is_number(value) or not 0 <= value <= MAX_TIMESTAMP:
        return None
    whole: int = math.floor(value)
    return whole - whole % 60
