"""Self-healing for the read models the indexer derives from the stream (docs/decisions.md,
"Exact under failure"; docs/data-model.md, "Reconciler").

The indexer applies each record exactly once, but a record Lambda gives up on
(older than MaximumRecordAgeInSeconds), a bug, or a hand edit can still leave
the feed's counters or the monitor-window index off. ReconcilerFunction runs
this sweep every few minutes, a bounded amount of work per run, its position
in a checkpoint item, re-deriving both from the events:

1. `windows`: every registered tag's filed windows (start order and buckets),
   a page at a time, confirmed against their events and maintenances; what is
   not true now is removed.
2. `maintenances`: every maintenance's events; each eligible window missing
   from its tag's start order is filed. The feed buckets its events start in
   are noted for stage 3.
3. `counters`: every feed bucket (~3 days) that has counters or events is
   recounted from its feed partitions, its counters compared item by item.
   A difference is fixed only when the next cycle sees the very same
   difference (counters and recount unchanged in between): a record still on
   its way to the indexer, or a partition the index has not caught up with,
   would otherwise be "fixed" and then counted again. The fix is conditional
   on the counter still holding what was read, so a concurrent ADD is never
   lost. The top level is checked against the sums of its buckets likewise.

Everything fixed is counted in the DerivedStateDrift metric (alarmed).
"""

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maintsvc.derived.monitor_windows import confirmed_windows, filed_window, indexed_tags
from maintsvc.lifecycle.statuses import EVENT_STATUSES
from maintsvc.storage import keys
from maintsvc.storage.access import (
    event_items,
    feed_items,
    maintenance_items,
    reconcile_items,
    window_items,
    work_queues,
)
from maintsvc.storage.store import Item, Store

STAGES = ("windows", "maintenances", "counters")
START_ORDER_PAGE = 100
BUCKET_PAGE = 10
MAINTENANCES_PER_UNIT = 20
Counts = dict[str, int]


@dataclass
class DriftReport:
    """What one run (or one operator command) found and fixed."""

    windows_removed: int = 0
    windows_filed: int = 0
    counters_fixed: int = 0
    counter_suspects: int = 0
    units: int = 0
    cycles_completed: int = 0

    @property
    def drift(self) -> int:
        """Derived items fixed: the DerivedStateDrift metric."""
        return self.windows_removed + self.windows_filed + self.counters_fixed

    def as_dict(self) -> dict[str, int]:
        return {**self.__dict__, "drift": self.drift}


def reconcile(
    store: Store, now: int, time_left: Callable[[], bool], max_units: int | None = None
) -> DriftReport:
    """One run of the sweep: units of work from the checkpoint on, while time is left (and
    at most `max_units`), the checkpoint written after each. A run ends when it completes
    a cycle: on a small table one run is one cycle, and the next run (minutes later) is the
    second observation that lets a counter difference be fixed."""
    state = reconcile_items.get_checkpoint(store)
    report = DriftReport()
    while time_left() and (max_units is None or report.units < max_units):
        stage = state.get("stage", STAGES[0])
        finished = UNITS[stage](store, now, state, report)
        report.units += 1
        if finished:
            following = STAGES[(STAGES.index(stage) + 1) % len(STAGES)]
            state = {
                "stage": following,
                "suspects": state.get("suspects", {}),
                "buckets": state.get("buckets", []) if following == "counters" else [],
            }
            if following == STAGES[0]:
                report.cycles_completed += 1
        reconcile_items.put_checkpoint(store, state)
        if report.cycles_completed:
            break
    return report


# -- stage 1: remove what is filed but not true -----------------------------------------


def _windows_unit(store: Store, now: int, state: dict[str, Any], report: DriftReport) -> bool:
    """One page of one tag's start order or buckets; True when every tag is done."""
    tags = window_items.registered_tags(store)
    if state.get("tag") is None:
        if not tags:
            return True
        state.update(tag=tags[0], part="order", after=None)
    report.windows_removed += sweep_page(store, state)
    if state["after"] is not None:
        return False
    if state["part"] == "order":
        state["part"] = "buckets"
        return False
    later = [t for t in tags if t > state["tag"]]
    if not later:
        return True
    state.update(tag=later[0], part="order", after=None)
    return False


