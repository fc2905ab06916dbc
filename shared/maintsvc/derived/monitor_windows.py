"""Is a monitor in maintenance at a second? `GET /monitors/{monitor_tag}/maintenance`
(docs/decisions.md "Monitor maintenance status", docs/data-model.md "Monitor windows").

A read model kept from the table's stream by IndexerFunction (next to the
feed's counters): per monitor tag, every eligible window (an event that is not
CANCELLED, of an ACTIVE maintenance not being deleted, naming the tag with an
impact other than UP) is filed in its level's bucket holding its start, in the
tag's start order, and the maintenance's feed fields sit in the tag's directory. The route
then needs one BatchGetItem (every bucket that can hold the second, and the
directory) and one Query (the next window), run at once: 2 round trips however
many maintenances and events there are.

The answer is computed from the windows' times and `at`, not from the statuses
the scheduler has stored: `event_status` is the status-from-time rule's at `at`.
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
from maintsvc.storage.access import event_items, maintenance_items, window_items
from maintsvc.storage.items import feed_entry, is_live
from maintsvc.storage.store import Item, Store, from_item

# The order `impact` is chosen in when windows overlap; UP puts no monitor in maintenance.
IMPACT_ORDER = ("MAINTENANCE", "DOWN", "DEGRADED")
UP = "UP"
DIRECTORY_FIELDS = ("title", "description", "status", "rrule", "duration_seconds", "monitors")


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


def directory_entry(maintenance: Item, impact: str) -> Item:
    return {
        "maintenance_id": maintenance["id"],
        "impact": impact,
        **{name: maintenance.get(name) for name in DIRECTORY_FIELDS},
    }


def filed_window(event: Mapping[str, Any] | None) -> Item | None:
    """The window an event image files (None: no event, or a CANCELLED one)."""
    if event is None or "start_date_time" not in event or event.get("status") == CANCELLED:
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
    """A stream batch's changes: event images in order, META images per maintenance."""

    events: list[tuple[int, Item | None, Item | None]] = field(default_factory=list)
    metas: dict[int, list[tuple[Item | None, Item | None]]] = field(default_factory=dict)

    def maintenance_ids(self) -> list[int]:
        return sorted({mid for mid, _, _ in self.events} | set(self.metas))


def _image(data: Mapping[str, Any], name: str) -> Item | None:
    return from_item(data[name]) if name in data else None


def _maintenance_id(pk: str) -> int:
    return int(pk.split("#", 1)[1])


def _read_batch(records: Iterable[Mapping[str, Any]]) -> _Batch:
    batch = _Batch()
    for record in records:
        data = record.get("dynamodb", {})
        record_keys = from_item(data.get("Keys", {}))
        sk, pk = str(record_keys.get("SK", "")), str(record_keys.get("PK", ""))
        if not pk.startswith("M#"):
            continue
        old, new = _image(data, "OldImage"), _image(data, "NewImage")
        if sk.startswith("E#"):
            batch.events.append((_maintenance_id(pk), old, new))
        elif sk == "META":
            batch.metas.setdefault(_maintenance_id(pk), []).append((old, new))
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


def _event_changes(writer: _Writer, batch: _Batch, current: Mapping[int, Item]) -> None:
    """An event's window moves, appears or goes; a status change alone changes nothing."""
    for mid, old, new in batch.events:
        before, after = filed_window(old), filed_window(new)
        if before == after:
            continue
        tags = indexed_tags(current.get(mid))
        if before is not None:
            seen = {t for _, image in _meta_images(batch, mid) for t in indexed_tags(image)}
            writer.unfile(set(tags) | seen, before)
        if after is not None:
            writer.file(tags, after)


def _meta_images(batch: _Batch, mid: int) -> list[tuple[int, Item | None]]:
    return [(i, image) for i, pair in enumerate(batch.metas.get(mid, [])) for image in pair]


def _meta_changes(writer: _Writer, batch: _Batch, current: Mapping[int, Item]) -> None:
    """A maintenance's tags, impacts, details or eligibility changed: its directory entries
    follow, and its windows leave the tags it lost and join the tags it gained."""
    for mid, pairs in batch.metas.items():
        first_old, now = pairs[0][0], current.get(mid)
        before, after = indexed_tags(first_old), indexed_tags(now)
        seen = {t for _, image in _meta_images(batch, mid) for t in indexed_tags(image)}
        for tag in sorted((seen | set(before)) - set(after)):
            window_items.remove_directory_entry(writer.store, tag, mid)
            for filed in window_items.windows_of_maintenance(writer.store, tag, mid):
                writer.unfile([tag], filed)
        if now is None or not after:
            continue
        for tag, impact in sorted(after.items()):
            old_entry = (
                directory_entry(first_old, before[tag]) if first_old and tag in before else None
            )
            entry = directory_entry(now, impact)
            if entry != old_entry:
                _set_directory(writer.store, tag, mid, entry)
        gained = sorted(set(after) - set(before))
        if gained and first_old is not None:  # a new maintenance's events arrive as inserts
            _file_events_of(writer, mid, gained)


