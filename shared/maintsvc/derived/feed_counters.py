"""How many events start at or after a second, per status: the feed's `total`, kept exact
without reading the events (docs/data-model.md, "The feed").

Counters live in buckets of 64^level seconds for levels 0-4 (one second up to
about 194 days), one item per non-empty bucket with one number per status.
"Events starting at or after S" is then a handful of bucket ranges, one per
level: the seconds from S to the end of its 64-second bucket, the 64-second
buckets to the end of their 4,096-second parent, and so on up to every
top-level bucket after S's. That is at most 63 counters per level (in
practice a few), whatever the number of events.

The table's stream keeps the counters (IndexerFunction, `count_stream_batch`):
an event write changes no counter item itself, so a burst of transitions never
contends on one, and a batch of stream records becomes one ADD per touched
counter. Each record is counted exactly once however Lambda delivers it
(retries, bisected halves in any order, partial-batch retries, a batch
delivered again after a lost checkpoint): the transaction that adds a
record's deltas also puts a `COUNTED#<eventID>` marker conditional on its
absence, and a transaction refused for markers that exist is re-cut without
those records (docs/data-model.md, "The feed"; docs/decisions.md "Exact under
failure"). Counters trail the events by the stream's delay (typically well
under a second), the same order as the global index the feed pages come from.
"""

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from maintsvc.lifecycle.statuses import EVENT_STATUSES
from maintsvc.storage import keys
from maintsvc.storage.access import feed_items
from maintsvc.storage.store import Item, Store, TransactionCancelled, from_item

LEVELS = range(keys.COUNT_TOP_LEVEL + 1)
FANOUT = 1 << keys.COUNT_LEVEL_BITS
# One transaction holds at most 100 actions: one marker per record and one per counter.
TRANSACTION_ACTIONS = 100
CONFLICT_ATTEMPTS = 6
# Markers outlive the longest a record can be delivered again (MaximumRecordAgeInSeconds,
# a day, and the stream's own 24 h retention).
MARKER_LIFETIME_SECONDS = 2 * 86_400

Changes = dict[tuple[str, str], dict[str, int]]


# -- keeping the counters ---------------------------------------------------------------


@dataclass(frozen=True)
class CountedRecord:
    """One stream record that changes counters: its eventID and its deltas."""

    event_id: str
    deltas: Changes


def _counted(image: Mapping[str, Any] | None) -> tuple[int, str] | None:
    """What an event image contributes to the counters: its start and status."""
    if image is None or "start_date_time" not in image or "status" not in image:
        return None
    return int(image["start_date_time"]), str(image["status"])


def record_deltas(record: Mapping[str, Any]) -> Changes:
    """The counter deltas of one event record: -1 on its old (start, status) and +1 on its
    new one at every level; nothing when both are the same."""
    data = record.get("dynamodb", {})
    old = _counted(from_item(data["OldImage"]) if "OldImage" in data else None)
    new = _counted(from_item(data["NewImage"]) if "NewImage" in data else None)
    if old == new:
        return {}
    return summed(
        [
            {(key["PK"], key["SK"]): {contribution[1]: sign}}
            for contribution, sign in ((old, -1), (new, 1))
            if contribution is not None
            for key in (keys.count_key(level, contribution[0]) for level in LEVELS)
        ]
    )


def summed(deltas: Iterable[Changes]) -> Changes:
    """Deltas added up; those that cancel out are dropped."""
    total: Changes = defaultdict(lambda: defaultdict(int))
    for changes in deltas:
        for key, by_status in changes.items():
            for status, delta in by_status.items():
                total[key][status] += delta
    return {
        key: {status: delta for status, delta in by_status.items() if delta}
        for key, by_status in total.items()
        if any(by_status.values())
    }


