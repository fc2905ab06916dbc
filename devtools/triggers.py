"""What invokes functions besides HTTP: EventBridge schedules and the table's stream.

* `Ticker` invokes every Schedule function with the event an EventBridge
  rule delivers, at start and then every `interval` seconds.
* `StreamReader` takes the table's stream records from the embedded moto
  between requests and hands them, in order, to its subscribers (which is
  also how moto stops keeping them: see devtools.localaws).
* `EventSourceMapping` is Lambda's poller for one DynamoDB event of the
  template (NotifierFunction's): FilterCriteria, BatchSize,
  MaximumBatchingWindowInSeconds, ReportBatchItemFailures and
  MaximumRetryAttempts as the template sets them.

Every thread here is a daemon and `stop()` waits for none of them for long:
the dev server must stop within 2 s whatever a function is doing. Given a
`Priority` (devtools.priority), a worker's thread runs as background work: its
AWS calls wait while API requests are served, and once the stack stops they
raise `Abandoned`, on which the worker ends without a word (a failure logged
then would only be the stop itself).
"""

import base64
import json
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext, suppress
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from devtools.gateway import Invoker
from devtools.localaws import EmbeddedMoto, take_stream_records
from devtools.priority import READ_SHARE_SECONDS, Abandoned, Priority, in_background
from devtools.template import ACCOUNT_ID, FunctionSpec, QueueSourceSpec, ScheduleSpec, StreamSpec

# How long stop() waits for a thread that is busy in a function (then leaves it).
STOP_GRACE_SECONDS = 0.2
# Matching stream records waiting for the function beyond this many are dropped,
# oldest first (deployed, records expire after 24 hours).
BACKLOG_LIMIT = 10_000
MAX_RETRY_DELAY_SECONDS = 10.0
# An empty queue is polled again after this long (a change is applied at most this late).
QUEUE_POLL_SECONDS = 0.25

Subscriber = Callable[[list[dict[str, Any]]], None]


def _log_failure(what: str) -> None:
    print(f"devserver: {what}:\n{traceback.format_exc()}", file=sys.stderr, end="")


