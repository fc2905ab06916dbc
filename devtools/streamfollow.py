"""`maintctl follow-stream`: the table's stream to its Lambda consumers, outside `make dev`.

Deployed, Lambda's event source mappings read the table's stream and invoke
IndexerFunction (the feed's counters, the monitor-window index) and
NotifierFunction (EventBridge). `make dev` runs both from its embedded
moto (devtools.triggers). `sam local start-api` runs no event source mapping,
so under it nothing reads the stream, and nothing says so: the feed answers
`total: 0` and the monitor route `in_maintenance: false`. This module is the
missing mapping for any DynamoDB that speaks the Streams API (DynamoDB
Local, moto's server). It finds the stream (DescribeTable), its shards
(DescribeStream), reads them (GetShardIterator, GetRecords, a closed shard's
children once it is read to its end, as Lambda does) and invokes the
handlers in this process (devtools.lambdas) with each DynamoDB event's
settings from template.yaml:

* one mapping per event, each with its own position and its own thread, so a
  notifier that cannot publish never holds up the indexer;
* records in Lambda's format (devtools.triggers.lambda_record), filtered by
  the event's FilterCriteria, in batches of at most its BatchSize;
* a failed batch retried from the failed record (ReportBatchItemFailures),
  the pause doubling from RETRY_DELAY_SECONDS to a cap, up to the event's
  MaximumRetryAttempts (devtools.triggers.deliver_batch); after those, as
  Lambda does once it has sent them to its OnFailure destination, the
  records are logged and passed over;
* the position saved to a checkpoint file only once everything before it
  was delivered (or filtered out), so a restart resumes where the last run
  stopped and delivers no record twice unless its batch failed half-way.

Without a checkpoint a mapping starts where the template says
(StartingPosition: the indexer from the oldest record, the notifier from
the newest); `--from-start` and `--from-latest` put every mapping there and
forget the checkpoint. `--once` reads every shard to its current end and
exits; there, a batch still failing after ONCE_ATTEMPTS stops its mapping
(exit status 1) with the checkpoint before it, so the next run delivers it
again.

Notifications the notifier publishes are printed, one line each, unless an
EventBridge endpoint is given: nothing here can reach a real bus by mistake.
"""

import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from devtools.lambdas import LocalLambda, default_aws_environment, set_variables
from devtools.template import DEFAULT_TEMPLATE, FunctionSpec, StreamSpec, load_template
from devtools.triggers import deliver_batch, lambda_record, passes_filters

CHECKPOINT_DIR = DEFAULT_TEMPLATE.parent / ".local-data" / "follow-stream"
# A batch that still fails after this many invocations stops a `--once` run.
ONCE_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.5
# How often a caught-up mapping asks for new records (Lambda polls about 4 times a second).
POLL_SECONDS = 0.25
# The pause after the stream could not be read (the DynamoDB endpoint went away, say), and
# how often the same failure is logged again.
READ_ERROR_PAUSE_SECONDS = 5.0
READ_ERROR_REPEAT_SECONDS = 60.0
FROM_START, FROM_LATEST = "TRIM_HORIZON", "LATEST"
# The discard port on loopback: nothing listens, a request there is refused at once.
NOWHERE = "http://127.0.0.1:9"

Invoke = Callable[[FunctionSpec, dict[str, Any]], Any]
Log = Callable[[str], None]


class FollowError(Exception):
    """follow-stream cannot start or go on; the message says why and what to do."""


class BatchFailed(Exception):
    """A `--once` run's batch kept failing: its mapping stops with the checkpoint before it."""


class _Stopped(Exception):
    """Asked to stop while a batch waited for its retry."""


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    # An ending sequence number: no record will be added (a parent of newer shards).
    closed: bool


class ShardSource(Protocol):
    """The reads a mapping makes of a stream (`Stream`; tests give a fake one)."""

    arn: str

    def shards(self) -> list[Shard]: ...

    def iterator(self, shard_id: str, after: str | None) -> str: ...

    def read(self, iterator: str) -> tuple[list[dict[str, Any]], str | None]: ...


