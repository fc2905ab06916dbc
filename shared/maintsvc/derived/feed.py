"""The global event feed, `GET /maintenances/events` (docs/behaviour.md §4).

Without a maintenance filter a page costs the same however many events
match: `total` comes from the stream-kept counters (maintsvc.derived.feed_counters),
which also say which feed partitions (one status, one ~3-day bucket) hold
the page, so whole buckets before the page are skipped unread and only the
page (and what precedes it inside its first bucket) is read; then one
BatchGetItem for the page's maintenances. With `maintenance_id` or
`monitors` the matches are those maintenances' own events, read in start
order from their partitions (docs/data-model.md, "The feed").
"""

from collections.abc import Sequence
from typing import Any

from maintsvc.derived.feed_counters import FeedBucket, feed_buckets_within, read_feed_counts
from maintsvc.errors import ValidationError
from maintsvc.lifecycle.statuses import EVENT_STATUSES
from maintsvc.numbers import MAX_ID_DIGITS, small_natural, timestamp_text
from maintsvc.storage.access import feed_items, maintenance_items
from maintsvc.storage.items import feed_entry, is_live
from maintsvc.storage.store import Item, Store


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
    """The page's events and the exact total, reading only the buckets the page lies in."""
    counts = read_feed_counts(store, start)
    statuses = list(statuses)
    walk = _PageWalk(store, start, statuses, offset, limit)
    for bucket in counts.near:
        walk.take(bucket)
    for top in counts.far:
        if walk.skips(top):
            continue
        for bucket in feed_buckets_within(store, top.bucket):
            walk.take(bucket)
    return walk.page, counts.total(statuses)


class _PageWalk:
    """Walks buckets in order: skips whole ones before the page by their counts, reads the
    page from the rest, and stops reading once the page is full."""

    def __init__(
        self, store: Store, start: int, statuses: list[str], offset: int, limit: int
    ) -> None:
        self.store, self.start, self.statuses = store, start, statuses
        self.skip, self.want = offset, limit
        self.page: list[Item] = []

    def skips(self, bucket: FeedBucket) -> bool:
        """True if the bucket need not be read: the page is full, or it lies before the page."""
        held = sum(bucket.counts.get(s, 0) for s in self.statuses)
        if self.want <= 0 or held == 0:
            return True
        if self.skip >= held:
            self.skip -= held
            return True
        return False

    def take(self, bucket: FeedBucket) -> None:
        if self.skips(bucket):
            return
        read = _read_bucket(self.store, bucket, self.statuses, self.start, self.skip + self.want)
        taken = read[self.skip : self.skip + self.want]
        self.skip = max(0, self.skip - len(read))
        self.page.extend(taken)
        self.want -= len(taken)


def _read_bucket(
    store: Store, bucket: FeedBucket, statuses: Sequence[str], start: int, needed: int
) -> list[Item]:
    """The first `needed` events of a bucket from `start` on, merged across its statuses."""
    merged: list[Item] = []
    for status in statuses:
        if bucket.counts.get(status):
            merged += feed_items.feed_bucket_events(store, status, bucket.bucket, start, needed)
    merged.sort(key=lambda e: e["GSI2SK"])
    return merged[:needed]


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