def scheduled_event(
    schedule: ScheduleSpec, region: str, now: float | None = None
) -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers to its target."""
    moment = time.gmtime(time.time() if now is None else now)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{schedule.rule_name}"],
        "detail": {},
    }


class _Worker:
    """A daemon thread running `_run` until `stop()`, as background work of `priority`."""

    def __init__(self, name: str, priority: Priority | None = None) -> None:
        self._stopping = threading.Event()
        self._priority = priority
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        background = self._priority.background() if self._priority else nullcontext()
        with background, suppress(Abandoned):  # Abandoned: the stack is stopping
            self._run()

    def start(self) -> None:
        self._thread.start()

    def _failed(self, what: str) -> None:
        """Log a failure with its traceback, unless the stack is stopping (then moto
        going away mid-call is the cause, and the output must end cleanly)."""
        if not self._stopping.is_set():
            _log_failure(what)

    def stop(self) -> None:
        stop_workers([self])

    def _ask_to_stop(self) -> None:
        self._stopping.set()
        self._wake()

    def _wake(self) -> None:
        """Interrupt whatever wait `_run` is in (the stop event does it by default)."""

    def _run(self) -> None:
        raise NotImplementedError


def stop_workers(workers: Sequence[_Worker], grace: float = STOP_GRACE_SECONDS) -> None:
    """Ask every worker not asked yet to stop, then wait for them `grace` seconds in all,
    not each: one by one, four workers busy in their functions made a stop 0.8 s longer."""
    asked = [worker for worker in workers if not worker._stopping.is_set()]
    for worker in asked:
        worker._ask_to_stop()
    deadline = time.monotonic() + grace
    for worker in asked:
        worker._thread.join(max(0.0, deadline - time.monotonic()))


class Ticker(_Worker):
    """Invokes every Schedule function at start and then at its rate, counted in ticks of
    `interval` seconds standing for a minute each: rate(1 minute) every tick, rate(5
    minutes) (the reconciler) every fifth. DEV_TICK_SECONDS speeds both up for tests and
    demos.
    A failing tick is logged and the next one runs as usual, as with
    EventBridge (the rule has no retries).
    """

    def __init__(
        self,
        schedules: Sequence[ScheduleSpec],
        lambdas: Invoker,
        interval: float,
        region: str,
        priority: Priority | None = None,
    ) -> None:
        super().__init__("devserver-ticker", priority)
        self._schedules = list(schedules)
        self._lambdas = lambdas
        self._interval = interval
        self._region = region

    def _run(self) -> None:
        ticks = 0
        while not self._stopping.is_set():
            for schedule in self._schedules:
                if ticks % schedule.every_minutes:
                    continue
                try:
                    self._lambdas.invoke(schedule.function, scheduled_event(schedule, self._region))
                except Exception:
                    self._failed(f"{schedule.function.logical_id} tick failed")
            ticks += 1
            self._stopping.wait(self._interval)


class StreamReader(_Worker):
    """Every `interval` s, the table's new stream records to each subscriber, in order."""

    def __init__(
        self,
        moto: EmbeddedMoto,
        table_name: str,
        region: str,
        subscribers: Sequence[Subscriber],
        interval: float = 0.25,
        priority: Priority | None = None,
    ) -> None:
        super().__init__("devserver-stream", priority)
        self._moto = moto
        self._table_name = table_name
        self._region = region
        self._subscribers = list(subscribers)
        self._interval = interval
        self._reading = threading.Lock()  # the thread and a final read_once() keep order

    def _turn(self) -> bool:
        if self._priority is None:
            return True
        return self._priority.wait_turn("stream", READ_SHARE_SECONDS)

    def read_once(self) -> int:
        """Hand on whatever the stream holds now; the number of records."""
        with self._reading:
            lock = self._moto.lock
            with lock.background() if in_background() else lock:
                table = self._moto.table(self._table_name, self._region)
                records = [record.to_json() for record in take_stream_records(table)]
            for subscriber in self._subscribers:
                subscriber(records)
            return len(records)

    def _run(self) -> None:
        # Taking the records holds moto's lock, and handing them on is CPU work: both wait
        # for the reader's turn, a lane of its own (see devtools.priority).
        while not self._stopping.wait(self._interval) and self._turn():
            try:
                self.read_once()
            except Exception:
                self._failed("reading the table stream failed")


def pattern_matches(pattern: dict[str, Any], data: Any) -> bool:
    """Lambda event filtering: every field of `pattern` matches `data` (nested objects recurse).

    A field's list matches when any of its rules does: a value (equal, or
    contained in a list), or one of the operators `prefix`, `suffix`,
    `anything-but` and `exists` (devtools.template refuses any other).
    """
    for key, expected in pattern.items():
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(expected, dict):
            if not (present and pattern_matches(expected, value)):
                return False
        elif not any(_rule_matches(rule, present, value) for rule in expected):
            return False
    return True


def _rule_matches(rule: Any, present: bool, value: Any) -> bool:
    if not isinstance(rule, dict):
        return present and (value == rule or (isinstance(value, list) and rule in value))
    ((operator, argument),) = rule.items()
    if operator == "exists":
        return present is argument
    if operator == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        return present and value not in excluded
    if not (present and isinstance(value, str)):
        return False
    return value.startswith(argument) if operator == "prefix" else value.endswith(argument)