class Stream:
    """A table's stream through the DynamoDB Streams API (DescribeStream, GetShardIterator,
    GetRecords), as a `dynamodbstreams` client of boto3 answers."""

    def __init__(self, client: Any, arn: str, log: Log) -> None:
        self._client = client
        self.arn = arn
        self._log = log

    def shards(self) -> list[Shard]:
        """Every shard of the stream, in DescribeStream's order (every page)."""
        shards: list[Shard] = []
        options: dict[str, Any] = {}
        while True:
            description = self._client.describe_stream(StreamArn=self.arn, **options)
            description = description["StreamDescription"]
            shards.extend(
                Shard(
                    raw["ShardId"],
                    raw.get("ParentShardId"),
                    "EndingSequenceNumber" in raw.get("SequenceNumberRange", {}),
                )
                for raw in description.get("Shards", [])
            )
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            options = {"ExclusiveStartShardId": last}

    def iterator(self, shard_id: str, after: str | None) -> str:
        """An iterator at the shard's first record, or just after sequence number `after`.

        Records past their 24 hours are trimmed: a checkpoint that points
        among them restarts at the oldest record there is, with a message.
        """
        if after is not None:
            try:
                return self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
            except self._client.exceptions.TrimmedDataAccessException:
                self._log(
                    f"records after {after} in shard {shard_id} are gone (older than the "
                    "stream keeps): reading from the oldest one left"
                )
        return self._iterator(shard_id, "TRIM_HORIZON")

    def _iterator(self, shard_id: str, kind: str, **position: str) -> str:
        answer = self._client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard_id, ShardIteratorType=kind, **position
        )
        return str(answer["ShardIterator"])

    def read(self, iterator: str) -> tuple[list[dict[str, Any]], str | None]:
        """One GetRecords: the records, and the next iterator (None: a closed shard's end)."""
        answer = self._client.get_records(ShardIterator=iterator)
        return list(answer.get("Records", [])), answer.get("NextShardIterator")


