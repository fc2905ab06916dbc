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

from maintsvc import keys
from maintsvc.store import ConditionFailed, Item, Store, TransactionCancelled, TxAction

PURGE_PAGE = 500
# Longer than the notifier keeps retrying a record (MaximumRecordAgeInSeconds, 1 h).
GONE_LIFETIME = 7 * 86400


def mark_deleted(store: Store, maintenance_id: int, now: int, revision: int | None = None) -> bool:
    """Hide the maintenance and queue its purge; False when it does not exist (or is going),
    or, given `revision` (an If-Match already compared with that state), no longer has it.

    Bumping `schedule_version` makes every in-flight materialisation's guard
    fail; leaving GSI1 takes it out of the listing and the feed.
    """
    values = {
        ":t": True,
        ":one": 1,
        ":q": keys.PURGE_QUEUE,
        ":qs": keys.queue_sk(now, maintenance_id),
    }
    condition = "attribute_exists(title) AND attribute_not_exists(deleting)"
    if revision is not None:
        condition += " AND revision = :rev"
        values[":rev"] = revision
    try:
        store.update(
            keys.maintenance_key(maintenance_id),
            "SET deleting = :t, GSI3PK = :q, GSI3SK = :qs ADD schedule_version :one "
            "REMOVE GSI1PK, GSI1SK",
            values,
            condition=condition,
        )
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


def purge_maintenance(
    store: Store, maintenance_id: int, now: int, time_left: Callable[[], bool]
) -> bool:
    """Delete a marked maintenance's items a page at a time; True once META itself is gone."""
    pk = keys.maintenance_pk(maintenance_id)
    while time_left():
        page = list(store.iter_query("PK = :pk", {":pk": pk}, consistent=True, limit=PURGE_PAGE))
        others = [{"PK": i["PK"], "SK": i["SK"]} for i in page if i["SK"] != keys.META]
        if others:
            store.batch_write(deletes=others)
            continue
        if page:  # only META is left
            try:
                store.transact(
                    [
                        TxAction.delete(
                            keys.maintenance_key(maintenance_id), "attribute_exists(deleting)"
                        ),
                        TxAction.put(gone_item(page[0], now)),
                    ]
                )
            except TransactionCancelled:
                return False  # not a marked maintenance (nothing to purge)
        return True
    return False
