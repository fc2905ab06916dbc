"""Deleting a maintenance: hidden at once, its items removed page by page, META last.

A maintenance can own tens of thousands of items (history, markers), more
than one Lambda invocation can delete. So a DELETE first marks META
`deleting` (readers answer 404 from that write on, materialisers' guards
fail) and puts it in the scheduler's PURGE queue, then deletes what it can
within its time budget. Whatever is left, because the budget ran out or the
function died, the scheduler finishes from the queue. There is no explicit
checkpoint: deleted items are simply no longer returned, so every pass
starts from the partition's first remaining page.
"""

from collections.abc import Callable

from maintsvc.lifecycle.holds import open_events_now
from maintsvc.storage import keys
from maintsvc.storage.access import maintenance_items
from maintsvc.storage.store import ConditionFailed, Item, Store, TransactionCancelled

PURGE_PAGE = 500
# Longer than the notifier keeps retrying a record (MaximumRecordAgeInSeconds, 1 h).
GONE_LIFETIME = 7 * 86400


def mark_deleted(store: Store, maintenance_id: int, now: int, revision: int | None = None) -> bool:
    """Hide the maintenance and queue its purge; False when it does not exist (or is going),
    or, given `revision` (an If-Match already compared with that state), no longer has it.

    Bumping `schedule_version` makes every in-flight materialisation's guard
    fail; leaving GSI1 takes it out of the listing and the feed.
    """
    try:
        maintenance_items.mark_deleting(store, maintenance_id, now, revision)
    except ConditionFailed:
        return False
    return True


def gone_item(meta: Item, now: int) -> Item:
    """The short-lived tombstone of a deleted maintenance.

    Its events' deletions reach subscribers through the stream after META may
    be gone; the notifier reads the title and monitors from here then, so
    "window ended" names the monitors it ended for. DynamoDB's TTL removes it.
    """
    return {
        **keys.gone_key(meta["id"]),
        "id": meta["id"],
        "title": meta.get("title"),
        "monitors": meta.get("monitors", []),
        "expires_at": now + GONE_LIFETIME,
    }


def end_open_events(store: Store, maintenance_id: int, now: int) -> int:
    """Delete a marked maintenance's open events (none missing, however recently written);
    returns how many.

    They go before anything else so that no window of a deleted maintenance
    starts after its DELETE has answered: a start is one write conditional on
    the event as read, which fails on a deleted event (a tick that read the
    maintenance before the mark may still try). They would be deleted anyway,
    so this costs nothing the purge does not, and nothing is held first.
    """
    events = open_events_now(store, maintenance_id, now)
    maintenance_items.delete_items(store, events)
    return len(events)


def purge_maintenance(
    store: Store,
    maintenance_id: int,
    now: int,
    time_left: Callable[[], bool],
    open_first: bool = True,
) -> bool:
    """Delete a marked maintenance's items a page at a time, its open events first (unless
    the caller already did: `open_first`); True once META itself is gone.

    The open events go within the first page's turn, so a caller that allows
    one page at a time (the scheduler's slices) still gets through a page.
    """
    first = open_first
    while time_left():
        if first:
            end_open_events(store, maintenance_id, now)
            first = False
        page = maintenance_items.maintenance_partition(store, maintenance_id, PURGE_PAGE)
        others = [i for i in page if i["SK"] != keys.META]
        if others:
            maintenance_items.delete_items(store, others)
            continue
        if page:  # only META is left
            try:
                maintenance_items.delete_maintenance_leaving_tombstone(
                    store, maintenance_id, gone_item(page[0], now)
                )
            except TransactionCancelled:
                return False  # not a marked maintenance (nothing to purge)
        return True
    return False
