"""Events and their occurrence markers, in their maintenance's partition.

Serves docs/data-model.md's patterns 7-8 (events written with their markers),
9 (a maintenance's events in start order), 10 (get an event), 16 (clearing an
old schedule), 18 (a maintenance's events, and the holds of a pause), the
deletes of 19 (history) and 31 (the calendar feed's events of many
maintenances at once). Event status changes (status_changes.apply_transition)
write through `apply_event_change`, or `release_event_change` for a held event.
"""

import contextvars
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from maintsvc.lifecycle.statuses import CANCELLED, COMPLETED, ONGOING, READY, SCHEDULED
from maintsvc.storage import keys
from maintsvc.storage.access import (
    LIVE_MAINTENANCE,
    STATUS_NAME,
    TRANSACTION_ACTIONS,
    event_count_change,
    feed_items,
    item_key,
)
from maintsvc.storage.items import HOLD, marker_item
from maintsvc.storage.store import Item, Store, TxAction

# How many times the event was moved, ended early or cancelled (absent: never).
SEQUENCE = "sequence"
# The event is still in the state a transition was decided from (status and times).
UNCHANGED_CONDITION = "#st = :old_st AND start_date_time = :old_s AND end_date_time = :old_e"
# `hold` is a DynamoDB reserved word: expressions call it `#hold`.
HOLD_NAME = {"#hold": HOLD}
# A window starts with one write only on an event nobody has held (a pause, a stale schedule).
NOT_HELD_CONDITION = "attribute_not_exists(#hold)"
# A held event starts only while its maintenance is ACTIVE, not being deleted and still on
# the schedule that made the event.
MAINTENANCE_ACTIVE_ON_SCHEDULE = (
    "#st = :active AND attribute_not_exists(deleting) AND schedule_version = :v"
)
OPEN_CONDITION = "#st IN (:s, :r, :o)"


def get_maintenance_and_event(
    store: Store, maintenance_id: int, event_id: int | None
) -> tuple[Item | None, Item | None]:
    """Pattern 10: the maintenance's META and the event in one BatchGetItem (None: absent;
    no event id, no event read)."""
    wanted = [keys.maintenance_key(maintenance_id)]
    if event_id is not None:
        wanted.append(keys.event_key(maintenance_id, event_id))
    found = {item["SK"]: item for item in store.batch_get(wanted)}
    event = found.get(keys.event_sk(event_id)) if event_id is not None else None
    return found.get(keys.META), event


def get_events_and_maintenances(
    store: Store, events: Iterable[tuple[int, int]], maintenance_ids: Iterable[int] = ()
) -> dict[tuple[str, str], Item]:
    """Events given as (maintenance id, event id), their maintenances' META and those of
    `maintenance_ids`, in one BatchGetItem (per 100 keys), by (PK, SK)."""
    wanted = _event_and_maintenance_keys(events, maintenance_ids)
    return {(i["PK"], i["SK"]): i for i in store.batch_get(list(wanted.values()))}


def get_events_and_maintenances_at_once(
    store: Store, events: Iterable[tuple[int, int]]
) -> dict[tuple[int, int | None], Item]:
    """Events and their maintenances' META, the calls of 100 keys at once: keyed
    (maintenance id, event id) for events and (maintenance id, None) for META."""
    wanted = _event_and_maintenance_keys(events, ())
    found: dict[tuple[int, int | None], Item] = {}
    for item in store.batch_get_at_once(list(wanted.values())):
        mid = int(item["PK"].split("#", 1)[1])
        found[(mid, None if item["SK"] == "META" else int(item["SK"][2:]))] = item
    return found


def _event_and_maintenance_keys(
    events: Iterable[tuple[int, int]], maintenance_ids: Iterable[int]
) -> dict[tuple[str, str], Mapping[str, str]]:
    wanted: dict[tuple[str, str], Mapping[str, str]] = {}
    pairs = list(events)
    for key in [
        *(keys.event_key(m, e) for m, e in pairs),
        *(keys.maintenance_key(m) for m in {*(m for m, _ in pairs), *maintenance_ids}),
    ]:
        wanted[(key["PK"], key["SK"])] = key
    return wanted