def _lambda_json(value: Any) -> Any:
    """What a stream record holds besides JSON: binary attributes (bytes, as boto3 parses
    them) travel base64-encoded in Lambda's events."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in a stream record")


def lambda_record(
    record: dict[str, Any], stream_arn: str, region: str | None = None
) -> dict[str, Any]:
    """A stream record (moto's, or a GetRecords answer) as Lambda delivers it: plain JSON,
    times as epoch seconds, binary values base64, the stream's ARN and, given `region`,
    that region (moto and DynamoDB Local write their own into `awsRegion`)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    copied: dict[str, Any] = json.loads(
        json.dumps({**record, "dynamodb": dynamodb}, default=_lambda_json)
    )
    copied["eventSourceARN"] = stream_arn
    if region is not None:
        copied["awsRegion"] = region
    return copied


def passes_filters(spec: StreamSpec, record: dict[str, Any]) -> bool:
    """Lambda's FilterCriteria: a record reaches the function when any pattern matches
    (no patterns: every record); the others are dropped, never delivered."""
    return not spec.filters or any(pattern_matches(f, record) for f in spec.filters)


def failed_from(spec: StreamSpec, batch: list[dict[str, Any]], result: Any) -> int | None:
    """Where to resend `batch` from, per ReportBatchItemFailures; None when it is done.

    An item identifier that names no record of the batch fails it all, as
    Lambda does.
    """
    if not spec.report_batch_item_failures:
        return None
    return failure_position(batch, result)


def failure_position(batch: list[dict[str, Any]], result: Any) -> int | None:
    """The first record a partial batch response names as failed (0 when it names one that
    is not in the batch, as Lambda treats it); None when it names none."""
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures") or []
    if not failures:
        return None
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    found = [
        positions.get(f.get("itemIdentifier")) if isinstance(f, dict) else None for f in failures
    ]
    if any(position is None for position in found):
        return 0
    return min(position for position in found if position is not None)


def _nothing(records: list[dict[str, Any]]) -> None:
    pass


def deliver_batch(
    spec: StreamSpec,
    batch: list[dict[str, Any]],
    invoke: Callable[[FunctionSpec, dict[str, Any]], Any],
    *,
    attempts: int,
    retry_delay: float,
    wait: Callable[[float], bool],
    log: Callable[[str], None],
    done: Callable[[list[dict[str, Any]]], None] = _nothing,
) -> list[dict[str, Any]]:
    """Invoke `spec`'s function on `batch` as Lambda's stream poller does; what is left undone.

    A batch that fails (the function raises, or reports an item failure) is
    sent again from the failed record after a pause that doubles each time,
    from `retry_delay` seconds up to MAX_RETRY_DELAY_SECONDS, for at most
    `attempts` invocations in all. Every failure is logged. `done` hears of
    the records the function finished, in order, as soon as it has (the
    records before a reported item failure count), so a caller can keep a
    checkpoint that never passes an unprocessed record. Returns [] when the
    whole batch got through, else the records still undone when the attempts
    ran out or `wait` (the pause) said to stop.
    """
    name = spec.function.logical_id
    for attempt in range(1, attempts + 1):
        try:
            result = invoke(spec.function, {"Records": batch})
            position = failed_from(spec, batch, result)
            why = "" if position is None else f"reported a failure at record {position + 1}"
        except Exception:
            position, why = 0, f"raised:\n{traceback.format_exc().rstrip()}"
        if position is None:
            done(batch)
            return []
        if position:
            done(batch[:position])
        batch = batch[position:]
        delay = min(retry_delay * 2 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS)
        retry = f"retry in {delay:g} s" if attempt < attempts else "no retries left"
        log(
            f"{name}: a batch of {len(batch)} stream records failed (attempt {attempt} of "
            f"{attempts}; {retry}): it {why}"
        )
        if attempt < attempts and wait(delay):
            break
    return batch


# A context variable, not a thread-local: a consumer's own worker threads run in a copy of
# its context (maintsvc.derived.monitor_windows), so their calls are left out too.
_consuming: ContextVar[bool] = ContextVar("consuming_stream", default=False)
# Stream consumers that keep read models the API reads (the feed's counters). Tests and
# benchmarks run them synchronously between requests; the notifier has its own tests.
READ_MODEL_FUNCTIONS = ("IndexerFunction",)


def read_model_streams(specs: Sequence[StreamSpec]) -> list[StreamSpec]:
    return [s for s in specs if s.on_table and s.function.logical_id in READ_MODEL_FUNCTIONS]


def consuming_stream() -> bool:
    """True inside `deliver_stream_now`: request counters leave the consumers' calls out."""
    return _consuming.get()


def deliver_stream_now(
    specs: Sequence[StreamSpec],
    records: list[dict[str, Any]],
    invoke: Callable[[FunctionSpec, dict[str, Any]], Any],
    stream_arn: str,
) -> list[dict[str, Any]]:
    """Hand stream records to each spec's function at once, filtered and batched as Lambda
    would: tests and benchmarks read what the stream consumers derive right after writing.

    A batch whose function raises is not lost: it and the records after it are
    returned, for the next call to deliver again (Lambda retries a failed
    batch; a consumer's failure never fails the writer's request).
    """
    failed_at: int | None = None
    for spec in specs:
        wanted = [
            (i, lambda_record(r, stream_arn))
            for i, r in enumerate(records)
            if passes_filters(spec, r)
        ]
        for start in range(0, len(wanted), spec.batch_size):
            batch = wanted[start : start + spec.batch_size]
            token = _consuming.set(True)
            try:
                invoke(spec.function, {"Records": [record for _, record in batch]})
            except Exception:
                _log_failure(f"{spec.function.logical_id} failed; its batch is kept for later")
                first = batch[0][0]
                failed_at = first if failed_at is None else min(failed_at, first)
                break
            finally:
                _consuming.reset(token)
    return [] if failed_at is None else records[failed_at:]


class EventSourceMapping(_Worker):
    """Lambda's stream poller for one function: filter, batch, invoke, retry (see module doc).

    `offer` is a StreamReader subscriber. Records that pass the filters
    wait in order; a batch is sent once `batch_size` are waiting or the
    first of them has waited the batching window. A batch that fails is
    retried as `deliver_batch` does (from the failed record, the pause
    doubling from `retry_delay` seconds), until the retry limit, and is then
    dropped with a message: later records wait for it, as on a shard.

    What a stop leaves undelivered, `pending()` (the batch in flight, as it was
    sent, and the records waiting), is what the next start `resume()`s with: a
    stream keeps its records for a day and the mapping resumes from its
    checkpoint, and the consumers lag by design locally (devtools.priority).
    The batch in flight may have been applied in part: it is sent again, and the
    indexer counts each record once (its COUNTED# markers).
    """

    def __init__(
        self,
        spec: StreamSpec,
        lambdas: Invoker,
        stream_arn: str,
        retry_delay: float = 0.5,
        priority: Priority | None = None,
    ) -> None:
        super().__init__(f"devserver-{spec.function.logical_id}-{spec.event_name}", priority)
        self._spec = spec
        self._retry_delay = retry_delay
        self._lambdas = lambdas
        self._stream_arn = stream_arn
        self._waiting: deque[tuple[float, dict[str, Any]]] = deque()
        self._condition = threading.Condition()
        self._in_flight: list[dict[str, Any]] = []
        self._resumed: list[dict[str, Any]] = []  # a batch a stop left in flight
        self.dropped = 0

    @property
    def name(self) -> str:
        return f"{self._spec.function.logical_id}.{self._spec.event_name}"

    def pending(self) -> dict[str, list[dict[str, Any]]]:
        """What is not delivered yet: the batch in flight and the records waiting."""
        with self._condition:
            return {
                "in_flight": list(self._resumed or self._in_flight),
                "waiting": [record for _, record in self._waiting],
            }

    def resume(self, pending: dict[str, list[dict[str, Any]]]) -> None:
        """Before `start()`: deliver what `pending()` returned at the last stop first."""
        now = time.monotonic()
        with self._condition:
            self._resumed = list(pending.get("in_flight") or [])
            self._waiting.extendleft((now, r) for r in reversed(pending.get("waiting") or []))

    def backlog(self) -> float:
        """The records waiting for the function, as a fraction of BACKLOG_LIMIT."""
        return len(self._waiting) / BACKLOG_LIMIT

    def offer(self, records: list[dict[str, Any]]) -> None:
        wanted = [r for r in records if passes_filters(self._spec, r)]
        if not wanted:
            return
        now = time.monotonic()
        with self._condition:
            self._waiting.extend((now, lambda_record(r, self._stream_arn)) for r in wanted)
            overflow = len(self._waiting) - BACKLOG_LIMIT
            for _ in range(max(0, overflow)):
                self._waiting.popleft()
                self.dropped += 1
            self._condition.notify_all()
        if overflow > 0:
            print(
                f"devserver: {self._spec.function.logical_id} is behind: dropped the "
                f"{overflow} oldest stream records",
                file=sys.stderr,
            )

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def _next_batch(self) -> list[dict[str, Any]]:
        """Wait for a full batch or the window's end; take the batch (none once stopping).

        The batch is in flight from then on (taken and marked under one lock, so
        `pending()` sees every record in one place or the other).
        """
        with self._condition:
            self._in_flight = []
            if self._resumed:
                self._in_flight, self._resumed = self._resumed, []
                return self._in_flight
            while not self._stopping.is_set():
                if len(self._waiting) >= self._spec.batch_size:
                    break
                if self._waiting:
                    ready_at = self._waiting[0][0] + self._spec.batching_window_seconds
                    if time.monotonic() >= ready_at:
                        break
                    self._condition.wait(ready_at - time.monotonic())
                else:
                    self._condition.wait()
            if self._stopping.is_set():
                return []
            count = min(len(self._waiting), self._spec.batch_size)
            self._in_flight = [self._waiting.popleft()[1] for _ in range(count)]
            return self._in_flight

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if batch:
                self._deliver(batch)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Send `batch` until done or given up; a stop leaves what is left in flight."""

        def failed(message: str) -> None:
            if not self._stopping.is_set():
                print(f"devserver: {message}", file=sys.stderr)

        def done(records: list[dict[str, Any]]) -> None:
            with self._condition:
                self._in_flight = self._in_flight[len(records) :]

        left = deliver_batch(
            self._spec,
            batch,
            self._lambdas.invoke,
            attempts=self._spec.maximum_retry_attempts + 1,
            retry_delay=self._retry_delay,
            wait=self._stopping.wait,
            log=failed,
            done=done,
        )
        if self._stopping.is_set():
            return  # what is left stays in flight for the next start
        if left:
            print(
                f"devserver: {self._spec.function.logical_id}: gave up on {len(left)} stream "
                f"records after {self._spec.maximum_retry_attempts} retries",
                file=sys.stderr,
            )
        with self._condition:
            self._in_flight = []


class QueuePoller(_Worker):
    """Lambda's SQS poller for one function (TransitionWorkerFunction's queue).

    ReceiveMessage (moto honours each message's DelaySeconds and the
    visibility timeout in real time), the batch in the shape Lambda's SQS
    event source delivers, then DeleteMessageBatch of every message but those
    the function reported in `batchItemFailures`. A function that raises
    deletes nothing: the messages come back after their visibility timeout,
    and the queue's redrive policy moves them aside after its receive count.
    """

    def __init__(self, spec: QueueSourceSpec, url: str, lambdas: Invoker, region: str) -> None:
        super().__init__(f"devserver-{spec.function.logical_id}-{spec.event_name}")
        self._spec = spec
        self._url = url
        self._lambdas = lambdas
        self._arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{spec.queue}"
        self._region = region

    def _run(self) -> None:
        import boto3

        sqs: Any = boto3.client("sqs")
        while not self._stopping.is_set():
            try:
                # No long polling: the embedded moto serves one request at a time, and a
                # waiting ReceiveMessage would hold every DynamoDB request behind it.
                messages = sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=min(self._spec.batch_size, 10),
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                self._failed(f"receiving from {self._spec.queue} failed")
                self._stopping.wait(1.0)
                continue
            if messages:
                self._deliver(sqs, messages)
            else:
                self._stopping.wait(QUEUE_POLL_SECONDS)

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        records = [self._record(m) for m in messages]
        try:
            result = self._lambdas.invoke(self._spec.function, {"Records": records})
        except Exception:
            self._failed(f"{self._spec.function.logical_id} failed on {len(records)} messages")
            return
        failed = set()
        if self._spec.report_batch_item_failures and isinstance(result, dict):
            failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures") or []}
        done = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=self._url, Entries=done)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return sqs_record(message, self._arn, self._region)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A message as ReceiveMessage returns it, in the shape Lambda's SQS event source
    hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