def _file_events_of(writer: _Writer, mid: int, tags: Sequence[str]) -> None:
    """Every eligible window of a maintenance under tags it just gained (pattern 18's read)."""
    for event in event_items.events_of_maintenance(writer.store, mid):
        filed = filed_window(event)
        if filed is not None:
            writer.file(tags, filed)


def _set_directory(store: Store, tag: str, mid: int, entry: Item) -> None:
    """The entry, or a stub (its id and impact) when the shard is full: the route reads a
    stubbed maintenance itself (docs/data-model.md, "Monitor windows")."""
    if not window_items.set_directory_entry(store, tag, mid, entry):
        stub = {"maintenance_id": mid, "impact": entry["impact"], "stub": True}
        window_items.set_directory_entry(store, tag, mid, stub)


def index_stream_batch(store: Store, records: Sequence[Mapping[str, Any]]) -> int:
    """The indexer's part for the monitor windows: apply a batch of stream records (event and
    META images); returns the windows filed or unfiled. Every write is idempotent, and
    decisions use the maintenances as they are now, so a retried batch converges."""
    batch = _read_batch(records)
    ids = batch.maintenance_ids()
    if not ids:
        return 0
    found = maintenance_items.get_maintenances(store, ids)
    current = {int(m["id"]): m for m in found if "id" in m}
    writer = _Writer(store)
    _event_changes(writer, batch, current)
    _meta_changes(writer, batch, current)
    return writer.flush()


def index_existing(store: Store) -> int:
    """Backfill: file the windows and directory entries of every listed maintenance (data
    written before the indexer kept this index); returns the windows filed. Idempotent."""
    filed = 0
    for maintenance in maintenance_items.list_maintenances(store, None, None):
        tags = indexed_tags(maintenance)
        if not tags:
            continue
        writer = _Writer(store)
        for tag, impact in sorted(tags.items()):
            _set_directory(store, tag, maintenance["id"], directory_entry(maintenance, impact))
        _file_events_of(writer, maintenance["id"], sorted(tags))
        filed += writer.flush()
    return filed


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


def _complete_directory(
    store: Store, tag: str, directory: dict[int, Item], wanted: Iterable[int]
) -> None:
    """Maintenances the directory lacks or stubs (the index lagging, a full shard): read
    their META in one more BatchGetItem; an ineligible one stays out."""
    missing = sorted({m for m in wanted if m not in directory or directory[m].get("stub")})
    if not missing:
        return
    for maintenance in maintenance_items.get_maintenances(store, missing):
        impact = indexed_tags(maintenance).get(tag)
        if impact is not None:
            directory[int(maintenance["id"])] = directory_entry(maintenance, impact)
    for mid in missing:
        if directory.get(mid, {}).get("stub"):
            del directory[mid]


def _feed_item(filed: Item, entry: Item, at: int, ready_window: int) -> dict[str, Any]:
    event = {
        "id": filed["event_id"],
        "maintenance_id": filed["maintenance_id"],
        "start_date_time": filed["start"],
        "end_date_time": filed["end"],
        "status": status_from_time(at, filed["start"], filed["end"], ready_window),
    }
    return feed_entry(event, {**entry, "monitors": entry.get("monitors") or []})


def monitor_status(store: Store, tag: str, at: int, ready_window: int) -> dict[str, Any]:
    """The monitor's maintenance state at second `at` (see the module doc)."""
    with ThreadPoolExecutor(2) as pool:
        at_future = pool.submit(window_items.windows_at, store, tag, at)
        next_future = pool.submit(window_items.next_window, store, tag, at)
        filed, directory = at_future.result()
        upcoming = next_future.result()
    containing = {w["event_id"]: w for w in filed if w["start"] <= at < w["end"]}
    windows = sorted(containing.values(), key=lambda w: (w["start"], w["event_id"]))
    wanted = [w["maintenance_id"] for w in windows]
    if upcoming is not None:
        wanted.append(upcoming["maintenance_id"])
    _complete_directory(store, tag, directory, wanted)
    windows = [w for w in windows if w["maintenance_id"] in directory]
    impacts = {directory[w["maintenance_id"]]["impact"] for w in windows}
    if upcoming is not None and upcoming["maintenance_id"] not in directory:
        upcoming = None
    return {
        "monitor_tag": tag,
        "at": at,
        "in_maintenance": bool(windows),
        "impact": next((i for i in IMPACT_ORDER if i in impacts), None),
        "events": [
            _feed_item(w, directory[w["maintenance_id"]], at, ready_window) for w in windows
        ],
        "next": None
        if upcoming is None
        else _feed_item(upcoming, directory[upcoming["maintenance_id"]], at, ready_window),
    }
