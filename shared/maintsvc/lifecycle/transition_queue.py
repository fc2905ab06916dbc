"""Status changes on the second: the transition queue and its worker (docs/behaviour.md §5).

The tick runs once a minute, so on its own a status change lands up to a
minute after its due time, and the first minute of a window is when alerts
must already be suppressed. So every tick also looks one minute ahead: each
change that time will make to an event before the next tick becomes an SQS
message whose DelaySeconds makes it visible at its due second, and the
transition worker (functions/transitions) applies it then with the very
conditional write the tick would use. Nothing else changes: a message that
is lost, late or duplicated costs nothing but time, because the tick still
advances whatever is due when it runs, and every write is conditional on the
state that was read. Idle cost: the tick sends only when something is due
within the minute.

The queue URL comes from TRANSITION_QUEUE_URL; empty (or not an http(s)
URL, which is what a local stand-in makes of `!Ref TransitionQueue`) turns
the look-ahead off, so tests, `maintctl tick` and a stack without the queue
work as before.
"""

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from maintsvc.config import Settings
from maintsvc.lifecycle.status_changes import advance_event, hold_reason
from maintsvc.lifecycle.statuses import TERMINAL, next_transition_at, status_from_time
from maintsvc.observability import logger
from maintsvc.storage import keys
from maintsvc.storage.access import event_items, work_queues
from maintsvc.storage.items import is_live
from maintsvc.storage.store import Item, Store

QUEUE_URL_ENV = "TRANSITION_QUEUE_URL"
# Further than the next tick: EventBridge may start it a few seconds late, and an event
# due in between would otherwise wait for the tick after. A change inside the overlap is
# enqueued by two ticks; the second message finds nothing to do.
LOOKAHEAD_SECONDS = 75
MAX_DELAY_SECONDS = 900  # SQS's limit
# Delays are whole seconds, so a message can arrive up to a second before its due time:
# the worker waits for it (never longer than this).
MAX_EARLY_WAIT_SECONDS = 5.0
SQS_BATCH = 10


def queue_url_from_env() -> str:
    """The transition queue's URL, or "" when the look-ahead is off."""
    url = os.environ.get(QUEUE_URL_ENV, "").strip()
    return url if url.startswith(("https://", "http://")) else ""