@dataclass
class Position:
    """Where one mapping is in the stream: per shard, the sequence number of the last record
    it is done with (delivered or filtered out), and the shards it has read to their end."""

    after: dict[str, str] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {"after": dict(sorted(self.after.items())), "finished": sorted(self.finished)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Position":
        return cls(dict(raw.get("after", {})), set(raw.get("finished", [])))


class Checkpoint:
    """Every mapping's position in one stream, in a JSON file replaced whole on each save.

    A file kept for another stream (the table was created again, as a
    DynamoDB Local in memory does on every start) means nothing for this
    one and is ignored, with a message.
    """

    def __init__(self, path: Path, stream_arn: str, positions: dict[str, Position]) -> None:
        self.path = path
        self.stream_arn = stream_arn
        self._positions = positions
        self._lock = threading.Lock()  # each mapping saves from its own thread

    @classmethod
    def load(cls, path: Path, stream_arn: str, log: Log) -> "Checkpoint":
        if not path.exists():
            return cls(path, stream_arn, {})
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            positions = {key: Position.from_json(p) for key, p in raw["mappings"].items()}
            saved_arn = str(raw["stream_arn"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FollowError(
                f"cannot read the checkpoint {path} ({exc}); delete it, or start with "
                "--from-start or --from-latest"
            ) from None
        if saved_arn != stream_arn:
            log(f"the checkpoint {path} is for another stream ({saved_arn}): not used")
            return cls(path, stream_arn, {})
        return cls(path, stream_arn, positions)

    def position(self, key: str) -> Position | None:
        """A mapping's position; only that mapping's thread changes it, through the methods
        below, which hold the lock a save of another mapping's progress holds too."""
        return self._positions.get(key)

    def place(self, key: str, position: Position) -> None:
        with self._lock:
            self._positions[key] = position
            self._save()

    def advance(self, key: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            self._positions[key].after[shard_id] = sequence_number
            self._save()

    def finish(self, key: str, shard_id: str, known: set[str]) -> None:
        """The shard is read to its end; shards the stream no longer lists (trimmed after
        24 hours) are dropped."""
        with self._lock:
            position = self._positions[key]
            position.finished.add(shard_id)
            position.after.pop(shard_id, None)
            position.finished &= known
            for gone in set(position.after) - known:
                del position.after[gone]
            self._save()

    def _save(self) -> None:
        document = {
            "stream_arn": self.stream_arn,
            "mappings": {k: p.as_json() for k, p in sorted(self._positions.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        partial.replace(self.path)


def mapping_key(spec: StreamSpec) -> str:
    return f"{spec.function.logical_id}.{spec.event_name}"


@dataclass
class Tally:
    """What one mapping did: records delivered, in how many invocations, and passed over."""

    delivered: int = 0
    batches: int = 0
    filtered_out: int = 0
    given_up: int = 0


class Mapping:
    """One DynamoDB event of the template, polled as Lambda's event source mapping polls it.

    `poll()` reads every shard it may (a child only once its parent is read
    to its end, or gone) to the shard's current end, delivering as it goes.
    """

    def __init__(
        self,
        spec: StreamSpec,
        stream: ShardSource,
        checkpoint: Checkpoint,
        invoke: Invoke,
        *,
        region: str,
        start: str,
        once: bool,
        log: Log,
        wait: Callable[[float], bool],
        stopping: threading.Event,
    ) -> None:
        self.spec = spec
        self.key = mapping_key(spec)
        self.tally = Tally()
        self._stream = stream
        self._checkpoint = checkpoint
        self._invoke = invoke
        self._region = region
        self._start = start
        self._once = once
        self._log = log
        self._wait = wait
        self._stopping = stopping
        self._iterators: dict[str, str] = {}
        self._shards: list[Shard] | None = None
        self._placed = checkpoint.position(self.key) is not None

    @property
    def name(self) -> str:
        return self.spec.function.logical_id

    def poll(self) -> int:
        """Read and deliver what the stream holds now; the number of records delivered.

        The shards are listed again only when one was read to its end (its
        children are new) or none is left to read, not on every poll.
        """
        before = self.tally.delivered
        shards = self._shards if self._shards is not None else self._stream.shards()
        if not self._placed:
            self._place(shards)
        progress = True
        while progress:
            progress = False
            for shard in shards:
                if self._may_read(shard, shards) and self._read_shard(shard.shard_id, shards):
                    progress = True  # its children may be read now
            if progress:
                shards = self._stream.shards()
        open_left = any(self._may_read(shard, shards) for shard in shards)
        self._shards = shards if open_left else None
        return self.tally.delivered - before

    def forget_iterators(self) -> None:
        """Read from the checkpoint, and list the shards, next time (after an error, or an
        iterator expired)."""
        self._iterators.clear()
        self._shards = None

    @property
    def _position(self) -> Position:
        position = self._checkpoint.position(self.key)
        assert position is not None  # placed
        return position

    def _may_read(self, shard: Shard, shards: Sequence[Shard]) -> bool:
        """Not read to its end yet, and (as Lambda does) its parent is, or is gone."""
        finished = self._position.finished
        parent = shard.parent_id
        known = {s.shard_id for s in shards}
        return shard.shard_id not in finished and (
            parent is None or parent not in known or parent in finished
        )

    def _place(self, shards: Sequence[Shard]) -> None:
        """No checkpoint: start at the oldest record, or after the newest (LATEST: closed
        shards count as read, open ones are read to their end without delivering)."""
        position = Position()
        if self._start == FROM_LATEST:
            for shard in shards:
                if shard.closed:
                    position.finished.add(shard.shard_id)
                else:
                    self._skip_to_end(shard.shard_id, position)
        self._checkpoint.place(self.key, position)
        self._placed = True

    def _skip_to_end(self, shard_id: str, position: Position) -> None:
        iterator: str | None = self._stream.iterator(shard_id, None)
        while iterator is not None:
            records, iterator = self._stream.read(iterator)
            if not records:
                break
            position.after[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        if iterator is not None:
            self._iterators[shard_id] = iterator

    def _read_shard(self, shard_id: str, shards: Sequence[Shard]) -> bool:
        """Deliver the shard's records up to its current end; whether it is read to its end."""
        iterator = self._iterators.pop(shard_id, None)
        if iterator is None:
            iterator = self._stream.iterator(shard_id, self._position.after.get(shard_id))
        while True:
            records, following = self._stream.read(iterator)
            if records:
                self._deliver(shard_id, records)
            if following is None:
                self._checkpoint.finish(self.key, shard_id, {s.shard_id for s in shards})
                return True
            iterator = following
            if not records:
                self._iterators[shard_id] = iterator
                return False

    def _deliver(self, shard_id: str, raw_records: list[dict[str, Any]]) -> None:
        records = [lambda_record(r, self._stream.arn, self._region) for r in raw_records]
        wanted = [r for r in records if passes_filters(self.spec, r)]
        self.tally.filtered_out += len(records) - len(wanted)
        size = self.spec.batch_size
        for batch in (wanted[i : i + size] for i in range(0, len(wanted), size)):
            self._deliver_batch(shard_id, batch)
        self._advance(shard_id, records)  # past the records filtered out after the last batch

    def _deliver_batch(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        retries = self.spec.maximum_retry_attempts
        attempts = min(ONCE_ATTEMPTS, retries + 1) if self._once else retries + 1
        left = deliver_batch(
            self.spec,
            batch,
            self._invoke,
            attempts=attempts,
            retry_delay=RETRY_DELAY_SECONDS,
            wait=self._wait,
            log=self._log,
            done=lambda records: self._advance(shard_id, records),
        )
        self.tally.batches += 1
        self.tally.delivered += len(batch) - len(left)
        if not left:
            self._log(f"{self.name}: {len(batch)} records delivered")
            return
        if self._stopping.is_set():
            raise _Stopped
        first, last = (r["dynamodb"]["SequenceNumber"] for r in (left[0], left[-1]))
        if self._once:
            raise BatchFailed(
                f"{self.name}: {len(left)} records (sequence numbers {first} to {last}) still "
                f"fail after {attempts} attempts; the checkpoint stays before them, so the "
                "next run delivers them again"
            )
        self.tally.given_up += len(left)
        self._log(
            f"{self.name}: gave up on {len(left)} records (sequence numbers {first} to {last}) "
            f"after {retries} retries, as Lambda does (deployed, they would be named in the "
            "OnFailure queue); going on after them"
        )
        self._advance(shard_id, left)

    def _advance(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """The checkpoint moves past `records`, which the function is done with."""
        if records:
            self._checkpoint.advance(self.key, shard_id, records[-1]["dynamodb"]["SequenceNumber"])


# -- EventBridge: printed, or sent where asked ------------------------------------------------


class PrintedEventBridge:
    """Answers PutEvents in the client itself, printing each entry instead of sending it.

    A botocore `before-call` handler: an answer from it is the call's
    answer, so no request leaves the process. Each entry is one line,
    `eventbridge <bus>: {"source", "detail-type", "detail"}`, as a rule's
    target would see the event.
    """

    EVENT = "before-call.eventbridge.PutEvents"

    def __init__(self, out: Callable[[], TextIO]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        entries = json.loads(params["body"])["Entries"]
        with self._lock:
            out = self._out()
            for entry in entries:
                event = {
                    "source": entry.get("Source"),
                    "detail-type": entry.get("DetailType"),
                    "detail": json.loads(entry.get("Detail") or "{}"),
                }
                bus = entry.get("EventBusName") or "default"
                print(f"eventbridge {bus}: {json.dumps(event)}", file=out, flush=True)
        answer = {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": str(uuid.uuid4())} for _ in entries],
        }
        return AWSResponse(params.get("url", ""), 200, HTTPHeaders(), None), answer


@contextmanager
def printed_eventbridge() -> Iterator[None]:
    """PutEvents of every boto3 client created meanwhile prints instead of sending.

    Clients copy their session's handlers when they are created, so the
    store's cached clients are dropped before and after.
    """
    import boto3

    from maintsvc.storage.store import reset_clients

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    events = boto3.DEFAULT_SESSION.events
    # An answering handler: botocore's stubs type them as returning None.
    handler: Any = PrintedEventBridge(lambda: sys.stdout)
    events.register(PrintedEventBridge.EVENT, handler)
    reset_clients()
    try:
        yield
    finally:
        events.unregister(PrintedEventBridge.EVENT, handler)
        reset_clients()


# -- the command ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    endpoint: str
    table: str
    start: str | None  # FROM_START or FROM_LATEST: every mapping there, checkpoint forgotten
    once: bool
    checkpoint: Path | None  # None: CHECKPOINT_DIR/<table>.json
    eventbridge: str | None  # None: notifications printed
    template: Path = DEFAULT_TEMPLATE


def _log(message: str) -> None:
    print(f"follow-stream: {message}", file=sys.stderr, flush=True)


def _stream_arn(table: str, endpoint: str) -> str:
    import boto3

    client = boto3.client("dynamodb")
    try:
        description = client.describe_table(TableName=table)["Table"]
    except client.exceptions.ResourceNotFoundException:
        raise FollowError(
            f"no table {table} at {endpoint}; create it first (docs/local.md, recipe step 2)"
        ) from None
    arn = description.get("LatestStreamArn")
    enabled = description.get("StreamSpecification", {}).get("StreamEnabled", False)
    if not arn or not enabled:
        raise FollowError(f"table {table} at {endpoint} has no stream enabled")
    return str(arn)


def follow_stream(
    options: Options, invoke: Invoke | None = None, stopping: threading.Event | None = None
) -> int:
    """Run the template's DynamoDB events of `options.table` from its stream; an exit status.

    `invoke` runs a function on an event (default: the handlers in this
    process, devtools.lambdas). Without `--once` it runs until Ctrl-C or
    until `stopping` is set (tests).
    """
    from maintsvc.storage.store import reset_clients

    with ExitStack() as resources:
        region = default_aws_environment(resources)
        endpoints = {
            "AWS_ENDPOINT_URL_DYNAMODB": options.endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": options.endpoint,
        }
        # Printing answers PutEvents before any request is made; the endpoint is a closed
        # loopback port all the same, so a client the printing missed fails, never publishes.
        endpoints["AWS_ENDPOINT_URL_EVENTBRIDGE"] = options.eventbridge or NOWHERE
        set_variables(resources, endpoints)
        reset_clients()
        resources.callback(reset_clients)
        if not options.eventbridge:
            resources.enter_context(printed_eventbridge())
        template = load_template(options.template, options.table, region)
        specs = [spec for spec in template.streams if spec.on_table]
        if invoke is None:
            lambdas = LocalLambda([spec.function for spec in specs], region)
            resources.callback(lambdas.close)
            invoke = lambdas.invoke
        return _run(options, specs, invoke, region, stopping or threading.Event())


def _run(
    options: Options,
    specs: Sequence[StreamSpec],
    invoke: Invoke,
    region: str,
    stopping: threading.Event,
) -> int:
    import boto3

    arn = _stream_arn(options.table, options.endpoint)
    stream = Stream(boto3.client("dynamodbstreams"), arn, _log)
    path = options.checkpoint or CHECKPOINT_DIR / f"{options.table}.json"
    if options.start is not None:
        checkpoint = Checkpoint(path, stream.arn, {})
    else:
        checkpoint = Checkpoint.load(path, stream.arn, _log)
    mappings = [
        Mapping(
            spec,
            stream,
            checkpoint,
            invoke,
            region=region,
            start=options.start or spec.starting_position,
            once=options.once,
            log=_log,
            wait=stopping.wait,
            stopping=stopping,
        )
        for spec in specs
    ]
    _log(_describe(options, stream.arn, checkpoint, mappings))
    if options.once:
        return _drain(mappings)
    return _follow(mappings, stopping)


def _describe(
    options: Options, arn: str, checkpoint: Checkpoint, mappings: Sequence[Mapping]
) -> str:
    starts = []
    for mapping in mappings:
        start = options.start or mapping.spec.starting_position
        saved = checkpoint.position(mapping.key) is not None
        starts.append(f"{mapping.name} from {'the checkpoint' if saved else start}")
    notifications = (
        f"sent to {options.eventbridge}" if options.eventbridge else "printed here (stdout)"
    )
    return (
        f"{arn} at {options.endpoint}: {', '.join(starts)}; checkpoint {checkpoint.path}; "
        f"notifications {notifications}"
    )


def _drain(mappings: Sequence[Mapping]) -> int:
    """`--once`: every mapping to the stream's current end, one after the other."""
    status = 0
    for mapping in mappings:
        try:
            mapping.poll()
        except BatchFailed as exc:
            _log(str(exc))
            status = 1
        tally = mapping.tally
        _log(
            f"{mapping.name}: {tally.delivered} records delivered in {tally.batches} "
            f"invocation(s) ({tally.filtered_out} filtered out)"
        )
    return status


def _follow(mappings: Sequence[Mapping], stopping: threading.Event) -> int:
    """Until Ctrl-C (or `stopping`): each mapping polls in a thread of its own, so one that
    waits for a failing batch's retry holds up no other."""
    threads = [
        threading.Thread(
            target=_keep_polling, args=(m, stopping), name=f"follow-{m.key}", daemon=True
        )
        for m in mappings
    ]
    for thread in threads:
        thread.start()
    try:
        with _sigterm_as_interrupt():
            # Said once SIGTERM is handled: a `kill` right after it stops cleanly too.
            _log("following; stop with Ctrl-C")
            while not stopping.is_set() and any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(0.2)
    except KeyboardInterrupt:
        stopping.set()
    asked = stopping.is_set()
    stopping.set()
    for thread in threads:
        thread.join(1.0)
    _log("stopped")
    return 0 if asked else 1  # else every mapping met an error it cannot get past (logged)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`kill` stops the command as Ctrl-C does (in the main thread; tests run it in others)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _keep_polling(mapping: Mapping, stopping: threading.Event) -> None:
    """Poll until stopped. Read errors (the endpoint went away, an iterator expired) are
    retried from the checkpoint, logged when they change and then once a minute; a table
    or stream that is gone ends it."""
    from botocore.exceptions import BotoCoreError, ClientError

    said, said_at = "", 0.0
    while not stopping.is_set():
        try:
            mapping.poll()
        except _Stopped:
            return
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else ""
            if code == "ResourceNotFoundException":
                _log(f"{mapping.name}: the table or its stream is gone ({exc}); stopping")
                return
            mapping.forget_iterators()
            if code == "ExpiredIteratorException":
                continue
            if str(exc) != said or time.monotonic() - said_at >= READ_ERROR_REPEAT_SECONDS:
                said, said_at = str(exc), time.monotonic()
                _log(
                    f"{mapping.name}: reading the stream failed ({exc}); trying again every "
                    f"{READ_ERROR_PAUSE_SECONDS:g} s"
                )
            stopping.wait(READ_ERROR_PAUSE_SECONDS)
            continue
        if said:
            said = ""
            _log(f"{mapping.name}: reading the stream again")
        stopping.wait(POLL_SECONDS)