def event_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records of event items (the indexer also receives maintenance items')."""
    return [
        r
        for r in records
        if str(r.get("dynamodb", {}).get("Keys", {}).get("SK", {}).get("S", "")).startswith("E#")
    ]


def counted_records(records: Iterable[Mapping[str, Any]]) -> list[CountedRecord]:
    """The event records of a batch that change a counter, in stream order."""
    found = [(str(r["eventID"]), record_deltas(r)) for r in event_records(records)]
    return [CountedRecord(event_id, deltas) for event_id, deltas in found if deltas]


def transactions_of(records: Sequence[CountedRecord]) -> list[list[CountedRecord]]:
    """Records cut into transactions: each holds its records' markers and the counters they
    touch, at most TRANSACTION_ACTIONS actions (a record touches at most 10 counters)."""
    cut: list[list[CountedRecord]] = []
    current: list[CountedRecord] = []
    touched: set[tuple[str, str]] = set()
    for record in records:
        grown = touched | set(record.deltas)
        if current and len(current) + 1 + len(grown) > TRANSACTION_ACTIONS:
            cut.append(current)
            current, grown = [], set(record.deltas)
        current.append(record)
        touched = grown
    return [*cut, current] if current else cut


def count_records(store: Store, records: Sequence[CountedRecord], now: int) -> int:
    """Add each record's deltas exactly once; returns how many records this call counted
    (those counted before, by an earlier delivery, are skipped)."""
    expires_at = now + MARKER_LIFETIME_SECONDS
    return sum(_count_once(store, chunk, expires_at) for chunk in transactions_of(records))


def _count_once(store: Store, records: list[CountedRecord], expires_at: int) -> int:
    """One transaction: the records' markers and their summed deltas. Records whose marker
    exists were counted by an earlier delivery: they are dropped and the rest retried.
    Conflicts with another shard's transaction (both adding to a top-level counter) are
    retried with jittered back-off, then raised for Lambda to retry the batch."""
    pending, conflicts = list(records), 0
    while pending:
        changes = summed(r.deltas for r in pending)
        actions = [feed_items.mark_counted(r.event_id, expires_at) for r in pending]
        actions += [
            feed_items.add_to_counter({"PK": pk, "SK": sk}, changes[(pk, sk)])
            for pk, sk in sorted(changes)
        ]
        try:
            store.transact(actions)
            return len(pending)
        except TransactionCancelled as cancelled:
            seen = {i for i in cancelled.failed_conditions() if i < len(pending)}
            if seen:
                pending = [r for i, r in enumerate(pending) if i not in seen]
                continue
            conflicts += 1
            if not cancelled.conflict or conflicts == CONFLICT_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.05 * 2**conflicts))
    return 0


def count_stream_batch(store: Store, records: Sequence[Mapping[str, Any]], now: int) -> int:
    """The indexer's part for the feed: count a batch of stream records, each once."""
    return count_records(store, counted_records(records), now)


# -- reading them -----------------------------------------------------------------------


@dataclass
class FeedBucket:
    """The events of one feed partition bucket (level 3) that the query covers, per status."""

    bucket: int
    counts: dict[str, int]


@dataclass
class FeedCounts:
    """Counts of events starting at or after `start`: exact per level-3 bucket up to the end
    of `start`'s top-level bucket, per top-level bucket beyond it (read further on demand)."""

    start: int
    near: list[FeedBucket]
    far: list[FeedBucket] = field(default_factory=list)

    def total(self, statuses: Sequence[str]) -> int:
        return sum(b.counts.get(s, 0) for b in [*self.near, *self.far] for s in statuses)


def _counts_of(item: Item) -> dict[str, int]:
    return {status: int(item[status]) for status in EVENT_STATUSES if item.get(status)}


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for status, n in counts.items():
        into[status] = into.get(status, 0) + n


def _level_range(store: Store, level: int, start: int) -> list[Item]:
    """Counters of `level` after `start`'s bucket (level 0: from it) within their parent."""
    bucket = keys.count_bucket(level, start)
    lowest = bucket if level == 0 else bucket + 1
    parent = None if level == keys.COUNT_TOP_LEVEL else bucket >> keys.COUNT_LEVEL_BITS
    return feed_items.counters_from(store, level, parent, lowest)


def read_feed_counts(store: Store, start: int) -> FeedCounts:
    """Five Queries (one per level, run at once) give every count from `start` on."""
    with ThreadPoolExecutor(len(LEVELS)) as pool:
        levels = list(pool.map(lambda level: _level_range(store, level, start), LEVELS))
    first = keys.count_bucket(keys.FEED_BUCKET_LEVEL, start)
    head: dict[str, int] = {}
    for level in range(keys.FEED_BUCKET_LEVEL):
        for item in levels[level]:
            _add(head, _counts_of(item))
    near = [FeedBucket(first, head)] if head else []
    near += [
        FeedBucket(int(item["SK"]), _counts_of(item)) for item in levels[keys.FEED_BUCKET_LEVEL]
    ]
    far = [FeedBucket(int(item["SK"]), _counts_of(item)) for item in levels[keys.COUNT_TOP_LEVEL]]
    return FeedCounts(start, near, far)


def feed_buckets_within(store: Store, top_bucket: int) -> list[FeedBucket]:
    """The level-3 buckets of one top-level bucket (a feed page that reaches that far)."""
    items = feed_items.counters_from(store, keys.FEED_BUCKET_LEVEL, top_bucket, 0)
    return [FeedBucket(int(item["SK"]), _counts_of(item)) for item in items]