def count_events(store: Store, maintenance_id: int, cap: int) -> int:
    """How many events a maintenance has (Select=COUNT on LSI1, which only events populate),
    at most `cap`: for a META written before it counted its events."""
    return store.count("PK = :pk", {":pk": keys.maintenance_pk(maintenance_id)}, "LSI1", cap)


def events_in_start_order(store: Store, maintenance_id: int, limit: int) -> list[Item]:
    """Pattern 9: the first `limit` events of a maintenance, start ascending then id (LSI1),
    strongly consistent; a page's Query reads that page and those before it only."""
    return store.query(
        "PK = :pk",
        {":pk": keys.maintenance_pk(maintenance_id)},
        index="LSI1",
        consistent=True,
        limit=limit,
    )


def events_of_maintenance(store: Store, maintenance_id: int) -> list[Item]:
    """Pattern 18: every event of a maintenance, strongly consistent, by event id."""
    return store.query(
        "PK = :pk AND begins_with(SK, :e)",
        {":pk": keys.maintenance_pk(maintenance_id), ":e": "E#"},
        consistent=True,
    )


def events_from_at_once(
    store: Store, first_starts: Mapping[int, int], threads: int = 16
) -> dict[int, list[Item]]:
    """Pattern 31 (the calendar feed): for each maintenance, its events starting at or after
    its given start, start ascending (pattern 12's LSI1 Query, eventually consistent), the
    Queries `threads` at a time: a round trip's wait per `threads` maintenances, and each
    reads only its own events from that start on, never the older history."""
    if len(first_starts) <= 1:
        return {m: feed_items.events_from(store, m, s) for m, s in first_starts.items()}
    context = contextvars.copy_context()

    def read(maintenance_id: int) -> list[Item]:
        return context.copy().run(
            feed_items.events_from, store, maintenance_id, first_starts[maintenance_id]
        )

    with ThreadPoolExecutor(min(threads, len(first_starts))) as pool:
        return dict(zip(first_starts, pool.map(read, first_starts), strict=True))


def open_events_since(store: Store, maintenance_id: int, recent_from: int) -> list[Item]:
    """Pattern 18, none missing: the open events starting before `recent_from` from GSI4
    (eventually consistent), and those starting from `recent_from` on from LSI1, strongly
    consistent (ended ones filtered out); start ascending, then event id.

    An event written (created, or moved to its start) less than a GSI's lag ago may be
    missing from GSI4, but an open event that can still start was written before its start,
    so a recent one starts after `recent_from` (now minus a bound on that lag) and the
    consistent read finds it. Both reads are bounded by the future cap and the windows
    still running, plus the history ending within the bound: never the whole history.
    """
    since = keys.start_order_sk(max(recent_from, 0), 0)
    older = store.query(
        "GSI4PK = :pk AND GSI4SK < :since",
        {":pk": keys.open_pk(maintenance_id), ":since": since},
        index="GSI4",
    )
    recent = store.query(
        "PK = :pk AND LSI1SK >= :since",
        {
            ":pk": keys.maintenance_pk(maintenance_id),
            ":since": since,
            ":s": SCHEDULED,
            ":r": READY,
            ":o": ONGOING,
        },
        index="LSI1",
        names=STATUS_NAME,
        filter_expression=OPEN_CONDITION,
        consistent=True,
    )
    found = {e["id"]: e for e in older} | {e["id"]: e for e in recent}
    return sorted(found.values(), key=lambda e: e["LSI1SK"])


def hold_event(store: Store, event: Item, reason: str) -> Item:
    """Put a hold on an event while it is open (`SET #hold`; its resource, `updated_at`
    included, is unchanged), returning it as stored now: what a pause does to it next
    depends on where it really is, not on a possibly stale read.

    ConditionFailed when it is gone or has ended (nothing left to hold).
    """
    held = store.update(
        keys.event_key(event["maintenance_id"], event["id"]),
        "SET #hold = :why",
        {":why": reason, ":s": SCHEDULED, ":r": READY, ":o": ONGOING},
        {**STATUS_NAME, **HOLD_NAME},
        condition=OPEN_CONDITION,
        return_new=True,
    )
    assert held is not None
    return held


def markers_from(store: Store, maintenance_id: int, first_start: int) -> list[Item]:
    """Pattern 16: occurrence markers whose original start is `first_start` or later (the
    only ones a new plan can meet), strongly consistent."""
    return store.query(
        "PK = :pk AND SK BETWEEN :lo AND :hi",
        {
            ":pk": keys.maintenance_pk(maintenance_id),
            ":lo": keys.occurrence_sk(max(first_start, 0)),
            ":hi": keys.occurrence_sk(keys.MAX_PADDED),
        },
        consistent=True,
    )