def sweep_page(store: Store, state: dict[str, Any]) -> int:
    """Confirm one page of the tag's filed windows; unfile the untrue. Returns how many."""
    tag = str(state["tag"])
    if state.get("part") == "order":
        page, after = window_items.start_order_page(
            store, tag, state.get("after"), START_ORDER_PAGE
        )
    else:
        page, after = window_items.bucket_page(store, tag, state.get("after"), BUCKET_PAGE)
    state["after"] = after
    true_now = {
        (w["event_id"], w["start"], w["end"]) for w, _, _ in confirmed_windows(store, tag, page)
    }
    stale = [w for w in page if (w["event_id"], w["start"], w["end"]) not in true_now]
    window_items.unfile_everywhere(store, tag, stale)
    return len(stale)


# -- stage 2: file what is missing, note where events are --------------------------------


def _maintenance_ids(store: Store) -> list[int]:
    listed = maintenance_items.list_maintenances(store, None, None)
    purging = work_queues.deletions_to_finish(store, keys.MAX_PADDED)
    return sorted({int(m["id"]) for m in [*listed, *purging] if "id" in m})


def _maintenances_unit(store: Store, now: int, state: dict[str, Any], report: DriftReport) -> bool:
    """The next few maintenances; True when every one is done. The ids are listed once per
    cycle, into the checkpoint (a few bytes each), not once per unit."""
    if state.get("ids") is None:
        state["ids"] = _maintenance_ids(store)
    ids: list[int] = state["ids"]
    batch, state["ids"] = ids[:MAINTENANCES_PER_UNIT], ids[MAINTENANCES_PER_UNIT:]
    metas = {int(m["id"]): m for m in maintenance_items.get_maintenances(store, batch) if "id" in m}
    buckets = set(state.get("buckets", []))
    for mid in batch:
        report.windows_filed += file_missing(store, mid, metas.get(mid), buckets)
    state["buckets"] = sorted(buckets)
    return not state["ids"]


def file_missing(
    store: Store, maintenance_id: int, maintenance: Item | None, buckets: set[int]
) -> int:
    """File the maintenance's eligible windows its tags' start order lacks; note the feed
    buckets its events start in. Returns the windows filed."""
    tags = sorted(indexed_tags(maintenance))
    events = event_items.events_of_maintenance(store, maintenance_id)
    buckets.update(keys.count_bucket(keys.FEED_BUCKET_LEVEL, e["start_date_time"]) for e in events)
    windows = [w for w in map(filed_window, events) if w is not None]
    slots = [(tag, w) for tag in tags for w in windows]
    present = window_items.filed_in_start_order(store, slots)
    missing = [
        (tag, w)
        for tag, w in slots
        if f"{tag} {keys.start_order_sk(w['start'], w['event_id'])}" not in present
    ]
    for tag, w in missing:
        window_items.file_in_bucket(store, tag, w)
    window_items.write_start_order(store, missing, [])
    if missing:
        window_items.register_tags(store, {tag for tag, _ in missing})
    return len(missing)


# -- stage 3: counters ------------------------------------------------------------------


def _counters_unit(store: Store, now: int, state: dict[str, Any], report: DriftReport) -> bool:
    """One feed bucket's counters; after the last, the top level. True when done."""
    if state.get("todo") is None:
        state["todo"] = sorted(set(state.get("buckets", [])) | set(_counted_buckets(store)))
    suspects: dict[str, str] = state.setdefault("suspects", {})
    todo: list[int] = state["todo"]
    if todo:
        bucket = todo.pop(0)
        counters = _bucket_counters(store, bucket)
        fixed, pending = check_counters(store, counters, f"b{bucket}", suspects)
        done = False
    else:
        fixed, pending = check_counters(store, _top_counters(store), "top", suspects)
        done = True
    report.counters_fixed += fixed
    report.counter_suspects += pending
    return done


def _counted_buckets(store: Store) -> list[int]:
    """Every feed bucket with a counter item (level 3 under each top-level bucket)."""
    tops = feed_items.counters_from(store, keys.COUNT_TOP_LEVEL, None, 0)
    return [
        int(item["SK"])
        for top in tops
        for item in feed_items.counters_from(store, keys.FEED_BUCKET_LEVEL, int(top["SK"]), 0)
    ]


def _counts_of(item: Item) -> Counts:
    return {status: int(item[status]) for status in EVENT_STATUSES if item.get(status)}


