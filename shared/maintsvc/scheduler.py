"""The every-minute tick: advance due events, then keep every horizon full (docs/behaviour.md §5).

Work is found through the sparse GSI3 queues only (never a scan): events sit
in `DUE#0..3` keyed by the time of their next transition, maintenances sit
in `TOPUP` keyed by when their materialised frontier falls behind. Every
write is conditional on the state that was read, so overlapping ticks and a
tick that dies half-way leave consistent data, and the next tick finishes
the job. The tick stops taking new pages when its time budget runs low.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from maintsvc import keys
from maintsvc.config import Settings
from maintsvc.deletion import purge_maintenance
from maintsvc.items import is_live
from maintsvc.lifecycle import PENDING
from maintsvc.materialise import clear_stale_schedule, materialise_occurrences
from maintsvc.observability import logger
from maintsvc.retention import expire_history
from maintsvc.store import ConditionFailed, Item, Store, TransactionCancelled
from maintsvc.transitions import advance_event

PAGE = 100
# A maintenance whose top-up raised is tried again this much later (and logged, counted).
TOPUP_RETRY_SECONDS = 3600
# Counting a backlog reads it: past this many per queue the exact number does not matter.
BACKLOG_COUNT_CAP = 10_000


@dataclass
class TickReport:
    now: int
    due_seen: int = 0
    transitions: int = 0
    skipped: int = 0
    topups: int = 0
    topup_failures: int = 0
    events_created: int = 0
    purged: int = 0
    expired: int = 0
    backlog: int = 0
    stopped_early: bool = False
    changes: list[tuple[int, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "changes"}


def run_tick(
    store: Store,
    settings: Settings,
    now: int,
    time_left: Callable[[], bool] = lambda: True,
) -> TickReport:
    """One tick at `now`; `time_left()` turning False makes it stop between pages."""
    report = TickReport(now=now)
    report.stopped_early = not _run_queues(store, settings, now, report, time_left)
    if report.stopped_early:
        report.backlog = due_backlog(store, now)
    return report


def _run_queues(
    store: Store,
    settings: Settings,
    now: int,
    report: TickReport,
    time_left: Callable[[], bool],
) -> bool:
    """Every queue in turn; False when time ran out first."""
    maintenances: dict[int, Item | None] = {}
    for shard in keys.due_pks():
        if not _advance_shard(store, settings, shard, now, maintenances, report, time_left):
            return False
    if not _top_up(store, settings, now, report, time_left):
        return False
    if not _finish_deletions(store, now, report, time_left):
        return False
    report.expired, finished = expire_history(
        store, now, settings.history_retention_days, time_left
    )
    return finished


def due_backlog(store: Store, now: int, cap: int = BACKLOG_COUNT_CAP) -> int:
    """Items of every work queue already due (counted only when a tick fell behind)."""
    return sum(
        store.count(
            "GSI3PK = :pk AND GSI3SK <= :hi",
            {":pk": pk, ":hi": keys.queue_upper_bound(now)},
            "GSI3",
            cap,
        )
        for pk in [*keys.due_pks(), keys.TOPUP_QUEUE, keys.PURGE_QUEUE]
    )


def _pages(store: Store, pk: str, now: int) -> Any:
    """Due items of one queue partition, oldest first, a page at a time."""
    batch: list[Item] = []
    for item in store.iter_query(
        "GSI3PK = :pk AND GSI3SK <= :hi",
        {":pk": pk, ":hi": keys.queue_upper_bound(now)},
        index="GSI3",
    ):
        batch.append(item)
        if len(batch) == PAGE:
            yield batch
            batch = []
    if batch:
        yield batch


def _advance_shard(
    store: Store,
    settings: Settings,
    shard: str,
    now: int,
    maintenances: dict[int, Item | None],
    report: TickReport,
    time_left: Callable[[], bool],
) -> bool:
    for page in _pages(store, shard, now):
        if not time_left():
            return False
        _load_maintenances(store, {e["maintenance_id"] for e in page}, maintenances)
        for event in page:
            report.due_seen += 1
            maintenance = maintenances.get(event["maintenance_id"])
            if maintenance is None:
                report.skipped += 1  # being deleted: the delete removes it
                continue
            if (
                event["status"] in PENDING
                and event["schedule_version"] < maintenance["schedule_version"]
            ):
                # Not yet started under a schedule since replaced: deleted, not advanced.
                # A started one (ONGOING) is history and ends like any other.
                _clear_once(store, maintenance)
                report.skipped += 1
                continue
            written = advance_event(
                store,
                event,
                maintenance["status"] == "ACTIVE",
                now,
                settings.ready_window_seconds,
            )
            if written is None:
                report.skipped += 1
            elif written["status"] != event["status"]:
                report.transitions += 1
                report.changes.append((event["id"], event["status"], written["status"]))
    return True


def _load_maintenances(store: Store, wanted: set[int], cache: dict[int, Item | None]) -> None:
    """BatchGetItem the maintenances a page needs that this tick has not read yet."""
    missing = sorted(wanted - cache.keys())
    if not missing:
        return
    found = {i["id"]: i for i in store.batch_get([keys.maintenance_key(m) for m in missing])}
    for maintenance_id in missing:
        item = found.get(maintenance_id)
        cache[maintenance_id] = item if is_live(item) else None


def _clear_once(store: Store, maintenance: Item) -> None:
    """A pending event from an older schedule: a PATCH died before clearing; finish it."""
    if not maintenance.get("_cleared"):
        clear_stale_schedule(store, maintenance)
        maintenance["_cleared"] = True


def _top_up(
    store: Store,
    settings: Settings,
    now: int,
    report: TickReport,
    time_left: Callable[[], bool],
) -> bool:
    for page in _pages(store, keys.TOPUP_QUEUE, now):
        for queued in page:
            if not time_left():
                return False
            # The index copy may lag; the guarded writes check the live item.
            maintenance = store.get(keys.maintenance_key(queued["id"]))
            if maintenance is None or not is_live(maintenance):
                continue
            if maintenance["status"] != "ACTIVE":
                _leave_topup_queue(store, maintenance)
                continue
            try:
                if maintenance.get("needs_cleanup"):
                    clear_stale_schedule(store, maintenance)
                report.events_created += materialise_occurrences(store, settings, maintenance, now)
            except TransactionCancelled:
                continue  # contended by an API write; the queue entry stays for next tick
            except Exception:
                # One maintenance whose stored schedule no longer plans (a zone a newer
                # tzdata dropped...) must not stop everyone else's top-up.
                logger.exception("top-up failed", extra={"maintenance_id": maintenance["id"]})
                report.topup_failures += 1
                _retry_topup_later(store, maintenance, now + TOPUP_RETRY_SECONDS)
                continue
            report.topups += 1
    return True


def _retry_topup_later(store: Store, maintenance: Item, at: int) -> None:
    """Move a failing maintenance's queue entry forward (unless a PATCH changed it meanwhile)."""
    with contextlib.suppress(ConditionFailed):
        store.update(
            keys.maintenance_key(maintenance["id"]),
            "SET GSI3SK = :qs",
            {
                ":qs": keys.queue_sk(at, maintenance["id"]),
                ":q": keys.TOPUP_QUEUE,
                ":v": maintenance["schedule_version"],
            },
            condition="GSI3PK = :q AND schedule_version = :v",
        )


def _finish_deletions(
    store: Store, now: int, report: TickReport, time_left: Callable[[], bool]
) -> bool:
    """Purge maintenances whose DELETE was answered (or died) before all items were gone."""
    for page in _pages(store, keys.PURGE_QUEUE, now):
        for queued in page:
            if not time_left():
                return False
            if purge_maintenance(store, queued["id"], now, time_left):
                report.purged += 1
    return True


def _leave_topup_queue(store: Store, maintenance: Item) -> None:
    """An INACTIVE maintenance has nothing to top up (its PATCH normally removes it)."""
    # Reactivated meanwhile: it stays queued and is topped up next tick.
    with contextlib.suppress(ConditionFailed):
        store.update(
            keys.maintenance_key(maintenance["id"]),
            "REMOVE GSI3PK, GSI3SK",
            {":inactive": "INACTIVE"},
            {"#st": "status"},
            condition="#st = :inactive",
        )
