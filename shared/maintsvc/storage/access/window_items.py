"""The monitor-window index (docs/data-model.md, "Monitor windows", patterns 23-27).

Per monitor tag: window buckets under `MW#<tag>` and the tag's windows in
start order under `MN#<tag>`; the registry of tags ever filed under `MW#`.
The indexer writes them with idempotent single-attribute updates (no
read-modify-write), the monitor route reads them in one BatchGetItem and one
Query, then confirms what it found against the events (pattern 10).
"""

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from maintsvc.storage import keys
from maintsvc.storage.store import ConditionFailed, Item, ItemTooLarge, Store

# A window as the index keeps it (a bucket item's attribute value, an MN# item's fields).
WINDOW_FIELDS = ("maintenance_id", "event_id", "start", "end")


def window(maintenance_id: int, event_id: int, start: int, end: int) -> Item:
    return {"maintenance_id": maintenance_id, "event_id": event_id, "start": start, "end": end}


def bucket_slot(tag: str, filed: Mapping[str, Any]) -> tuple[str, str, str]:
    """Where pattern 23 keeps a window in its bucket: (PK, SK, attribute)."""
    key = keys.filed_bucket_key(tag, filed["start"], filed["end"])
    return key["PK"], key["SK"], keys.window_attribute(filed["event_id"])


def start_order_slot(tag: str, filed: Mapping[str, Any]) -> tuple[str, str]:
    """Where pattern 23 keeps a window in the tag's start order: (PK, SK)."""
    key = keys.next_window_key(tag, filed["start"], filed["event_id"])
    return key["PK"], key["SK"]


def file_in_bucket(store: Store, tag: str, filed: Mapping[str, Any]) -> bool:
    """Pattern 23: a window into its bucket (`SET #e = :w`); False when the bucket is full
    (400 KB)."""
    pk, sk, attribute = bucket_slot(tag, filed)
    try:
        store.update({"PK": pk, "SK": sk}, "SET #e = :w", {":w": dict(filed)}, {"#e": attribute})
    except ItemTooLarge:
        return False
    return True


def unfile_from_bucket(store: Store, tag: str, filed: Mapping[str, Any]) -> None:
    """Pattern 23: a window out of its bucket (creates no item when it is not there)."""
    pk, sk, attribute = bucket_slot(tag, filed)
    with contextlib.suppress(ConditionFailed):  # not filed there: nothing to remove
        store.update(
            {"PK": pk, "SK": sk},
            "REMOVE #e",
            names={"#e": attribute},
            condition="attribute_exists(#e)",
        )


def write_start_order(
    store: Store,
    filed: Iterable[tuple[str, Mapping[str, Any]]],
    unfiled: Iterable[tuple[str, Mapping[str, Any]]],
) -> None:
    """Pattern 23: (tag, window) pairs into and out of their tags' start order, 25 a
    BatchWriteItem (no key twice: the caller keeps the last change of each)."""
    store.batch_write(
        puts=[{**keys.next_window_key(t, w["start"], w["event_id"]), **w} for t, w in filed],
        deletes=[keys.next_window_key(t, w["start"], w["event_id"]) for t, w in unfiled],
    )


def windows_of_maintenance(store: Store, tag: str, maintenance_id: int) -> list[Item]:
    """Pattern 24: every window of one maintenance filed under a tag (the tag's start order,
    filtered: a tag it no longer has, or a maintenance that stopped being eligible)."""
    found = store.query(
        "PK = :pk",
        {":pk": keys.next_windows_pk(tag), ":m": maintenance_id},
        filter_expression="maintenance_id = :m",
    )
    return [{field: item[field] for field in WINDOW_FIELDS} for item in found]


def register_tags(store: Store, tags: Iterable[str]) -> None:
    """Pattern 25: tags into the registry of tags ever filed (`ADD` to a string set:
    idempotent, one UpdateItem per registry shard touched)."""
    by_shard: dict[tuple[str, str], set[str]] = {}
    for tag in tags:
        key = keys.tag_registry_key(tag)
        by_shard.setdefault((key["PK"], key["SK"]), set()).add(tag)
    for (pk, sk), names in sorted(by_shard.items()):
        store.update({"PK": pk, "SK": sk}, "ADD tags :t", {":t": names})


def registered_tags(store: Store) -> list[str]:
    """Pattern 25: every tag ever filed (one BatchGetItem of the registry shards), sorted."""
    found = store.batch_get(keys.tag_registry_keys())
    return sorted({tag for item in found for tag in item.get("tags", ())})


def windows_at(store: Store, tag: str, at: int) -> list[Item]:
    """Pattern 26: one BatchGetItem of the bucket of every level that can hold a window
    containing `at`: the windows filed there (the caller keeps those containing `at`)."""
    found = store.batch_get(keys.stabbing_keys(tag, at))
    return [v for item in found for name, v in item.items() if name not in ("PK", "SK")]


def next_windows(store: Store, tag: str, at: int, limit: int) -> list[Item]:
    """Pattern 27: the tag's first `limit` windows starting after `at` (Query with Limit)."""
    found = store.query(
        "PK = :pk AND SK > :after",
        {":pk": keys.next_windows_pk(tag), ":after": keys.queue_upper_bound(at)},
        limit=limit,
    )
    return [{field: item[field] for field in WINDOW_FIELDS} for item in found]


def start_order_page(
    store: Store, tag: str, after: str | None, limit: int
) -> tuple[list[Item], str | None]:
    """Pattern 28: one page of a tag's windows in start order after sort key `after` (the
    reconciler's sweep); the page and the sort key to continue from (None: the end)."""
    condition, values = "PK = :pk", {":pk": keys.next_windows_pk(tag)}
    if after is not None:
        condition, values = "PK = :pk AND SK > :after", {**values, ":after": after}
    found = store.query(condition, values, limit=limit)
    page = [{field: item[field] for field in WINDOW_FIELDS} for item in found]
    return page, (found[-1]["SK"] if len(found) == limit else None)


def filed_in_start_order(store: Store, slots: Iterable[tuple[str, Mapping[str, Any]]]) -> set[str]:
    """Pattern 28: which of these (tag, window) pairs have their start-order item (one
    BatchGetItem per 100), as `<tag> <sort key>` strings."""
    wanted = [keys.next_window_key(tag, w["start"], w["event_id"]) for tag, w in slots]
    found = store.batch_get(wanted) if wanted else []
    return {f"{item['PK'][len('MN#') :]} {item['SK']}" for item in found}


def bucket_page(
    store: Store, tag: str, after: str | None, limit: int
) -> tuple[list[Item], str | None]:
    """Pattern 28: one page of a tag's window buckets after sort key `after`: the windows
    filed in them, and the sort key to continue from (None: the end)."""
    found = store.query(
        "PK = :pk AND SK > :after",
        {":pk": keys.monitor_windows_pk(tag), ":after": after or "B#"},
        limit=limit,
    )
    buckets = [i for i in found if i["SK"].startswith("B#")]
    windows = [v for item in buckets for name, v in item.items() if name not in ("PK", "SK")]
    more = len(found) == limit and len(buckets) == len(found)
    return windows, (found[-1]["SK"] if more else None)


def unfile_everywhere(store: Store, tag: str, windows: Iterable[Mapping[str, Any]]) -> None:
    """Pattern 28: windows out of their buckets and the tag's start order (the reconciler's
    removal of what is filed but not true)."""
    listed = list(windows)
    for filed in listed:
        unfile_from_bucket(store, tag, filed)
    write_start_order(store, [], [(tag, filed) for filed in listed])
