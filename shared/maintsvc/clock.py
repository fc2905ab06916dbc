"""Time: "now" always comes from the system clock so tests can move it."""

import time
from datetime import UTC, datetime


def now_seconds() -> int:
    return int(time.time())


def iso_now() -> str:
    return iso_from_timestamp(time.time())


def iso_from_timestamp(ts: float) -> str:
    """ISO 8601 UTC with milliseconds, as the contract shows: 2026-01-01T00:00:00.000Z."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def truncate_to_minute(ts: int) -> int:
    return ts - ts % 60
