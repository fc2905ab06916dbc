"""The feed's index partitions (GSI2) and its counters (docs/data-model.md, "The feed")."""

from collections.abc import Mapping
from typing import Any

from maintsvc.storage import keys
from maintsvc.storage.store import ConditionFailed, Item, Store, TxAction

# Counter attribute names: one number per status (status names are plain attribute names,
# but two of them are DynamoDB reserved words, so every one goes through #names).
COUNTER_NAMES = {
    "#SC": "SCHEDULED",
    "#RE": "READY",
    "#ON": "ONGOING",
    "#CO": "COMPLETED",
    "#CA": "CANCELLED",
}


def feed_bucket_events(
    store: Store, status: str, bucket: int, start: int, limit: int
) -> list[Item]:
    """Pattern 11: the first `limit` events of one status in one feed bucket from `start` on,
    start ascending then id."""
    return store.query(
        "GSI2PK = :pk AND GSI2SK >= :lo",
        {":pk": keys.feed_bucket_pk(status, bucket), ":lo": keys.start_order_sk(start, 0)},
        index="GSI2",
        limit=limit,
    )


def events_from(store: Store, maintenance_id: int, start: int) -> list[Item]:
    """Pattern 12: every event of a maintenance starting at or after `start` (LSI1)."""
    return store.query(
        "PK = :pk AND LSI1SK >= :lo",
        {":pk": keys.maintenance_pk(maintenance_id), ":lo": keys.start_order_sk(start, 0)},
        index="LSI1",
    )


def counters_from(store: Store, level: int, parent: int | None, lowest: int) -> list[Item]:
    """Pattern 21: the counters of one level under one parent bucket, from bucket `lowest` on."""
    return store.query(
        "PK = :pk AND SK >= :lo",
        {":pk": keys.count_pk(level, parent), ":lo": keys.pad(lowest)},
    )


def feed_bucket_all(store: Store, status: str, bucket: int) -> list[Item]:
    """Pattern 29: every event of one status in one feed bucket (the reconciler's recount)."""
    return store.query("GSI2PK = :pk", {":pk": keys.feed_bucket_pk(status, bucket)}, index="GSI2")


def replace_counter_if(
    store: Store, key: Mapping[str, str], counts: Mapping[str, int], expected: Mapping[str, int]
) -> bool:
    """Pattern 29: a counter item set to exactly `counts`, only if it still holds
    `expected` (an ADD landing meanwhile makes it refuse: False)."""
    names = dict(COUNTER_NAMES)
    values: dict[str, Any] = {":zero": 0}
    conditions, sets, removes = [], [], []
    for name, status in COUNTER_NAMES.items():
        if expected.get(status):
            values[f":e{name[1:]}"] = expected[status]
            conditions.append(f"{name} = :e{name[1:]}")
        else:
            conditions.append(f"(attribute_not_exists({name}) OR {name} = :zero)")
        if counts.get(status):
            values[f":n{name[1:]}"] = counts[status]
            sets.append(f"{name} = :n{name[1:]}")
        else:
            removes.append(name)
    expression = " ".join(
        part
        for part in (
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
        )
        if part
    )
    try:
        store.update(dict(key), expression, values, names, condition=" AND ".join(conditions))
    except ConditionFailed:
        return False
    return True


def replace_counter(store: Store, key: Mapping[str, str], counts: Mapping[str, int]) -> None:
    """A recount's write: the counter item holds exactly `counts` (deleted when all zero)."""
    if any(counts.values()):
        store.put({**key, **{status: n for status, n in counts.items() if n}})
    else:
        store.delete(dict(key))


def add_to_counter(key: Mapping[str, str], deltas: Mapping[str, int]) -> TxAction:
    """Pattern 22: ADD each status's delta to one counter item (created on first use)."""
    names = {name: status for name, status in COUNTER_NAMES.items() if status in deltas}
    values = {f":{name[1:]}": deltas[status] for name, status in names.items()}
    expression = "ADD " + ", ".join(f"{name} :{name[1:]}" for name in names)
    return TxAction.update(dict(key), expression, values, names)


def mark_counted(event_id: str, expires_at: int) -> TxAction:
    """Pattern 22: the marker that one stream record was counted (fails if it was)."""
    item = {**keys.counted_record_key(event_id), "expires_at": expires_at}
    return TxAction.put(item, "attribute_not_exists(PK)")