def _bucket_counters(store: Store, bucket: int) -> tuple[dict[tuple[str, str], Counts], ...]:
    """(wanted, stored) counters of one feed bucket: levels 0-3 under and at it."""
    wanted: dict[tuple[str, str], Counts] = defaultdict(lambda: defaultdict(int))
    for status in EVENT_STATUSES:
        for event in feed_items.feed_bucket_all(store, status, bucket):
            for level in range(keys.FEED_BUCKET_LEVEL + 1):
                key = keys.count_key(level, int(event["start_date_time"]))
                wanted[(key["PK"], key["SK"])][status] += 1
    stored: dict[tuple[str, str], Counts] = {}
    bits = keys.COUNT_LEVEL_BITS
    for item in feed_items.counters_from(store, keys.FEED_BUCKET_LEVEL, bucket >> bits, bucket):
        if int(item["SK"]) == bucket:
            stored[(item["PK"], item["SK"])] = _counts_of(item)
    parents = {bucket}
    for level in range(keys.FEED_BUCKET_LEVEL - 1, -1, -1):
        children: set[int] = set()
        for parent in sorted(parents):
            for item in feed_items.counters_from(store, level, parent, 0):
                stored[(item["PK"], item["SK"])] = _counts_of(item)
                children.add(int(item["SK"]))
        prefix = keys.count_pk(level, None) + "#"
        children |= {int(sk) for pk, sk in wanted if pk.startswith(prefix)}
        parents = children
    return {k: dict(v) for k, v in wanted.items()}, stored


def _top_counters(store: Store) -> tuple[dict[tuple[str, str], Counts], ...]:
    """(wanted, stored) top-level counters: each the sum of its level-3 buckets."""
    stored = {
        (i["PK"], i["SK"]): _counts_of(i)
        for i in feed_items.counters_from(store, keys.COUNT_TOP_LEVEL, None, 0)
    }
    wanted: dict[tuple[str, str], Counts] = {}
    for pk, sk in stored:
        total: Counts = defaultdict(int)
        for item in feed_items.counters_from(store, keys.FEED_BUCKET_LEVEL, int(sk), 0):
            for status, n in _counts_of(item).items():
                total[status] += n
        wanted[(pk, sk)] = {s: n for s, n in total.items() if n}
    return wanted, stored


def check_counters(
    store: Store,
    counters: tuple[dict[tuple[str, str], Counts], ...],
    name: str,
    suspects: dict[str, str],
) -> tuple[int, int]:
    """Compare; fix a difference seen unchanged one cycle before. (fixed, still suspect)."""
    wanted, stored = counters
    differing = sorted(
        key for key in set(wanted) | set(stored) if wanted.get(key, {}) != stored.get(key, {})
    )
    if not differing:
        suspects.pop(name, None)
        return 0, 0
    seen = [(key, wanted.get(key, {}), stored.get(key, {})) for key in differing]
    fingerprint = hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()
    if suspects.get(name) != fingerprint:
        suspects[name] = fingerprint
        return 0, 1
    del suspects[name]
    fixed = sum(
        feed_items.replace_counter_if(store, {"PK": pk, "SK": sk}, now_wanted, was)
        for (pk, sk), now_wanted, was in seen
    )
    return fixed, 0


UNITS: dict[str, Callable[[Store, int, dict[str, Any], DriftReport], bool]] = {
    "windows": _windows_unit,
    "maintenances": _maintenances_unit,
    "counters": _counters_unit,
}


# -- operator commands (maintctl) ---------------------------------------------------------


def run_stage_to_end(store: Store, stage: str, state: dict[str, Any], report: DriftReport) -> None:
    """Every unit of one stage, with a state of its own (not the scheduled checkpoint)."""
    state["stage"] = stage
    while not UNITS[stage](store, 0, state, report):
        report.units += 1


def repair_windows(store: Store) -> DriftReport:
    """`maintctl index-monitors`: remove every filed window that is not true, file every
    one that is missing. Safe while writes continue (each decision reads the events as
    they are; the monitor route confirms what it reports in any case)."""
    report = DriftReport()
    run_stage_to_end(store, "windows", {}, report)
    run_stage_to_end(store, "maintenances", {}, report)
    return report


def repair_counters(
    store: Store, settle_seconds: float, sleep: Callable[[float], None] = time.sleep
) -> DriftReport:
    """`maintctl recount-feed`: recount every feed bucket twice, `settle_seconds` apart,
    and fix what differed the same way both times (see the module doc): safe while writes
    continue, since what is still on its way changes between the two passes."""
    report = DriftReport()
    buckets: set[int] = set()
    for mid in _maintenance_ids(store):
        buckets.update(
            keys.count_bucket(keys.FEED_BUCKET_LEVEL, e["start_date_time"])
            for e in event_items.events_of_maintenance(store, mid)
        )
    state: dict[str, Any] = {"suspects": {}}
    for attempt in range(2):
        state.update(buckets=sorted(buckets), todo=None)
        run_stage_to_end(store, "counters", state, report)
        if attempt == 0:
            sleep(settle_seconds)
    return report
