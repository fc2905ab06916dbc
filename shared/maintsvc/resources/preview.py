"""A schedule's next windows before it is created, `POST /maintenances/preview`
(docs/decisions.md, "Previewing a schedule").

People are told about a window before it happens only if the person who
creates it sees where it lands first: a rule read in a time zone moves
across daylight-saving changes (a 02:30 Berlin window does not exist on the
day clocks spring forward, and is moved later by the gap). The preview shows
the windows a create would make, local times and offsets included, and
writes nothing. The body is validated exactly as a create's, so a body that
previews is one that creates.
"""

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from maintsvc.errors import ValidationError
from maintsvc.numbers import MAX_TIMESTAMP, is_number

DEFAULT_COUNT: Final = 10
MAX_COUNT: Final = 100
BAD_COUNT: Final = f"count must be an integer from 1 to {MAX_COUNT}"


def preview_count(body: dict[str, Any]) -> int:
    """`count`: absent or null is DEFAULT_COUNT; otherwise a whole number (`5.0` counts as
    whole, a boolean or a string does not) from 1 to MAX_COUNT, else a 400 naming it."""
    value = body.get("count")
    if value is None:
        return DEFAULT_COUNT
    if not is_number(value) or value != int(value) or not 1 <= value <= MAX_COUNT:
        raise ValidationError(BAD_COUNT)
    return int(value)


def preview(body: dict[str, Any], now: int) -> dict[str, Any]:
    """The next `count` windows of the schedule the body describes, and whether it has more.

    "Next" is what a create would materialise: the windows that have not
    ended at `now` (one in progress first), from `start_date_time` on. The
    horizon and MAX_FUTURE_EVENTS do not apply: this is the rule's own
    sequence. `status` is validated but changes nothing (an INACTIVE create
    gets no events, but its schedule is the same).
    """
    from maintsvc.edge.models import validate_maintenance  # pydantic: only writes pay for it
    from maintsvc.rrules import parse_schedule  # dateutil likewise

    fields = validate_maintenance(body, None)  # exactly the create's 400s, in its order
    count = preview_count(body)
    duration: int = fields["duration_seconds"]
    schedule = parse_schedule(fields["rrule"], fields["start_date_time"], fields["timezone"])
    starts = schedule.occurrences_between(now - duration + 1, MAX_TIMESTAMP + 1, count + 1)
    zone = ZoneInfo(fields["timezone"])
    occurrences: list[dict[str, Any]] = []
    previous_offset: int | None = None
    for start in starts[:count]:
        local = datetime.fromtimestamp(start, zone)
        offset = local.utcoffset()
        assert offset is not None  # an aware datetime in a ZoneInfo zone
        seconds = int(offset.total_seconds())
        occurrences.append(
            {
                "start_date_time": start,
                "end_date_time": start + duration,
                "local_start": local.isoformat(),
                "utc_offset_seconds": seconds,
                "dst_shift": previous_offset is not None and seconds != previous_offset,
            }
        )
        previous_offset = seconds
    return {"occurrences": occurrences, "truncated": len(starts) > count}
