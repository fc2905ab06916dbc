"""The global event feed, `GET /maintenances/events` (docs/behaviour.md §4).

Without a maintenance filter a page costs the same however many events
match: `total` comes from the stream-kept counters (maintsvc.derived.feed_counters),
which also say which feed partitions (one status, one ~3-day bucket) hold
the page, so whole buckets before the page are skipped unread and only the
page (and what precedes it inside its first bucket) is read, every partition
it needs at once; then one BatchGetItem for the page's maintenances: 3 waits
in a row (docs/performance.md). With `maintenance_id` or
`monitors` the matches are those maintenances' own events, read in start
order from their partitions (docs/data-model.md, "The feed").
"""

import contextvars
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from maintsvc.derived.feed_counters import FeedBucket, feed_buckets_within, read_feed_counts
from maintsvc.errors import ValidationError
from maintsvc.lifecycle.statuses import EVENT_STATUSES
from maintsvc.numbers import MAX_ID_DIGITS, small_natural, timestamp_text
from maintsvc.storage.access import feed_items, maintenance_items
from maintsvc.storage.items import feed_entry, is_live
from maintsvc.storage.store import Item, Store

# A page lies in a few buckets of up to five statuses each; these reads run at once.
MAX_PARALLEL_READS = 16


def feed_filters(query: dict[str, str], now: int) -> dict[str, Any]:
    """Parse the feed's query: empty values are absent, bad ones a 400 naming the parameter."""
    values = {k: v.strip() for k, v in query.items() if v.strip()}
    filters: dict[str, Any] = {"start": now, "status": None, "tags": None, "maintenance_id": None}
    if "event_start_date_time" in values:
        raw = values["event_start_date_time"]
        start = timestamp_text(raw)
        if start is None:
            raise ValidationError("event_start_date_time must be a valid timestamp (UTC seconds)")
        filters["start"] = start
    if "event_status" in values:
        status = values["event_status"].upper()
        if status not in EVENT_STATUSES:
            raise ValidationError(f"event_status must be one of: {', '.join(EVENT_STATUSES)}")
        filters["status"] = status
    if "monitors" in values:
        tags = {t.strip() for t in values["monitors"].split(",") if t.strip()}
        filters["tags"] = tags or None
    if "maintenance_id" in values:
        raw = values["maintenance_id"]
        if not small_natural(raw, MAX_ID_DIGITS) or int(raw) <= 0:
            raise ValidationError("maintenance_id must be a positive integer")
        filters["maintenance_id"] = int(raw)
    return filters


def list_feed(
    store: Store, query: dict[str, str], page: int, limit: int, now: int
) -> dict[str, Any]:
    """Events across maintenances from a start time, start ascending then event id."""
    filters = feed_filters(query, now)
    statuses = [filters["status"]] if filters["status"] else list(EVENT_STATUSES)
    offset = (page - 1) * limit
    if filters["maintenance_id"] is None and not filters["tags"]:
        events, total = _counted_page(store, filters["start"], statuses, offset, limit)
        found = maintenance_items.get_maintenances(
            store, sorted({e["maintenance_id"] for e in events})
        )
        by_id = {m["id"]: m for m in found if is_live(m)}
    else:
        by_id = {m["id"]: m for m in _filtered_maintenances(store, filters)}
        matches = _events_of(store, list(by_id), filters["start"], statuses)
        events, total = matches[offset : offset + limit], len(matches)
    return {
        "events": [
            feed_entry(e, by_id[e["maintenance_id"]])
            for e in events
            if e["maintenance_id"] in by_id
        ],
        "page": page,
        "limit": limit,
        "total": total,
    }


# -- without maintenance filters: counters and the global index -----------------------------


