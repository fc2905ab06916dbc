"""The scheduler's work queues: sparse GSI3 partitions keyed by when work falls due.

Serves docs/data-model.md's patterns 13 (events due), 14 (maintenances to
top up), 15b (deletions to finish) and the reads of 19 (history to expire).
GSI3SK is `<due time:012>#<id:012>`, so "due by now" is one key condition.
"""

from collections.abc import Iterator

from maintsvc.storage import keys
from maintsvc.storage.access import STATUS_NAME
from maintsvc.storage.store import Item, Store

DUE_BY = "GSI3PK = :pk AND GSI3SK <= :hi"


def _due(store: Store, queue: str, now: int, page_size: int | None) -> Iterator[Item]:
    return store.iter_query(
        DUE_BY,
        {":pk": queue, ":hi": keys.queue_upper_bound(now)},
        index="GSI3",
        page_size=page_size,
    )


def events_due(store: Store, shard: str, now: int, page_size: int | None = None) -> Iterator[Item]:
    """Pattern 13: events of one due shard (one of keys.due_pks()) whose next transition is
    at or before `now`, oldest first, read a page (of `page_size`) at a time."""
    return _due(store, shard, now, page_size)


def maintenances_to_top_up(store: Store, now: int, page_size: int | None = None) -> Iterator[Item]:
    """Pattern 14: maintenances whose horizon needs topping up by `now` (index copies: the
    writes that follow check the live item)."""
    return _due(store, keys.TOPUP_QUEUE, now, page_size)


def deletions_to_finish(store: Store, now: int, page_size: int | None = None) -> Iterator[Item]:
    """Pattern 15b: maintenances marked `deleting` whose purge is still to finish."""
    return _due(store, keys.PURGE_QUEUE, now, page_size)


def count_due(store: Store, queue: str, now: int, cap: int) -> int:
    """How many items of one work queue are due by `now` (Select=COUNT), at most `cap`."""
    return store.count(DUE_BY, {":pk": queue, ":hi": keys.queue_upper_bound(now)}, "GSI3", cap)


def events_due_between(store: Store, shard: str, after: int, until: int) -> Iterator[Item]:
    """Events of one due shard whose next transition falls in (after, until]: what the
    transition queue is told about ahead of time."""
    return store.iter_query(
        "GSI3PK = :pk AND GSI3SK BETWEEN :lo AND :hi",
        {
            ":pk": shard,
            ":lo": keys.queue_sk(after + 1, 0),
            ":hi": keys.queue_upper_bound(until),
        },
        index="GSI3",
    )


def history_to_expire(store: Store, shard: str, ended_by: int, limit: int) -> list[Item]:
    """Pattern 19: up to `limit` terminal events of one EXPIRE shard (keys.expire_pks()) that
    ended at or before `ended_by`, oldest first."""
    return list(
        store.iter_query(
            DUE_BY,
            {":pk": shard, ":hi": keys.queue_upper_bound(ended_by)},
            index="GSI3",
            limit=limit,
        )
    )


def postpone_top_up(store: Store, maintenance_id: int, schedule_version: int, at: int) -> None:
    """Move a maintenance's TOPUP entry to `at`; ConditionFailed when it left the queue or its
    schedule changed meanwhile (that change queues it afresh)."""
    store.update(
        keys.maintenance_key(maintenance_id),
        "SET GSI3SK = :qs",
        {
            ":qs": keys.queue_sk(at, maintenance_id),
            ":q": keys.TOPUP_QUEUE,
            ":v": schedule_version,
        },
        condition="GSI3PK = :q AND schedule_version = :v",
    )


def leave_top_up_queue_if_inactive(store: Store, maintenance_id: int) -> None:
    """Take an INACTIVE maintenance out of the TOPUP queue; ConditionFailed when it was
    reactivated meanwhile (it stays queued)."""
    store.update(
        keys.maintenance_key(maintenance_id),
        "REMOVE GSI3PK, GSI3SK",
        {":inactive": "INACTIVE"},
        STATUS_NAME,
        condition="#st = :inactive",
    )
