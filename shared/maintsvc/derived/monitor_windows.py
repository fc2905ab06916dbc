"""Is a monitor in maintenance at a second? `GET /monitors/{monitor_tag}/maintenance`
(docs/decisions.md "Monitor maintenance status", docs/data-model.md "Monitor windows").

A read model kept from the table's stream by IndexerFunction (next to the
feed's counters): per monitor tag, every eligible window (an event that is not
CANCELLED, of an ACTIVE maintenance not being deleted, naming the tag with an
impact other than UP) is filed in its level's bucket holding its start, and in
the tag's start order. The indexer files each touched event as it is *now*
(read back in the batch's one BatchGetItem), not as the record's image says, so
a record applied late, twice, or out of order converges to the truth.

The route reads the buckets that can hold the second and the next windows
(one BatchGetItem and one Query, at once), then confirms every window it is
about to report against its event and maintenance items (one more BatchGetItem
round): it never reports a window that is not true now, whatever state the
index is in. The answer is computed from the windows' times and `at`, not
from the statuses the scheduler has stored.
"""

import contextvars
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from maintsvc.errors import ValidationError
from maintsvc.lifecycle.statuses import CANCELLED, status_from_time
from maintsvc.numbers import MONITOR_TAG, timestamp_text
from maintsvc.observability import logger
from maintsvc.storage.access import event_items, window_items
from maintsvc.storage.items import feed_entry, is_live
from maintsvc.storage.store import Item, Store, from_item

# The order `impact` is chosen in when windows overlap; UP puts no monitor in maintenance.
# The order `impact` is chosen in when windows overlap (most severe first); UP puts no
# monitor in maintenance.
IMPACT_ORDER = ("MAINTENANCE", "DOWN", "DEGRADED")
UP = "UP"
# At most this many windows are listed in `events` (the most severe are kept, listed in start
# order; `events_total` counts them all): the response stays far below Lambda's 6 MB.
MAX_LISTED_EVENTS = 50
# Upcoming windows read for `next`: the first one that is confirmed wins.
NEXT_CANDIDATES = 10


# -- what is indexed ----------------------------------------------------------------------


def indexed_tags(maintenance: Item | None) -> dict[str, str]:
    """Tag -> impact under which a maintenance's windows are filed: none unless it is live
    and ACTIVE; tags whose impact is UP are never filed."""
    if not is_live(maintenance) or maintenance.get("status") != "ACTIVE":
        return {}
    return {
        m["monitor_tag"]: m.get("impact") or "MAINTENANCE"
        for m in maintenance.get("monitors") or []
        if (m.get("impact") or "MAINTENANCE") != UP
    }


def filed_window(event: Mapping[str, Any] | None) -> Item | None:
    """The window an event image files (None: no event, or a CANCELLED one)."""
    if event is None or event.get("status") == CANCELLED:
        return None
    return event_window(event)


def event_window(event: Mapping[str, Any] | None) -> Item | None:
    """The window at an event image's times, whatever its status (None: no times)."""
    if event is None or "start_date_time" not in event:
        return None
    return window_items.window(
        int(event["maintenance_id"]),
        int(event["id"]),
        int(event["start_date_time"]),
        int(event["end_date_time"]),
    )


# -- keeping the index (IndexerFunction) ------------------------------------------------


@dataclass
class _Batch:
    """A stream batch's changes: event images per event, META images per maintenance."""

    events: dict[tuple[int, int], list[tuple[Item | None, Item | None]]] = field(
        default_factory=dict
    )
    metas: dict[int, list[tuple[Item | None, Item | None]]] = field(default_factory=dict)

    def maintenance_ids(self) -> list[int]:
        return sorted({mid for mid, _ in self.events} | set(self.metas))

    def moved_events(self) -> list[tuple[int, int]]:
        """Events some record of the batch files, unfiles or moves (a status change alone
        changes nothing filed, so the scheduler's transitions cost no index write)."""
        return sorted(
            key
            for key, pairs in self.events.items()
            if any(filed_window(old) != filed_window(new) for old, new in pairs)
        )


def _image(data: Mapping[str, Any], name: str) -> Item | None:
    return from_item(data[name]) if name in data else None


def _read_batch(records: Iterable[Mapping[str, Any]]) -> _Batch:
    batch = _Batch()
    for record in records:
        data = record.get("dynamodb", {})
        record_keys = from_item(data.get("Keys", {}))
        sk, pk = str(record_keys.get("SK", "")), str(record_keys.get("PK", ""))
        if not pk.startswith("M#"):
            continue
        mid = int(pk.split("#", 1)[1])
        pair = (_image(data, "OldImage"), _image(data, "NewImage"))
        if sk.startswith("E#"):
            batch.events.setdefault((mid, int(sk[2:])), []).append(pair)
        elif sk == "META":
            batch.metas.setdefault(mid, []).append(pair)
    return batch