@dataclass(frozen=True)
class DueChange:
    """One change time will make to an event: the message body, and what the worker checks.

    `status`, `start` and `end` are the state the event will be in just
    before `due`; an event found with other times was rescheduled since
    (its new due time has its own turn) and the message is dropped.
    """

    maintenance_id: int
    event_id: int
    status: str
    start: int
    end: int
    due: int

    def body(self) -> str:
        return json.dumps(
            {
                "m": self.maintenance_id,
                "e": self.event_id,
                "status": self.status,
                "start": self.start,
                "end": self.end,
                "due": self.due,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, body: str) -> "DueChange":
        """The message body back; ValueError when it is not one of ours."""
        raw = json.loads(body)
        if not isinstance(raw, dict):
            raise ValueError("message body is not an object")
        numbers = [raw.get(k) for k in ("m", "e", "start", "end", "due")]
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            raise ValueError("message body lacks its numbers")
        if not isinstance(raw.get("status"), str):
            raise ValueError("message body lacks a status")
        return cls(raw["m"], raw["e"], raw["status"], raw["start"], raw["end"], raw["due"])


def upcoming_changes(event: Item, after: int, until: int, ready_window: int) -> list[DueChange]:
    """The changes time makes to `event` in (after, until], each with the state it expects.

    Usually one; a short ready window or window can put two or three in one
    minute (READY, then ONGOING, then COMPLETED), and each gets its message,
    since the next tick would be too late for the second. An event whose due
    time is not the lifecycle's (a paused maintenance's event waits for its
    window's end) gets one look at that time, as the tick would give it.
    """
    status, start, end = event["status"], event["start_date_time"], event["end_date_time"]
    due = keys.queue_time(str(event["GSI3SK"]))

    def change(expected: str, at: int) -> DueChange:
        return DueChange(event["maintenance_id"], event["id"], expected, start, end, at)

    natural = next_transition_at(status, start, end, ready_window)
    if natural != due:
        return [change(status, due)] if after < due <= until else []
    changes: list[DueChange] = []
    at: int | None = natural
    while at is not None and at <= until and status not in TERMINAL:
        if at > after:
            changes.append(change(status, at))
        status = status_from_time(at, start, end, ready_window)
        at = next_transition_at(status, start, end, ready_window)
    return changes


@dataclass
class EnqueueResult:
    sent: int = 0
    failed: int = 0


def enqueue_upcoming(
    store: Store,
    queue_url: str,
    now: int,
    ready_window: int,
    pool: Executor,
    time_left: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.monotonic,
) -> EnqueueResult:
    """Send a delayed message for every change due in (now, now + LOOKAHEAD_SECONDS].

    Reads the due queues' next minute (GSI3 `DUE#*`, one Query each when
    nothing is due) and sends SendMessageBatch calls of 10 concurrently on
    `pool`. A failed send is counted and logged, never raised: the tick
    applies the change when it comes due, only later.
    """
    started = clock()
    until = now + LOOKAHEAD_SECONDS
    changes: list[DueChange] = []
    for pk in keys.due_pks():
        if not time_left():
            break
        for event in work_queues.events_due_between(store, pk, now, until):
            changes.extend(upcoming_changes(event, now, until, ready_window))
    result = EnqueueResult()
    batches = [changes[i : i + SQS_BATCH] for i in range(0, len(changes), SQS_BATCH)]
    sends: list[tuple[Future[list[str]], int]] = [
        (pool.submit(_send, store, queue_url, batch, now, started, clock), len(batch))
        for batch in batches
    ]
    for future, size in sends:
        try:
            failed = len(future.result())
        except Exception:
            logger.exception("sending transitions failed; the tick applies them when due")
            failed = size
        result.failed += failed
        result.sent += size - failed
    if result.failed:
        logger.warning("transitions not enqueued", extra={"failed": result.failed})
    return result


def _send(
    store: Store,
    queue_url: str,
    batch: Sequence[DueChange],
    now: int,
    started: float,
    clock: Callable[[], float],
) -> list[str]:
    """One SendMessageBatch; delays count from the moment of sending, not the tick's start.

    `now` is the tick's second, floored; the elapsed time is rounded up, so
    a message becomes visible within a second either side of its due time
    (the worker waits out the early side).
    """
    at = now + math.ceil(clock() - started)
    entries = [
        {
            "Id": str(index),
            "MessageBody": change.body(),
            "DelaySeconds": max(0, min(MAX_DELAY_SECONDS, change.due - at)),
        }
        for index, change in enumerate(batch)
    ]
    return store.send_messages(queue_url, entries)


# -- the worker ---------------------------------------------------------------------------


@dataclass
class WorkerReport:
    applied: int = 0
    unchanged: int = 0
    dropped: int = 0
    failed: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    changes: list[tuple[int, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "unchanged": self.unchanged,
            "dropped": self.dropped,
            "failed": len(self.failed),
            "max_lag": round(max(self.lags), 3) if self.lags else None,
        }


def apply_messages(
    store: Store,
    settings: Settings,
    records: Iterable[Mapping[str, Any]],
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkerReport:
    """Apply the due changes of one SQS batch; `failed` holds the message ids to retry.

    One BatchGetItem reads every event and maintenance of the batch, then the
    writes run concurrently. A message whose event moved on (gone, terminal,
    rescheduled, its maintenance deleted) is dropped: it is not a failure.
    A write that raised is reported for that message only, so SQS redelivers
    just it (and the dead-letter queue gets it after three tries).
    """
    clock = clock or (lambda: time.time())  # looked up per call: tests move the clock
    report = WorkerReport()
    parsed = _parse_batch(records, report)
    if not parsed:
        return report
    early = max(change.due for _, change in parsed) - clock()
    if 0 < early <= MAX_EARLY_WAIT_SECONDS:
        sleep(early)
    now = int(clock())
    try:
        found = _read_batch(store, parsed)
    except Exception:
        logger.exception("reading the batch's events failed; SQS redelivers it")
        report.failed.extend(message_id for message_id, _ in parsed)
        return report
    with ThreadPoolExecutor(max_workers=len(parsed), thread_name_prefix="apply") as pool:
        futures = [
            (message_id, change, pool.submit(_apply, store, settings, change, found, now))
            for message_id, change in parsed
        ]
        for message_id, change, future in futures:
            _record_outcome(report, message_id, change, future, clock)
    return report


def _parse_batch(
    records: Iterable[Mapping[str, Any]], report: WorkerReport
) -> list[tuple[str, DueChange]]:
    """(message id, change) of every readable record; unreadable ones are failures."""
    parsed: list[tuple[str, DueChange]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            parsed.append((message_id, DueChange.parse(str(record["body"]))))
        except (KeyError, ValueError):
            logger.error("unreadable transition message", extra={"message_id": message_id})
            report.failed.append(message_id)
    return parsed


def _read_batch(store: Store, parsed: list[tuple[str, DueChange]]) -> dict[tuple[str, str], Item]:
    """Every event of the batch and its maintenance, in one BatchGetItem."""
    return event_items.get_events_and_maintenances(
        store, [(change.maintenance_id, change.event_id) for _, change in parsed]
    )


def _record_outcome(
    report: WorkerReport,
    message_id: str,
    change: DueChange,
    future: "Future[Any]",
    clock: Callable[[], float],
) -> None:
    try:
        outcome = future.result()
    except Exception:
        logger.exception(
            "applying a transition failed",
            extra={"event_id": change.event_id, "message_id": message_id},
        )
        report.failed.append(message_id)
        return
    if outcome is None:
        report.dropped += 1
    elif outcome[1] is None:
        report.unchanged += 1
    else:
        report.applied += 1
        report.lags.append(clock() - change.due)
        if outcome[1] != outcome[0]:
            report.changes.append((change.event_id, outcome[0], outcome[1]))


def _apply(
    store: Store,
    settings: Settings,
    change: DueChange,
    found: Mapping[tuple[str, str], Item],
    now: int,
) -> tuple[str, str | None] | None:
    """(status before, status written or None when nothing was due); None: dropped."""
    event_key = keys.event_key(change.maintenance_id, change.event_id)
    event = found.get((event_key["PK"], event_key["SK"]))
    if (
        event is None
        or event["status"] in TERMINAL
        or event["start_date_time"] != change.start
        or event["end_date_time"] != change.end
    ):
        return None
    meta_key = keys.maintenance_key(change.maintenance_id)
    meta = found.get((meta_key["PK"], meta_key["SK"]))
    maintenance = meta if is_live(meta) else None
    if maintenance is None or hold_reason(event, maintenance) is not None:
        return None  # the tick (or the delete, or the top-up) deals with it
    written = advance_event(
        store,
        event,
        maintenance["status"] == "ACTIVE",
        now,
        settings.ready_window_seconds,
    )
    return event["status"], None if written is None else written["status"]