def get_events(store: Store, maintenance_id: int, event_ids: Iterable[int]) -> list[Item]:
    """Events of one maintenance by id, in one BatchGetItem per 100 (missing ones absent)."""
    return store.batch_get([keys.event_key(maintenance_id, e) for e in sorted(set(event_ids))])


def marked_occurrences(store: Store, maintenance_id: int, first: int, last: int) -> set[int]:
    """Pattern 8: original starts in [first, last] that already have an occurrence marker
    (one Query, strongly consistent)."""
    markers = store.query(
        "PK = :pk AND SK BETWEEN :lo AND :hi",
        {
            ":pk": keys.maintenance_pk(maintenance_id),
            ":lo": keys.occurrence_sk(first),
            ":hi": keys.occurrence_sk(last),
        },
        consistent=True,
    )
    return {keys.original_start(m["SK"]) for m in markers}


def write_occurrences(store: Store, head: TxAction, maintenance: Item, events: list[Item]) -> None:
    """Patterns 7-8: one transaction of `head` (the new maintenance's Put, or the guard on
    the maintenance) and, per event, its occurrence marker (only if that occurrence has
    none yet) and the event. TransactionCancelled: the head's condition or a marker's failed.
    """
    actions = [head]
    for event in events:
        actions.append(
            TxAction.put(
                marker_item(
                    maintenance["id"],
                    event["occurrence"],
                    event["id"],
                    maintenance["schedule_version"],
                ),
                condition="attribute_not_exists(PK)",
            )
        )
        actions.append(TxAction.put(event))
    store.transact(actions)


def _unchanged(event: Item, exactly: bool = False) -> tuple[str, dict[str, Any]]:
    """The condition (with `#st` for status) that the event is still as read, and its values.

    Status and times are what a transition decides from. `exactly` (an
    If-Match compared with the event as read) adds `updated_at`, which every
    event write sets: with the fields that never change, the whole resource.
    """
    values: dict[str, Any] = {
        ":old_st": event["status"],
        ":old_s": event["start_date_time"],
        ":old_e": event["end_date_time"],
    }
    if not exactly:
        return UNCHANGED_CONDITION, values
    return f"{UNCHANGED_CONDITION} AND updated_at = :old_u", {
        **values,
        ":old_u": event["updated_at"],
    }


def revises_calendar(attributes: Mapping[str, Any]) -> bool:
    """Whether a change (the attributes it sets, each one a change) moves the event, ends it
    early or cancels it: what a calendar's SEQUENCE must grow for (RFC 5545 3.8.7.4)."""
    return (
        "start_date_time" in attributes
        or "end_date_time" in attributes
        or attributes.get("status") == CANCELLED
    )


@dataclass(frozen=True)
class EventChange:
    """Attributes to set on an event as read; `remove` names index keys it leaves (a sparse
    index it drops out of), `exactly` requires the event unchanged to its `updated_at`
    (else status and times). `starts`: a move into READY or ONGOING, which needs the event
    unheld (or `release_event_change`); `ends`: a move into COMPLETED or CANCELLED, which
    drops any hold with the other keys of an open event.

    A change that moves the event, ends it early or cancels it also adds 1 to
    its `sequence` in the same write (absent: 0), whoever makes it (a PATCH,
    the scheduler closing a paused maintenance's windows): the calendar feed's
    SEQUENCE, which must grow whenever a calendar app has to replace its copy
    (docs/decisions.md, "The calendar feed").
    """

    event: Item
    attributes: Mapping[str, Any]
    remove: tuple[str, ...] = ()
    exactly: bool = False
    starts: bool = False
    ends: bool = False

    def render(
        self, release: bool = False
    ) -> tuple[dict[str, str], str, dict[str, Any], dict[str, str], str]:
        """Key, update expression, values, names and condition; `release` removes the hold
        instead of requiring its absence."""
        names = {f"#a{i}": name for i, name in enumerate(self.attributes)}
        values: dict[str, Any] = {f":a{i}": v for i, v in enumerate(self.attributes.values())}
        expression = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(self.attributes)))
        removes = list(self.remove)
        if release or self.ends:
            removes.append("#hold")
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        if revises_calendar(self.attributes):
            expression += " ADD #seq :one"
            names["#seq"] = SEQUENCE
            values[":one"] = 1
        condition, old = _unchanged(self.event, self.exactly)
        if self.starts and not release:
            condition = f"{condition} AND {NOT_HELD_CONDITION}"
        values.update(old)
        names.update(STATUS_NAME)
        if release or self.ends or self.starts:
            names.update(HOLD_NAME)
        key = keys.event_key(self.event["maintenance_id"], self.event["id"])
        return key, expression, values, names, condition


