"""History with a lifetime: terminal events are deleted HISTORY_RETENTION_DAYS after they end.

Terminal events sit in the sparse `EXPIRE#0..3` queues of GSI3, keyed by
their end, so the tick finds exactly the history that is due to go (never a
scan). Each maintenance's expired events are deleted in one transaction with
the decrement of its `event_count`, so the events listing's `total` stays
exact. Occurrence markers are not touched: they expire through DynamoDB's TTL
once their occurrence can no longer be planned (see items.MARKER_LIFETIME).
A maintenance being deleted is skipped: its purge removes everything.
"""

from collections import defaultdict
from collections.abc import Callable

from maintsvc.storage import keys
from maintsvc.storage.access import event_items, work_queues
from maintsvc.storage.store import Item, Store, TransactionCancelled

PAGE = 99  # deletes per transaction, with the maintenance's counter update as the 100th


def expire_history(
    store: Store, now: int, retention_days: int, time_left: Callable[[], bool]
) -> tuple[int, bool]:
    """Delete terminal events that ended more than `retention_days` ago (0 keeps them).

    Returns how many were deleted and whether the work was finished in time.
    """
    if retention_days <= 0:
        return 0, True
    cutoff = now - retention_days * 86400
    deleted = 0
    for pk in keys.expire_pks():
        while True:
            if not time_left():
                return deleted, False
            page = work_queues.history_to_expire(store, pk, cutoff, PAGE)
            removed = _delete_page(store, page)
            deleted += removed
            if len(page) < PAGE or removed == 0:
                break
    return deleted, True


def _delete_page(store: Store, page: list[Item]) -> int:
    by_maintenance: dict[int, list[Item]] = defaultdict(list)
    for event in page:
        by_maintenance[event["maintenance_id"]].append(event)
    removed = 0
    for maintenance_id, events in by_maintenance.items():
        try:
            event_items.delete_expired_events(store, maintenance_id, events)
        except TransactionCancelled:
            continue  # changed meanwhile (moved back? deleted?): the next tick looks again
        removed += len(events)
    return removed
