"""The every-minute tick: advance due events, then keep every horizon full (docs/behaviour.md §5).

Work is found through the sparse GSI3 queues only (never a scan): events sit
in `DUE#0..3` keyed by the time of their next transition, maintenances sit
in `TOPUP` keyed by when their materialised frontier falls behind, and in
`PURGE` once a delete is under way. Every write is conditional on the state
that was read, so overlapping ticks, the transition worker and a tick that
dies half-way leave consistent data, and the next tick finishes the job.

Throughput: transitions are independent single writes, so they run on a pool
of threads sharing the one (thread-safe) client. With a network round trip
per call, one at a time caps a tick at a few thousand; WORKERS in flight
multiply that. Reads (Query pages, the BatchGetItem of a page's
maintenances), top-ups and purges stay on the tick's own thread, where they
overlap with the pool's writes.

Fairness: the queues take turns, a chunk each (a page of events per due
shard, a few maintenances to top up, a slice of one deletion), and the queue
that goes first changes every minute. A tick that runs out of time has
moved every queue forward, so no shard and no top-up waits behind the rest
tick after tick. The tick stops taking chunks when its time budget runs low.

Before all that, the tick hands the next minute's changes to the transition
queue (maintsvc.lifecycle.transition_queue), which applies them on the second.
"""

import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from maintsvc.config import Settings
from maintsvc.lifecycle.retention import expire_history
from maintsvc.lifecycle.status_changes import advance_event, hold_reason
from maintsvc.lifecycle.transition_queue import enqueue_upcoming
from maintsvc.observability import logger
from maintsvc.storage import keys
from maintsvc.storage.access import maintenance_items, work_queues
from maintsvc.storage.items import is_live
from maintsvc.storage.store import ConditionFailed, Item, Store, TransactionCancelled

# maintsvc.lifecycle.deletion and .materialise are imported by the functions that purge and
# top up, when a queue has work for them: most ticks have none, and SchedulerFunction
# compiles every module it imports at each cold start (docs/performance.md, "Cold start").
PAGE = 100
# Writes in flight at once: with 5 ms round trips, 32 of them apply ~6,400 a second.
WORKERS = 32
# Writes handed to the pool ahead of it: enough to keep it busy while the next page is read.
MAX_QUEUED = 2 * PAGE
# A turn of the top-up queue: maintenances topped up (each a few calls, on the tick's thread).
TOPUP_CHUNK = 5
# A turn of the purge queue: one deletion for at most this long, then the others go again.
PURGE_SLICE_SECONDS = 2.0
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
    enqueued: int = 0
    enqueue_failures: int = 0
    # Seconds between the latest due time among the tick's own transitions and their write.
    max_lag: int = 0
    # Items taken from each queue (GSI3PK): under overload, every queue moves.
    progress: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[int, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "changes"}


def run_tick(
    store: Store,
    settings: Settings,
    now: int,
    time_left: Callable[[], bool] = lambda: True,
    queue_url: str = "",
    workers: int = WORKERS,
) -> TickReport:
    """One tick at `now`; `time_left()` turning False makes it stop between chunks.

    `queue_url` (the transition queue; "" = none) gets the next minute's
    changes first, so they are on time whatever the backlog here.
    """
    report = TickReport(now=now)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tick") as pool:
        if queue_url and time_left():
            sent = enqueue_upcoming(
                store, queue_url, now, settings.ready_window_seconds, pool, time_left
            )
            report.enqueued, report.enqueue_failures = sent.sent, sent.failed
        finished = _Tick(store, settings, now, report, pool).run(time_left)
        if finished:  # history goes last: it is never urgent
            report.expired, finished = expire_history(
                store, now, settings.history_retention_days, time_left
            )
        report.stopped_early = not finished
    if report.stopped_early:
        report.backlog = due_backlog(store, now)
    return report


def due_backlog(store: Store, now: int, cap: int = BACKLOG_COUNT_CAP) -> int:
    """Items of every work queue already due (counted only when a tick fell behind)."""
    return sum(
        work_queues.count_due(store, pk, now, cap)
        for pk in [*keys.due_pks(), keys.TOPUP_QUEUE, keys.PURGE_QUEUE]
    )