WRITE_THREADS = 16
# The log message template.yaml's WindowBucketFullMetricFilter counts (WindowBucketFullAlarm).
WINDOW_BUCKET_FULL = "window bucket full"


class _Writer:
    """The index changes of one batch: the last change of each slot wins (record order), then
    all are written at once: bucket updates on threads, the start order in batches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.buckets: dict[tuple[str, str, str], tuple[str, Item, bool]] = {}
        self.order: dict[tuple[str, str], tuple[str, Item, bool]] = {}

    def _change(self, tags: Iterable[str], filed: Item, present: bool) -> None:
        for tag in tags:
            self.buckets[window_items.bucket_slot(tag, filed)] = (tag, filed, present)
            self.order[window_items.start_order_slot(tag, filed)] = (tag, filed, present)

    def file(self, tags: Iterable[str], filed: Item) -> None:
        self._change(tags, filed, True)

    def unfile(self, tags: Iterable[str], filed: Item) -> None:
        self._change(tags, filed, False)

    def _bucket(self, change: tuple[str, Item, bool]) -> None:
        tag, filed, present = change
        if not present:
            window_items.unfile_from_bucket(self.store, tag, filed)
        elif not window_items.file_in_bucket(self.store, tag, filed):
            # Not retried: the batch would fail for a day and hold the feed's counters back
            # with it. The log line names what the route cannot see.
            logger.error(WINDOW_BUCKET_FULL, extra={"monitor_tag": tag, **filed})

    def flush(self) -> int:
        """Write every change; returns how many windows were filed or unfiled."""
        context = contextvars.copy_context()  # each thread runs in the caller's context
        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            list(pool.map(lambda c: context.copy().run(self._bucket, c), self.buckets.values()))
        changes = list(self.order.values())
        window_items.write_start_order(
            self.store,
            [(tag, filed) for tag, filed, present in changes if present],
            [(tag, filed) for tag, filed, present in changes if not present],
        )
        return len(self.buckets)


def _event_changes(
    writer: _Writer,
    batch: _Batch,
    current: Mapping[int, Item],
    events_now: Mapping[tuple[int, int], Item],
) -> None:
    """Each event the batch files, unfiles or moves is filed as it is now: its current
    window under the maintenance's current tags, every other window its images name
    unfiled (under those tags and any the batch's META images had)."""
    for mid, eid in batch.moved_events():
        tags = indexed_tags(current.get(mid))
        now = filed_window(events_now.get((mid, eid))) if tags else None
        named = {
            _frozen(window)
            for pair in batch.events[(mid, eid)]
            for window in map(event_window, pair)
            if window is not None
        }
        named -= {_frozen(now)} if now is not None else set()
        seen = {t for _, image in _meta_images(batch, mid) for t in indexed_tags(image)}
        for window in sorted(named):
            writer.unfile(set(tags) | seen, dict(window))
        if now is not None:
            writer.file(tags, now)


def _frozen(window: Item) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(window.items()))


def _meta_images(batch: _Batch, mid: int) -> list[tuple[int, Item | None]]:
    return [(i, image) for i, pair in enumerate(batch.metas.get(mid, [])) for image in pair]


def _meta_changes(writer: _Writer, batch: _Batch, current: Mapping[int, Item]) -> None:
    """A maintenance's tags or eligibility changed: its windows leave the tags it lost
    and join the tags it gained (as its events are now); new tags are registered."""
    for mid, pairs in batch.metas.items():
        first_old, now = pairs[0][0], current.get(mid)
        before, after = indexed_tags(first_old), indexed_tags(now)
        seen = {t for _, image in _meta_images(batch, mid) for t in indexed_tags(image)}
        for tag in sorted((seen | set(before)) - set(after)):
            for filed in window_items.windows_of_maintenance(writer.store, tag, mid):
                writer.unfile([tag], filed)
        gained = sorted(set(after) - set(before))
        if gained:
            window_items.register_tags(writer.store, gained)
        if gained and first_old is not None:  # a new maintenance's events arrive as inserts
            _file_events_of(writer, mid, gained)


def _file_events_of(writer: _Writer, mid: int, tags: Sequence[str]) -> None:
    """Every eligible window of a maintenance under tags it just gained (pattern 18's read)."""
    for event in event_items.events_of_maintenance(writer.store, mid):
        filed = filed_window(event)
        if filed is not None:
            writer.file(tags, filed)