def apply_event_change(store: Store, change: EventChange) -> None:
    """Write the change if the event is still as read, and (a start) is not held: one
    conditional UpdateItem, whatever the move.

    ConditionFailed when it changed, went or was held meanwhile.
    """
    key, expression, values, names, condition = change.render()
    store.update(key, expression, values, names, condition=condition)


def release_event_change(store: Store, change: EventChange) -> None:
    """A held event's start: the change, with its hold removed, in a transaction with a
    check that its maintenance is ACTIVE, not being deleted and on the event's schedule
    version at that moment (what a resume, or the first start after one, writes).

    TransactionCancelled when either condition fails.
    """
    key, expression, values, names, condition = change.render(release=True)
    store.transact(
        [
            TxAction.check(
                keys.maintenance_key(change.event["maintenance_id"]),
                MAINTENANCE_ACTIVE_ON_SCHEDULE,
                {":active": "ACTIVE", ":v": change.event["schedule_version"]},
                STATUS_NAME,
            ),
            TxAction.update(key, expression, values, names, condition=condition),
        ]
    )


def delete_event(
    store: Store, maintenance_id: int, event_id: int, as_read: Item | None = None
) -> None:
    """Delete one event (its marker stays: the occurrence is never generated again) and take
    it off its maintenance's `event_count`, in one transaction.

    The event must exist, or with `as_read`, still be exactly that version.
    TransactionCancelled reasons: [0] the event, [1] the maintenance (gone or
    being deleted).
    """
    condition, values, names = "attribute_exists(PK)", None, None
    if as_read is not None:
        condition, values = _unchanged(as_read, exactly=True)
        names = STATUS_NAME
    store.transact(
        [
            TxAction.delete(keys.event_key(maintenance_id, event_id), condition, values, names),
            event_count_change(maintenance_id, -1, LIVE_MAINTENANCE),
        ]
    )


def _deletes_while(
    items: Sequence[Item], condition: str, values: Mapping[str, Any]
) -> list[TxAction]:
    """Deletes of stored items, each only while `condition` (on `#st`, the status) holds."""
    return [TxAction.delete(item_key(i), condition, values, STATUS_NAME) for i in items]


def delete_stale_schedule(
    store: Store, maintenance_id: int, pending_events: Sequence[Item], markers: Sequence[Item]
) -> None:
    """Pattern 16's deletes: an older schedule's pending events (only while still pending)
    and markers, in transactions of 99 with the matching `event_count` decrement (only
    while the maintenance exists). TransactionCancelled: one of them changed meanwhile.
    """
    actions = _deletes_while(pending_events, "#st IN (:s, :r)", {":s": SCHEDULED, ":r": READY})
    actions += [TxAction.delete(item_key(m)) for m in markers]
    for start in range(0, len(actions), TRANSACTION_ACTIONS - 1):
        chunk = actions[start : start + TRANSACTION_ACTIONS - 1]
        removed = sum(1 for d in chunk if d.body["Key"]["SK"]["S"].startswith("E#"))
        store.transact(
            [*chunk, event_count_change(maintenance_id, -removed, "attribute_exists(title)")]
        )


def delete_expired_events(store: Store, maintenance_id: int, events: Sequence[Item]) -> None:
    """Pattern 19's deletes: one maintenance's expired history (each only while terminal) and
    the `event_count` decrement (only while the maintenance is live), in one transaction.
    TransactionCancelled: something changed meanwhile."""
    actions = _deletes_while(events, "#st IN (:c, :x)", {":c": COMPLETED, ":x": CANCELLED})
    actions.append(event_count_change(maintenance_id, -len(events), LIVE_MAINTENANCE))
    store.transact(actions)
