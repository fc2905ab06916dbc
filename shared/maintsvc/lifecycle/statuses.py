"""The event lifecycle: the one status-from-time rule and what follows from it.

Used at creation, after a reschedule, by status changes through the API and
by the scheduler, so all of them agree to the second.
"""

SCHEDULED = "SCHEDULED"
READY = "READY"
ONGOING = "ONGOING"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
TERMINAL = frozenset({COMPLETED, CANCELLED})
PENDING = frozenset({SCHEDULED, READY})
EVENT_STATUSES = (SCHEDULED, READY, ONGOING, COMPLETED, CANCELLED)


def status_from_time(now: int, start: int, end: int, ready_window: int) -> str:
    """Windows are half-open: in progress while start <= now < end."""
    if now >= end:
        return COMPLETED
    if now >= start:
        return ONGOING
    if now >= start - ready_window:
        return READY
    return SCHEDULED


def next_transition_at(status: str, start: int, end: int, ready_window: int) -> int | None:
    """When an event in `status` next changes by time alone (None: never)."""
    if status == SCHEDULED:
        return max(start - ready_window, 0)
    if status == READY:
        return start
    if status == ONGOING:
        return end
    return None


def early_completion_end(now: int, start: int, end: int) -> int:
    """End of a window closed early: min(end, max(current minute, start + 60))."""
    return min(end, max(now - now % 60, start + 60))


def status_while_inactive(now: int, status: str, end: int) -> str:
    """An INACTIVE maintenance's events do not advance; a passed window is CANCELLED."""
    if status in PENDING and now >= end:
        return CANCELLED
    return status
