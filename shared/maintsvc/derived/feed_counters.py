"""How many events start at or after a second, per status: the feed's `total`, kept exact
without reading the events (docs/data-model.md, "The feed").

Counters live in buckets of 64^level seconds for levels 0-4 (one second up to
about 194 days), one item per non-empty bucket with one number per status.
"Events starting at or after S" is then a handful of bucket ranges, one per
level: the seconds from S to the end of its 64-second bucket, the 64-second
buckets to the end of their 4,096-second parent, and so on up to every
top-level bucket after S's. That is at most 63 counters per level (in
practice a few), whatever the number of events.

The table's stream keeps the counters (`count_stream_changes` →
`apply_count_changes`, run by IndexerFunction): an event write changes no
counter item itself, so a burst of transitions never contends on one, and a
batch of stream records becomes one ADD per touched counter. A batch is
applied in transactions that also write a `COUNTED#<batch digest>` marker:
a batch Lambda retries after a failure finds its marker and is not counted
twice. Counters trail the events by the stream's delay (typically well under
a second), the same order as the global index the feed pages come from.
"""

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from maintsvc.lifecycle.statuses import EVENT_STATUSES
from maintsvc.storage import keys
from maintsvc.storage.access import event_items, feed_items, maintenance_items, work_queues
from maintsvc.storage.store import Item, Store, TransactionCancelled, TxAction, from_item

LEVELS = range(keys.COUNT_TOP_LEVEL + 1)
FANOUT = 1 << keys.COUNT_LEVEL_BITS
# One transaction: the batch marker and up to 99 counters.
COUNTERS_PER_TRANSACTION = 99
CONFLICT_ATTEMPTS = 6
MARKER_LIFETIME_SECONDS = 86_400

Changes = dict[tuple[str, str], dict[str, int]]


# -- keeping the counters ---------------------------------------------------------------


def _counted(image: Mapping[str, Any] | None) -> tuple[int, str] | None:
    """What an event image contributes to the counters: its start and status."""
    if image is None or "start_date_time" not in image or "status" not in image:
        return None
    return int(image["start_date_time"]), str(image["status"])


def count_stream_changes(records: Iterable[Mapping[str, Any]]) -> Changes:
    """The counter deltas a batch of stream records makes: (PK, SK) -> status -> delta.

    Only event items count; a write that keeps the event's start and status
    changes nothing. Deltas that cancel out within the batch are dropped.
    """
    changes: Changes = defaultdict(lambda: defaultdict(int))
    for record in event_records(records):
        data = record.get("dynamodb", {})
        old = _counted(from_item(data["OldImage"]) if "OldImage" in data else None)
        new = _counted(from_item(data["NewImage"]) if "NewImage" in data else None)
        if old == new:
            continue
        for contribution, sign in ((old, -1), (new, 1)):
            if contribution is None:
                continue
            start, status = contribution
            for level in LEVELS:
                key = keys.count_key(level, start)
                changes[(key["PK"], key["SK"])][status] += sign
    return {
        key: {status: delta for status, delta in deltas.items() if delta}
        for key, deltas in changes.items()
        if any(deltas.values())
    }


def event_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records of event items (the indexer also receives maintenance items')."""
    return [
        r
        for r in records
        if str(r.get("dynamodb", {}).get("Keys", {}).get("SK", {}).get("S", "")).startswith("E#")
    ]


def batch_digest(records: Sequence[Mapping[str, Any]]) -> str:
    """Names a batch by its records, so Lambda's retry of the same batch has the same name."""
    ids = "\n".join(str(r.get("eventID", "")) for r in records)
    return hashlib.sha256(ids.encode()).hexdigest()


def apply_count_changes(store: Store, changes: Changes, digest: str, now: int) -> int:
    """Apply the deltas of one stream batch exactly once; the number of chunks applied.

    Chunks are cut from the sorted keys, so a retried batch cuts the same
    chunks and skips those whose marker exists. Transactions that conflict
    with another shard's (both adding to a top-level counter) are retried.
    """
    ordered = sorted(changes)
    applied = 0
    for chunk, begin in enumerate(range(0, len(ordered), COUNTERS_PER_TRANSACTION)):
        actions = [feed_items.mark_counted(digest, chunk, now + MARKER_LIFETIME_SECONDS)]
        actions += [
            feed_items.add_to_counter({"PK": k[0], "SK": k[1]}, changes[k])
            for k in ordered[begin : begin + COUNTERS_PER_TRANSACTION]
        ]
        applied += _transact_once(store, actions)
    return applied


def _transact_once(store: Store, actions: list[TxAction]) -> int:
    """1 if written, 0 if its marker shows an earlier attempt wrote it."""
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            store.transact(actions)
            return 1
        except TransactionCancelled as cancelled:
            if 0 in cancelled.failed_conditions():
                return 0
            if not cancelled.conflict or attempt == CONFLICT_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
    raise AssertionError("unreachable")


def count_stream_batch(store: Store, records: Sequence[Mapping[str, Any]], now: int) -> int:
    """The indexer's part for the feed: count a batch of stream records once."""
    counted = event_records(records)
    changes = count_stream_changes(counted)
    if not changes:
        return 0
    # Named by its event records only: the same name as before the indexer also received
    # maintenance records, so a batch counted then is still recognised.
    return apply_count_changes(store, changes, batch_digest(counted), now)


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


# -- repair -----------------------------------------------------------------------------


def _stored_counters(store: Store) -> dict[tuple[str, str], dict[str, int]]:
    """Every counter item, walked from the top level down (no Scan)."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    parents: list[int | None] = [None]
    for level in reversed(LEVELS):
        children: list[int | None] = []
        for parent in parents:
            for item in feed_items.counters_from(store, level, parent, 0):
                found[(item["PK"], item["SK"])] = _counts_of(item)
                children.append(int(item["SK"]))
        parents = children
    return found


def recount_feed(store: Store) -> tuple[int, int]:
    """Rewrite every counter from the events themselves; (events counted, counters fixed).

    The repair for counters that missed stream records (a batch the indexer
    gave up on after a day). It reads every maintenance's events, those of
    maintenances still being purged included (their deletion will be
    counted), so it is an operator's command, not a request path. Run it
    when the indexer has caught up (IteratorAge near 0) and writes are
    quiet: records not yet counted when it reads, or counts added while it
    writes, would be off by those records. Running it again fixes that.
    """
    maintenances = maintenance_items.list_maintenances(store, None, None)
    maintenances += list(work_queues.deletions_to_finish(store, keys.MAX_PADDED))
    wanted: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counted = 0
    for maintenance in maintenances:
        for event in event_items.events_of_maintenance(store, maintenance["id"]):
            counted += 1
            for level in LEVELS:
                key = keys.count_key(level, int(event["start_date_time"]))
                wanted[(key["PK"], key["SK"])][str(event["status"])] += 1
    stored = _stored_counters(store)
    fixed = 0
    for pk, sk in sorted(set(wanted) | set(stored)):
        counts = dict(wanted.get((pk, sk), {}))
        if counts != {s: n for s, n in stored.get((pk, sk), {}).items() if n}:
            feed_items.replace_counter(store, {"PK": pk, "SK": sk}, counts)
            fixed += 1
    return counted, fixed
