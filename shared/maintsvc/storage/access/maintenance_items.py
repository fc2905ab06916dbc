"""Maintenance items (META, its tombstone) and the id sequence.

Serves docs/data-model.md's patterns 2 (get), 3-5 (listing), 6 (reserve ids),
7 (the create's Put), 15 (delete) and the META writes of 16 (schedule change).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from maintsvc.clock import iso_from_timestamp
from maintsvc.storage import keys
from maintsvc.storage.access import LIVE_MAINTENANCE, item_key
from maintsvc.storage.store import Item, Store, TxAction

# A materialisation's guard: the schedule it planned from is still the stored one.
LIVE_CONDITION = "schedule_version = :v AND #st = :active AND attribute_not_exists(deleting)"


def get_maintenance(store: Store, maintenance_id: int) -> Item | None:
    """Pattern 2: the META item, strongly consistent (also one being deleted: see is_live)."""
    return store.get(keys.maintenance_key(maintenance_id))


def get_maintenances(store: Store, maintenance_ids: Sequence[int]) -> list[Item]:
    """The META items of several maintenances in one BatchGetItem (per 100); missing ones
    are simply absent."""
    return store.batch_get([keys.maintenance_key(m) for m in maintenance_ids])


def get_maintenances_or_tombstones(store: Store, maintenance_ids: Sequence[int]) -> list[Item]:
    """META and the `GONE` tombstone of each maintenance, in one BatchGetItem: a deletion
    announced after META is gone still finds the title and monitors."""
    return store.batch_get(
        [k for mid in maintenance_ids for k in (keys.maintenance_key(mid), keys.gone_key(mid))]
    )


def list_maintenances(store: Store, status: str | None, monitor_tag: str | None) -> list[Item]:
    """Patterns 3-5: every listed maintenance (deleting ones have left GSI1), unordered.

    One Query of the `MAINTENANCE` partition; a status narrows the sort key,
    a monitor tag is a filter (the listing reads every maintenance anyway).
    """
    condition = "GSI1PK = :pk"
    values: dict[str, Any] = {":pk": keys.MAINTENANCE_LIST}
    if status:
        condition += " AND begins_with(GSI1SK, :status)"
        values[":status"] = f"{status}#"
    tag_filter = None
    if monitor_tag is not None:
        tag_filter = "contains(tags, :tag)"
        values[":tag"] = monitor_tag
    return store.query(condition, values, index="GSI1", filter_expression=tag_filter)


def reserve_ids(store: Store, maintenances: int, events: int) -> tuple[int, int]:
    """Pattern 6: reserve ids in one UpdateItem; returns the first maintenance id and first
    event id of the blocks reserved."""
    top = store.update(
        keys.seq_key(),
        "ADD maintenance :m, event :e",
        {":m": maintenances, ":e": events},
        return_new=True,
    )
    assert top is not None
    return top["maintenance"] - maintenances + 1, top["event"] - events + 1


def new_maintenance(item: Item) -> TxAction:
    """Pattern 7: the Put of a new maintenance's META, conditional on its id being unused;
    the head of the transaction that writes its first events."""
    return TxAction.put(item, condition="attribute_not_exists(PK)")


def topup_clauses(topup_at: int | None, maintenance_id: int) -> tuple[list[str], list[str], Item]:
    """SET and REMOVE clauses that put a maintenance in (or take it out of) the TOPUP queue."""
    if topup_at is None:
        return [], ["GSI3PK", "GSI3SK"], {}
    values = {":q": keys.TOPUP_QUEUE, ":qs": keys.queue_sk(max(topup_at, 0), maintenance_id)}
    return ["GSI3PK = :q", "GSI3SK = :qs"], [], values


def update_expression(sets: list[str], removes: list[str], adds: list[str] | None = None) -> str:
    """An UpdateExpression from its SET, REMOVE and ADD clauses (empty ones left out)."""
    parts: list[str] = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if removes:
        parts.append("REMOVE " + ", ".join(removes))
    if adds:
        parts.append("ADD " + ", ".join(adds))
    return " ".join(parts)


def materialisation_guard(maintenance: Item, topup_at: int | None, new_events: int) -> TxAction:
    """Pattern 7: the maintenance's part of a transaction that writes its events: succeeds
    only while the schedule is the one planned (same version, ACTIVE, not deleting), adds
    the events to `event_count` and sets (or clears) its top-up time."""
    sets, removes, values = topup_clauses(topup_at, maintenance["id"])
    values = {**values, ":v": maintenance["schedule_version"], ":active": "ACTIVE"}
    adds = []
    if new_events:  # the count behind the events listing's `total`, kept with the events
        adds.append("event_count :n")
        values[":n"] = new_events
    return TxAction.update(
        keys.maintenance_key(maintenance["id"]),
        update_expression(sets, [*removes, "needs_cleanup"], adds),
        values,
        {"#st": "status"},
        condition=LIVE_CONDITION,
    )


def write_maintenance_changes(
    store: Store,
    maintenance_id: int,
    revision: int,
    assignments: Mapping[str, Any],
    removes: Sequence[str] = (),
    requeue: bool = False,
    topup_at: int | None = None,
) -> None:
    """A PATCH's write: set `assignments`, remove `removes`, conditional on the revision read
    and on the maintenance not being deleted (ConditionFailed otherwise).

    With `requeue` it also enters the TOPUP queue at `topup_at`, or leaves it
    (None), so the scheduler finishes the follow-up if the caller does not.
    """
    sets_queue: list[str] = []
    removes_queue: list[str] = []
    queue_values: dict[str, Any] = {}
    if requeue:
        sets_queue, removes_queue, queue_values = topup_clauses(topup_at, maintenance_id)
    names = {f"#f{i}": name for i, name in enumerate(assignments)}
    values: dict[str, Any] = {f":f{i}": v for i, v in enumerate(assignments.values())}
    values.update(queue_values)
    values[":rev"] = revision
    sets = [f"#f{i} = :f{i}" for i in range(len(assignments))] + sets_queue
    store.update(
        keys.maintenance_key(maintenance_id),
        update_expression(sets, [*removes, *removes_queue]),
        values,
        names,
        condition="revision = :rev AND attribute_not_exists(deleting)",
    )


def clear_needs_cleanup(store: Store, maintenance_id: int, schedule_version: int) -> None:
    """Pattern 16's end: the old schedule's leftovers are gone, unless the schedule changed
    again meanwhile (then ConditionFailed, and the flag stays for that change)."""
    store.update(
        keys.maintenance_key(maintenance_id),
        "REMOVE needs_cleanup",
        {":v": schedule_version},
        condition="schedule_version = :v",
    )


def mark_deleting(store: Store, maintenance_id: int, now: int, revision: int | None) -> None:
    """Pattern 15's first write: mark META `deleting` (and when: `deleted_at`, which the
    `Maintenance Deleted` notification reports), bump its schedule version, take it out of
    the listing and into the PURGE queue.

    ConditionFailed when it does not exist or is already being deleted, or,
    given `revision`, no longer has that revision.
    """
    values = {
        ":t": True,
        ":one": 1,
        ":q": keys.PURGE_QUEUE,
        ":qs": keys.queue_sk(now, maintenance_id),
        ":at": iso_from_timestamp(now),
    }
    condition = LIVE_MAINTENANCE
    if revision is not None:
        condition += " AND revision = :rev"
        values[":rev"] = revision
    store.update(
        keys.maintenance_key(maintenance_id),
        "SET deleting = :t, deleted_at = :at, GSI3PK = :q, GSI3SK = :qs "
        "ADD schedule_version :one "
        "REMOVE GSI1PK, GSI1SK",
        values,
        condition=condition,
    )


def maintenance_partition(
    store: Store, maintenance_id: int, limit: int | None = None
) -> list[Item]:
    """Patterns 15 and 16: the items of a maintenance's partition (META, events, markers),
    strongly consistent, in sort key order; at most `limit` (one request's Limit)."""
    return list(
        store.iter_query(
            "PK = :pk",
            {":pk": keys.maintenance_pk(maintenance_id)},
            consistent=True,
            limit=limit,
        )
    )


def delete_items(store: Store, items: Iterable[Mapping[str, Any]]) -> None:
    """Unconditional deletes of stored items (BatchWriteItem, 25 a call): a purge's pages."""
    store.batch_write(deletes=[item_key(i) for i in items])


def delete_maintenance_leaving_tombstone(
    store: Store, maintenance_id: int, tombstone: Item
) -> None:
    """Pattern 15's last write: META (only while marked `deleting`) goes, its short-lived
    `GONE` tombstone comes, in one transaction (TransactionCancelled: not marked)."""
    store.transact(
        [
            TxAction.delete(keys.maintenance_key(maintenance_id), "attribute_exists(deleting)"),
            TxAction.put(tombstone),
        ]
    )
