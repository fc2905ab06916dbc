"""The monitor-window index (docs/data-model.md, "Monitor windows", patterns 23-27).

Per monitor tag: window buckets and the maintenance directory under
`MW#<tag>`, and the tag's windows in start order under `MN#<tag>`. The
indexer writes them with idempotent single-attribute updates (no
read-modify-write), the monitor route reads them in one BatchGetItem and one
Query.
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


def set_directory_entry(
    store: Store, tag: str, maintenance_id: int, entry: Mapping[str, Any]
) -> bool:
    """Pattern 25: a maintenance's feed fields in its tag's directory shard; False when the
    shard would pass 400 KB (the caller files a stub the reader completes)."""
    try:
        store.update(
            keys.directory_key(tag, maintenance_id),
            "SET #m = :d",
            {":d": dict(entry)},
            {"#m": keys.directory_attribute(maintenance_id)},
        )
    except ItemTooLarge:
        return False
    return True


def remove_directory_entry(store: Store, tag: str, maintenance_id: int) -> None:
    """Pattern 25: a maintenance leaves its tag's directory (no item is created)."""
    with contextlib.suppress(ConditionFailed):
        store.update(
            keys.directory_key(tag, maintenance_id),
            "REMOVE #m",
            names={"#m": keys.directory_attribute(maintenance_id)},
            condition="attribute_exists(#m)",
        )


def windows_at(store: Store, tag: str, at: int) -> tuple[list[Item], dict[int, Item]]:
    """Pattern 26: one BatchGetItem of the bucket of every level holding `at` and the tag's
    directory shards: (the windows filed there, which the caller filters to those containing
    `at`; the directory, maintenance id -> entry)."""
    bucket_keys = keys.stabbing_keys(tag, at)
    directory_keys = keys.directory_keys(tag)
    found = store.batch_get([*bucket_keys, *directory_keys])
    bucket_sks = {k["SK"] for k in bucket_keys}
    windows: list[Item] = []
    directory: dict[int, Item] = {}
    for item in found:
        values = [v for name, v in item.items() if name not in ("PK", "SK")]
        if item["SK"] in bucket_sks:
            windows.extend(values)
        else:
            directory.update((int(entry["maintenance_id"]), entry) for entry in values)
    return windows, directory


def next_window(store: Store, tag: str, at: int) -> Item | None:
    """Pattern 27: the tag's first window starting after `at` (Query, Limit 1)."""
    found = store.query(
        "PK = :pk AND SK > :after",
        {":pk": keys.next_windows_pk(tag), ":after": keys.queue_upper_bound(at)},
        limit=1,
    )
    return {field: found[0][field] for field in WINDOW_FIELDS} if found else None