def queue_order(now: int) -> list[str]:
    """The queues in the order they take turns this minute (a different one leads each minute)."""
    queues = [*keys.due_pks(), keys.TOPUP_QUEUE, keys.PURGE_QUEUE]
    first = (now // 60) % len(queues)
    return queues[first:] + queues[:first]


class _Source:
    """One work queue's due items, oldest first, handed out a chunk at a time."""

    def __init__(self, store: Store, pk: str, now: int, chunk: int) -> None:
        self.pk = pk
        self.chunk = chunk
        # A tick that stops early has read little beyond its last chunk.
        self._items: Iterator[Item] = _due_work(store, pk, now, page_size=max(chunk, PAGE))
        self._again: deque[Item] = deque()

    def take(self) -> list[Item]:
        """The next chunk ([] once the queue is empty); the Query reads on as needed."""
        taken = [self._again.popleft() for _ in range(min(self.chunk, len(self._again)))]
        taken.extend(itertools.islice(self._items, self.chunk - len(taken)))
        return taken

    def give_back(self, item: Item) -> None:
        """Unfinished work, taken again on the queue's next turn."""
        self._again.append(item)


def _due_work(store: Store, queue: str, now: int, page_size: int) -> Iterator[Item]:
    """The items of one work queue due by `now`, oldest first."""
    if queue == keys.TOPUP_QUEUE:
        return work_queues.maintenances_to_top_up(store, now, page_size)
    if queue == keys.PURGE_QUEUE:
        return work_queues.deletions_to_finish(store, now, page_size)
    return work_queues.events_due(store, queue, now, page_size)


class _Tick:
    """The work of one tick: queues in turn, transitions on the pool, results counted here."""

    def __init__(
        self, store: Store, settings: Settings, now: int, report: TickReport, pool: Executor
    ) -> None:
        self.store = store
        self.settings = settings
        self.now = now
        self.report = report
        self.pool = pool
        self.maintenances: dict[int, Item | None] = {}
        self.in_flight: dict[Future[Item | None], Item] = {}
        self.started = time.monotonic()

    def run(self, time_left: Callable[[], bool]) -> bool:
        """Every queue until empty; False when time ran out first."""
        chunks = {keys.TOPUP_QUEUE: TOPUP_CHUNK, keys.PURGE_QUEUE: 1}
        sources = [
            _Source(self.store, pk, self.now, chunks.get(pk, PAGE)) for pk in queue_order(self.now)
        ]
        try:
            while sources:
                for source in list(sources):
                    chunk = source.take()
                    if not chunk:
                        sources.remove(source)
                        continue
                    if not time_left() or not self._work(source, chunk, time_left):
                        return False
            return True
        finally:
            self._drain()

    def _work(self, source: _Source, chunk: list[Item], time_left: Callable[[], bool]) -> bool:
        progress = self.report.progress
        progress[source.pk] = progress.get(source.pk, 0) + len(chunk)
        if source.pk == keys.TOPUP_QUEUE:
            return _top_up(self.store, self.settings, self.now, chunk, self.report, time_left)
        if source.pk == keys.PURGE_QUEUE:
            return self._purge(source, chunk[0], time_left)
        self._advance_page(chunk)
        return True

    # -- due events -------------------------------------------------------------------------
    def _advance_page(self, page: list[Item]) -> None:
        """Decide each event here, write on the pool (the writes overlap the next page's read)."""
        _load_maintenances(self.store, {e["maintenance_id"] for e in page}, self.maintenances)
        for event in page:
            self.report.due_seen += 1
            maintenance = self.maintenances.get(event["maintenance_id"])
            reason = hold_reason(event, maintenance)
            if reason is not None or maintenance is None:
                if reason == "stale" and maintenance is not None:
                    _clear_once(self.store, maintenance, self.now)
                self.report.skipped += 1
                continue
            self._make_room(MAX_QUEUED - 1)
            future = self.pool.submit(
                advance_event,
                self.store,
                event,
                maintenance["status"] == "ACTIVE",
                self.now,
                self.settings.ready_window_seconds,
            )
            self.in_flight[future] = event

    def _make_room(self, most: int) -> None:
        """Count finished writes; wait while more than `most` are in flight."""
        done = [f for f in self.in_flight if f.done()]
        while not done and len(self.in_flight) > most:
            done = list(wait(self.in_flight, return_when=FIRST_COMPLETED).done)
        for future in done:
            self._count(future)

    def _count(self, future: "Future[Item | None]") -> None:
        """Results are counted on the tick's thread only, so the report is exact."""
        event = self.in_flight.pop(future)
        written = future.result()
        if written is None:
            self.report.skipped += 1
        elif written["status"] != event["status"]:
            self.report.transitions += 1
            self.report.changes.append((event["id"], event["status"], written["status"]))
            due = keys.queue_time(str(event["GSI3SK"]))
            late = self.now + int(time.monotonic() - self.started) - due
            self.report.max_lag = max(self.report.max_lag, late)

    def _drain(self) -> None:
        """Wait for every write in flight and count it; then raise the first that failed."""
        error: Exception | None = None
        while self.in_flight:
            future = next(iter(self.in_flight))
            try:
                self._count(future)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    # -- deletions --------------------------------------------------------------------------
    def _purge(self, source: _Source, queued: Item, time_left: Callable[[], bool]) -> bool:
        """A slice of one deletion; one that needs longer goes on at the queue's next turn."""
        deadline = time.monotonic() + PURGE_SLICE_SECONDS
        pages = itertools.count()

        def slice_left() -> bool:  # at least a page a turn
            return time_left() and (next(pages) == 0 or time.monotonic() < deadline)

        from maintsvc.lifecycle.deletion import purge_maintenance  # see the imports' note

        if purge_maintenance(self.store, queued["id"], self.now, slice_left):
            self.report.purged += 1
            return True
        if not time_left():
            return False
        if time.monotonic() >= deadline:
            source.give_back(queued)
        return True


def _load_maintenances(store: Store, wanted: set[int], cache: dict[int, Item | None]) -> None:
    """BatchGetItem the maintenances a page needs that this tick has not read yet."""
    missing = sorted(wanted - cache.keys())
    if not missing:
        return
    found = {i["id"]: i for i in maintenance_items.get_maintenances(store, missing)}
    for maintenance_id in missing:
        item = found.get(maintenance_id)
        cache[maintenance_id] = item if is_live(item) else None


def _clear_once(store: Store, maintenance: Item, now: int) -> None:
    """A pending event from an older schedule: a PATCH died before clearing; finish it."""
    from maintsvc.lifecycle.materialise import clear_stale_schedule  # see the imports' note

    if not maintenance.get("_cleared"):
        clear_stale_schedule(store, maintenance, now)
        maintenance["_cleared"] = True


def _top_up(
    store: Store,
    settings: Settings,
    now: int,
    chunk: list[Item],
    report: TickReport,
    time_left: Callable[[], bool],
) -> bool:
    """Materialise the horizon of each queued maintenance; False when time ran out."""
    # See the imports' note.
    from maintsvc.lifecycle.materialise import clear_stale_schedule, materialise_occurrences

    for queued in chunk:
        if not time_left():
            return False
        # The index copy may lag; the guarded writes check the live item.
        maintenance = maintenance_items.get_maintenance(store, queued["id"])
        if maintenance is None or not is_live(maintenance):
            continue
        if maintenance["status"] != "ACTIVE":
            _leave_topup_queue(store, maintenance)
            continue
        try:
            if maintenance.get("needs_cleanup"):
                clear_stale_schedule(store, maintenance, now)
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
        work_queues.postpone_top_up(store, maintenance["id"], maintenance["schedule_version"], at)


def _leave_topup_queue(store: Store, maintenance: Item) -> None:
    """An INACTIVE maintenance has nothing to top up (its PATCH normally removes it)."""
    # Reactivated meanwhile: it stays queued and is topped up next tick.
    with contextlib.suppress(ConditionFailed):
        work_queues.leave_top_up_queue_if_inactive(store, maintenance["id"])