def _counted_page(
    store: Store, start: int, statuses: Sequence[str], offset: int, limit: int
) -> tuple[list[Item], int]:
    """The page's events and the exact total in 2 waits: the counters (five Queries at
    once), then every status partition of every bucket the page lies in (at once). A page
    reaching past the start's top-level bucket reads that bucket's counters first."""
    counts = read_feed_counts(store, start)
    statuses = list(statuses)
    slices, skip, want = page_slices(counts.near, statuses, offset, limit)
    page = _read_slices(store, slices, statuses, start)
    for top in counts.far:
        if want <= 0:
            break
        held = sum(top.counts.get(s, 0) for s in statuses)
        if skip >= held:
            skip -= held
            continue
        slices, skip, want = page_slices(
            feed_buckets_within(store, top.bucket), statuses, skip, want
        )
        page += _read_slices(store, slices, statuses, start)
    return page, counts.total(statuses)


@dataclass(frozen=True)
class PageSlice:
    """The part of one bucket a page shows: `take` events after the first `skip`."""

    bucket: FeedBucket
    skip: int
    take: int


def page_slices(
    buckets: Iterable[FeedBucket], statuses: Sequence[str], skip: int, want: int
) -> tuple[list[PageSlice], int, int]:
    """Which buckets a page lies in, from their counts: whole buckets before it skipped
    unread. Returns the slices and what is still to skip and to show after these buckets."""
    slices: list[PageSlice] = []
    for bucket in buckets:
        if want <= 0:
            break
        held = sum(bucket.counts.get(s, 0) for s in statuses)
        if held == 0:
            continue
        if skip >= held:
            skip -= held
            continue
        take = min(want, held - skip)
        slices.append(PageSlice(bucket, skip, take))
        skip, want = 0, want - take
    return slices, skip, want


def _read_slices(
    store: Store, slices: Sequence[PageSlice], statuses: Sequence[str], start: int
) -> list[Item]:
    """Every status partition of every slice's bucket, read at once, each with `Limit` =
    what its slice needs; merged per bucket in feed order and cut to the slice."""
    reads = [
        (index, status, s.bucket.bucket, s.skip + s.take)
        for index, s in enumerate(slices)
        for status in statuses
        if s.bucket.counts.get(status)
    ]
    if not reads:
        return []
    context = contextvars.copy_context()

    def read(job: tuple[int, str, int, int]) -> tuple[int, list[Item]]:
        index, status, bucket, needed = job
        found = context.copy().run(
            feed_items.feed_bucket_events, store, status, bucket, start, needed
        )
        return index, found

    merged: dict[int, list[Item]] = {}
    with ThreadPoolExecutor(min(len(reads), MAX_PARALLEL_READS)) as pool:
        for index, found in pool.map(read, reads):
            merged.setdefault(index, []).extend(found)
    page: list[Item] = []
    for index, s in enumerate(slices):
        events = sorted(merged.get(index, []), key=lambda e: e["GSI2SK"])
        page += events[s.skip : s.skip + s.take]
    return page


# -- with maintenance_id or monitors: those maintenances' own events --------------------------


def _filtered_maintenances(store: Store, filters: dict[str, Any]) -> list[Item]:
    if filters["maintenance_id"] is not None:
        found = maintenance_items.get_maintenance(store, filters["maintenance_id"])
        maintenances = [found] if is_live(found) else []
    else:
        maintenances = maintenance_items.list_maintenances(store, None, None)
    if filters["tags"]:
        maintenances = [
            m
            for m in maintenances
            if filters["tags"] & {x["monitor_tag"] for x in m.get("monitors", [])}
        ]
    return maintenances


def _events_of(
    store: Store, maintenance_ids: list[int], start: int, statuses: Sequence[str]
) -> list[Item]:
    """Every event of these maintenances from `start` on with one of `statuses`, in feed order."""
    wanted = set(statuses)
    events: list[Item] = []
    for maintenance_id in maintenance_ids:
        events += [
            e for e in feed_items.events_from(store, maintenance_id, start) if e["status"] in wanted
        ]
    events.sort(key=lambda e: e["LSI1SK"])
    return events