def index_stream_batch(store: Store, records: Sequence[Mapping[str, Any]]) -> int:
    """The indexer's part for the monitor windows: apply a batch of stream records (event and
    META images); returns the windows filed or unfiled. Decisions use the maintenances and
    events as they are now (one BatchGetItem), and every write is idempotent, so a batch
    applied late, twice, in pieces or out of order converges."""
    batch = _read_batch(records)
    ids = batch.maintenance_ids()
    if not ids:
        return 0
    moved = batch.moved_events()
    found = event_items.get_events_and_maintenances(store, moved, ids)
    current = {int(i["id"]): i for i in found.values() if i["SK"] == "META" and "id" in i}
    events_now = {
        (int(i["maintenance_id"]), int(i["id"])): i for i in found.values() if i["SK"] != "META"
    }
    writer = _Writer(store)
    _event_changes(writer, batch, current, events_now)
    _meta_changes(writer, batch, current)
    return writer.flush()


# -- answering the route ----------------------------------------------------------------


def parse_request(monitor_tag: str, query: Mapping[str, str] | None, now: int) -> tuple[str, int]:
    """The tag and the second asked about, or a 400 naming the bad parameter. The tag is
    percent-decoded (a tag with `/` can only be sent as `%2F`)."""
    monitor_tag = unquote(monitor_tag)
    if not MONITOR_TAG.fullmatch(monitor_tag):
        raise ValidationError("monitor_tag must be a valid monitor tag")
    raw = ((query or {}).get("at") or "").strip()
    if not raw:
        return monitor_tag, now
    at = timestamp_text(raw)
    if at is None:
        raise ValidationError("at must be a valid timestamp (UTC seconds)")
    return monitor_tag, at


def confirmed_windows(
    store: Store, tag: str, windows: Sequence[Item]
) -> list[tuple[Item, Item, str]]:
    """The windows that are true now, with their maintenance and impact: the event exists,
    is not CANCELLED and has these times, and its maintenance is live, ACTIVE and names the
    tag with an impact other than UP. One BatchGetItem round (its calls run at once)."""
    pairs = sorted({(w["maintenance_id"], w["event_id"]) for w in windows})
    found = event_items.get_events_and_maintenances_at_once(store, pairs)
    confirmed = []
    for w in windows:
        event = found.get((w["maintenance_id"], w["event_id"]))
        maintenance = found.get((w["maintenance_id"], None))
        impact = indexed_tags(maintenance).get(tag)
        if impact is not None and maintenance is not None and filed_window(event) == w:
            confirmed.append((w, maintenance, impact))
    return confirmed


def _feed_item(filed: Item, maintenance: Item, at: int, ready_window: int) -> dict[str, Any]:
    event = {
        "id": filed["event_id"],
        "maintenance_id": filed["maintenance_id"],
        "start_date_time": filed["start"],
        "end_date_time": filed["end"],
        "status": status_from_time(at, filed["start"], filed["end"], ready_window),
    }
    return feed_entry(event, {**maintenance, "monitors": maintenance.get("monitors") or []})


def monitor_status(store: Store, tag: str, at: int, ready_window: int) -> dict[str, Any]:
    """The monitor's maintenance state at second `at` (see the module doc): at most 2
    round trips plus the confirming BatchGetItem."""
    with ThreadPoolExecutor(2) as pool:
        at_future = pool.submit(window_items.windows_at, store, tag, at)
        next_future = pool.submit(window_items.next_windows, store, tag, at, NEXT_CANDIDATES)
        filed, upcoming = at_future.result(), next_future.result()
    containing = {w["event_id"]: w for w in filed if w["start"] <= at < w["end"]}
    true_now = confirmed_windows(store, tag, [*containing.values(), *upcoming])
    current = [c for c in true_now if c[0]["event_id"] in containing]
    current.sort(key=lambda c: (IMPACT_ORDER.index(c[2]), c[0]["start"], c[0]["event_id"]))
    following = [c for c in true_now if c[0]["event_id"] not in containing and c[0]["start"] > at]
    following.sort(key=lambda c: (c[0]["start"], c[0]["event_id"]))
    # The most severe windows are kept, then listed in start order, as they always were.
    listed = sorted(current[:MAX_LISTED_EVENTS], key=lambda c: (c[0]["start"], c[0]["event_id"]))
    return {
        "monitor_tag": tag,
        "at": at,
        "in_maintenance": bool(current),
        "impact": current[0][2] if current else None,
        "events": [_feed_item(w, m, at, ready_window) for w, m, _ in listed],
        "events_total": len(current),
        "truncated": len(current) > len(listed),
        "next": None
        if not following
        else _feed_item(following[0][0], following[0][1], at, ready_window),
    }
