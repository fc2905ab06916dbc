"""`maintctl follow-stream` against moto's DynamoDB Streams API, as it runs beside sam local.

The API requests go through the real handlers (the tests' gateway) to a moto
server on loopback, the way sam local's functions reach DynamoDB Local; the
stream is then read over HTTP through DescribeTable, DescribeStream,
GetShardIterator and GetRecords.
"""

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from devtools import maintctl, streamfollow
from devtools.localaws import EmbeddedMoto, ensure_table
from devtools.streamfollow import (
    ONCE_ATTEMPTS,
    BatchFailed,
    Checkpoint,
    Mapping,
    Options,
    Position,
    Shard,
    follow_stream,
    mapping_key,
)
from devtools.template import StreamSpec
from devtools.triggers import MAX_RETRY_DELAY_SECONDS
from maintsvc.edge import apikeys
from maintsvc.storage import store
from maintsvc.storage.store import Store
from tests.conftest import GATEWAY, ROOT, TABLE, TEMPLATE, Request, target

SPECS = {spec.function.logical_id: spec for spec in TEMPLATE.streams}
INDEXER, NOTIFIER = SPECS["IndexerFunction"], SPECS["NotifierFunction"]


@pytest.fixture
def local(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server with the template's table, as DynamoDB Local serves sam local; the
    handlers reach it through AWS_ENDPOINT_URL_DYNAMODB."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto = EmbeddedMoto()
    endpoint = moto.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    store.reset_clients()
    try:
        ensure_table(TEMPLATE.table, TABLE)
        yield endpoint
    finally:
        moto.stop()
        store.reset_clients()


@pytest.fixture
def key(local: str) -> str:
    return apikeys.create_api_key(Store(TABLE), "writer")


Api = Callable[..., tuple[int, Any]]


@pytest.fixture
def api(key: str) -> Api:
    """api(method, path, body=None, query=None) -> (status, JSON body), through the handlers."""

    def call(
        method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        headers = [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
        data = b"" if body is None else json.dumps(body).encode()
        response = GATEWAY.handle(Request(method, target(f"/api/v4{path}", query), headers, data))
        return response.status, json.loads(response.body) if response.body else None

    return call


def follow(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """One `maintctl follow-stream` run; (exit status, stdout, stderr)."""
    code = maintctl.main(["follow-stream", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def delivered(err: str, function: str) -> int:
    """The `--once` summary: how many records `function` was given."""
    for line in err.splitlines():
        if line.startswith(f"follow-stream: {function}: ") and "records delivered in" in line:
            return int(line.split(": ")[2].split()[0])
    raise AssertionError(f"no summary for {function} in:\n{err}")


def published(out: str) -> list[dict[str, Any]]:
    """The notifications follow-stream printed instead of sending them."""
    prefix = "eventbridge default: "
    return [json.loads(line[len(prefix) :]) for line in out.splitlines() if line.startswith(prefix)]


def start_in_an_hour_or_two() -> int:
    return int(time.time()) // 3600 * 3600 + 7200


def test_once_feeds_the_indexer_and_the_notifier_and_resumes_from_its_checkpoint(
    local: str, api: Api, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = start_in_an_hour_or_two()
    body = {"title": "Backup", "start_date_time": start, "rrule": "FREQ=DAILY;COUNT=3",
            "duration_seconds": 1800, "monitors": [{"monitor_tag": "db", "impact": "DOWN"}]}  # fmt: skip
    assert api("POST", "/maintenances", body)[0] == 201
    # What sam local answers with nothing on the stream: no error, just nothing.
    assert api("GET", "/maintenances/events")[1]["total"] == 0
    at_start = {"at": str(start)}
    assert api("GET", "/monitors/db/maintenance", query=at_start)[1]["in_maintenance"] is False

    checkpoint = str(tmp_path / "checkpoint.json")
    options = ("--once", "--endpoint", local, "--table", TABLE, "--checkpoint", checkpoint)
    code, out, err = follow(capsys, *options)
    assert code == 0, err
    assert delivered(err, "IndexerFunction") == 4  # the maintenance and its 3 events
    assert delivered(err, "NotifierFunction") == 0  # LATEST, as the template starts it
    # What make dev answers once its stream consumers have run.
    feed = api("GET", "/maintenances/events")[1]
    assert feed["total"] == 3
    status = api("GET", "/monitors/db/maintenance", query=at_start)[1]
    assert (status["in_maintenance"], status["impact"]) == (True, "DOWN")
    assert [e["event_start_date_time"] for e in status["events"]] == [start]
    assert api("GET", "/monitors/db/maintenance")[1]["next"]["event_start_date_time"] == start

    code, out, err = follow(capsys, *options)  # from the saved checkpoint: nothing is new
    assert code == 0, err
    assert delivered(err, "IndexerFunction") == delivered(err, "NotifierFunction") == 0
    assert published(out) == []

    cancelled = api("PATCH", "/maintenances/1/events/2", {"status": "CANCELLED"})
    assert cancelled[0] == 200, cancelled
    code, out, err = follow(capsys, *options)
    assert code == 0, err
    assert delivered(err, "IndexerFunction") == delivered(err, "NotifierFunction") == 1
    [event] = published(out)
    assert (event["source"], event["detail-type"]) == (
        "maintenance-windows",
        "Maintenance Event Status Changed",
    )
    detail = event["detail"]
    assert (detail["event_id"], detail["from_status"], detail["to_status"]) == (
        2,
        "SCHEDULED",
        "CANCELLED",
    )
    assert detail["monitors"] == [{"monitor_tag": "db", "impact": "DOWN"}]

    code, out, err = follow(capsys, *options)
    assert delivered(err, "IndexerFunction") == delivered(err, "NotifierFunction") == 0
    assert published(out) == []


def test_from_start_gives_every_function_what_the_stream_holds(
    local: str, api: Api, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Created inside its window: the event is ONGOING at once, which the notifier announces.
    now = int(time.time())
    body = {"title": "Now", "start_date_time": now - 60, "rrule": "FREQ=DAILY;COUNT=1",
            "duration_seconds": 3600, "monitors": [{"monitor_tag": "db", "impact": "DOWN"}]}  # fmt: skip
    assert api("POST", "/maintenances", body)[0] == 201
    checkpoint = str(tmp_path / "checkpoint.json")
    common = ("--once", "--endpoint", local, "--table", TABLE, "--checkpoint", checkpoint)

    code, out, err = follow(capsys, *common)
    assert delivered(err, "NotifierFunction") == 0 and published(out) == []
    code, out, err = follow(capsys, *common, "--from-start")
    assert code == 0, err
    assert "checkpoint" in err and "from TRIM_HORIZON" in err
    assert delivered(err, "NotifierFunction") == 2  # the maintenance created, its window
    created, event = published(out)
    assert created["detail-type"] == "Maintenance Created"
    assert (event["detail"]["to_status"], event["detail"]["reason"]) == ("ONGOING", "created")


def test_records_arrive_in_lambdas_format_filtered_and_in_batches(
    local: str, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"title": "t", "start_date_time": start_in_an_hour_or_two(),
            "rrule": "FREQ=HOURLY;COUNT=5", "duration_seconds": 600}  # fmt: skip
    assert api("POST", "/maintenances", body)[0] == 201
    batches: list[tuple[str, list[dict[str, Any]]]] = []

    def invoke(function: Any, event: dict[str, Any]) -> Any:
        batches.append((function.logical_id, event["Records"]))
        return {"batchItemFailures": []}

    small = dataclasses.replace(INDEXER, batch_size=2)
    template = dataclasses.replace(TEMPLATE, streams=[small, NOTIFIER])
    monkeypatch.setattr("devtools.streamfollow.load_template", lambda *args: template)
    options = Options(local, TABLE, "TRIM_HORIZON", True, tmp_path / "c.json", None)
    assert follow_stream(options, invoke) == 0

    indexed = [records for name, records in batches if name == "IndexerFunction"]
    assert [len(records) for records in indexed] == [2, 2, 2]  # META and 5 events, by 2
    # No status change yet: the notifier gets the maintenance's creation only.
    announced = [r for name, records in batches if name == "NotifierFunction" for r in records]
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in announced] == ["META"]
    assert [name for name, _ in batches].count("IndexerFunction") == 3
    record = indexed[0][0]
    arn = boto3.client("dynamodb", endpoint_url=local).describe_table(TableName=TABLE)
    assert record["eventSourceARN"] == arn["Table"]["LatestStreamArn"]
    assert (record["eventName"], record["eventSource"], record["awsRegion"]) == (
        "INSERT",
        "aws:dynamodb",
        "us-east-1",
    )
    data = record["dynamodb"]
    assert set(data) == {"ApproximateCreationDateTime", "Keys", "NewImage", "SequenceNumber",
                         "SizeBytes", "StreamViewType"}  # fmt: skip
    assert isinstance(data["ApproximateCreationDateTime"], int)
    assert abs(data["ApproximateCreationDateTime"] - time.time()) < 60
    assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert data["Keys"]["SK"]["S"] in ("META", "E#000000000001")
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for batch in indexed for r in batch]
    assert sequence == sorted(sequence)
    json.dumps(batches)  # plain JSON, as Lambda hands it over


def test_without_an_endpoint_or_a_table_it_says_what_to_do(
    local: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    code, _, err = follow(capsys, "--once")
    assert code == 2 and "give --endpoint" in err
    code, _, err = follow(capsys, "--once", "--endpoint", local, "--table", "nope")
    assert code == 1 and f"no table nope at {local}" in err


def test_following_delivers_new_records_as_they_come_and_stops_when_asked(
    local: str, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopping = threading.Event()
    options = Options(local, TABLE, None, False, tmp_path / "c.json", None)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(follow_stream(options, None, stopping)))
    runner.start()
    try:
        start = start_in_an_hour_or_two()
        body = {"title": "t", "start_date_time": start, "rrule": "FREQ=DAILY;COUNT=2",
                "duration_seconds": 600, "monitors": [{"monitor_tag": "db", "impact": "UP"}]}  # fmt: skip
        assert api("POST", "/maintenances", body)[0] == 201
        deadline = time.monotonic() + 20
        while api("GET", "/maintenances/events")[1]["total"] != 2:
            assert time.monotonic() < deadline, capsys.readouterr().err
            time.sleep(0.1)
    finally:
        stopping.set()
        runner.join(10)
    assert result == [0]
    assert "follow-stream: stopped" in capsys.readouterr().err


def test_a_notifier_that_keeps_failing_does_not_hold_up_the_indexer(
    local: str, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    indexed, notifying = threading.Event(), threading.Event()

    def invoke(function: Any, event: dict[str, Any]) -> Any:
        if function.logical_id == "NotifierFunction":
            notifying.set()
            raise ConnectionError("no EventBridge here")
        assert notifying.wait(10)  # the notifier's batch fails (and waits to retry) meanwhile
        indexed.set()
        return None

    stopping = threading.Event()
    options = Options(local, TABLE, None, False, tmp_path / "c.json", None)
    runner = threading.Thread(target=follow_stream, args=(options, invoke, stopping))
    runner.start()
    try:
        # Once placed, the notifier starts from the next record (LATEST).
        placed = tmp_path / "c.json"
        deadline = time.monotonic() + 10
        while mapping_key(NOTIFIER) not in (placed.read_text() if placed.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        now = int(time.time())
        body = {"title": "Now", "start_date_time": now - 60, "rrule": "FREQ=DAILY;COUNT=1",
                "duration_seconds": 3600}  # fmt: skip
        assert api("POST", "/maintenances", body)[0] == 201  # an ONGOING event: announced
        assert indexed.wait(10), capsys.readouterr().err
    finally:
        stopping.set()
        runner.join(10)
    assert not runner.is_alive()  # stopped in the middle of the notifier's retry pause
    assert "ConnectionError: no EventBridge here" in capsys.readouterr().err


# -- retries, checkpoints and shards, on a stream of our own ---------------------------------


class FakeStream:
    """Shards and their records; a closed shard's iterator ends after its last record."""

    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"

    def __init__(self, *shards: tuple[Shard, list[dict[str, Any]]]) -> None:
        self.layout = [shard for shard, _ in shards]
        self.records = {shard.shard_id: records for shard, records in shards}

    def shards(self) -> list[Shard]:
        return list(self.layout)

    def iterator(self, shard_id: str, after: str | None) -> str:
        numbers = [r["dynamodb"]["SequenceNumber"] for r in self.records[shard_id]]
        return f"{shard_id}|{0 if after is None else numbers.index(after) + 1}"

    def read(self, iterator: str) -> tuple[list[dict[str, Any]], str | None]:
        shard_id, _, index = iterator.partition("|")
        records = self.records[shard_id][int(index) : int(index) + 3]  # pages of 3
        end = int(index) + len(records)
        closed = next(s.closed for s in self.layout if s.shard_id == shard_id)
        if closed and end == len(self.records[shard_id]):
            return records, None
        return records, f"{shard_id}|{end}"


def stream_record(sequence: int, status: str = "READY", name: str = "MODIFY") -> dict[str, Any]:
    """A status change of an event: what the notifier's filter lets through."""
    image = {"SK": {"S": f"E#{sequence:012d}"}, "status": {"S": status}}
    return {
        "eventID": str(sequence),
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "Keys": {"SK": image["SK"]},
            "NewImage": image,
            "OldImage": {**image, "status": {"S": "SCHEDULED"}},
            "SequenceNumber": str(sequence),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


class Script:
    """An invoke that answers from a script (an exception is raised) and keeps the batches."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.batches: list[list[int]] = []

    def __call__(self, function: Any, event: dict[str, Any]) -> Any:
        self.batches.append([int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]])
        answer = self.answers.pop(0) if self.answers else {"batchItemFailures": []}
        if isinstance(answer, Exception):
            raise answer
        return answer


def failure_at(sequence: int) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": str(sequence)}]}


class Run:
    """Mappings of one spec over one stream, sharing a checkpoint file, as successive runs."""

    def __init__(self, path: Path, stream: FakeStream, spec: StreamSpec = NOTIFIER) -> None:
        self.path, self.stream, self.spec = path, stream, spec
        self.log: list[str] = []
        self.pauses: list[float] = []

    def mapping(self, invoke: Script, once: bool = True, start: str = "TRIM_HORIZON") -> Mapping:
        checkpoint = Checkpoint.load(self.path, self.stream.arn, self.log.append)
        return Mapping(self.spec, self.stream, checkpoint, invoke, region="eu-west-1",
                       start=start, once=once, log=self.log.append, wait=self.pause,
                       stopping=threading.Event())  # fmt: skip

    def pause(self, seconds: float) -> bool:
        self.pauses.append(seconds)
        return False

    def saved(self) -> Position:
        raw = json.loads(self.path.read_text())["mappings"][mapping_key(self.spec)]
        return Position.from_json(raw)


OPEN = Shard("shard-1", None, False)


def test_a_failed_batch_is_retried_after_a_pause_and_logged(tmp_path: Path) -> None:
    run = Run(tmp_path / "c.json", FakeStream((OPEN, [stream_record(n) for n in (1, 2)])))
    script = Script(RuntimeError("EventBridge is down"))
    assert run.mapping(script).poll() == 2
    assert script.batches == [[1, 2], [1, 2]]
    assert run.pauses == [0.5]
    assert "NotifierFunction: a batch of 2 stream records failed (attempt 1 of 3; retry in 0.5 s)" in run.log[0]  # fmt: skip
    assert "RuntimeError: EventBridge is down" in run.log[0]
    assert run.saved().after == {"shard-1": "2"}


def test_once_stops_at_a_batch_that_keeps_failing_and_the_next_run_delivers_it(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path / "c.json", FakeStream((OPEN, [stream_record(n) for n in (1, 2, 3)])))
    script = Script(failure_at(2), *[RuntimeError("down")] * ONCE_ATTEMPTS)
    with pytest.raises(BatchFailed, match=r"records \(sequence numbers 2 to 3\) still fail"):
        run.mapping(script).poll()
    assert script.batches == [[1, 2, 3], [2, 3], [2, 3]]  # from the failed record on
    assert run.saved().after == {"shard-1": "1"}  # record 1 got through; 2 did not

    again = Script()
    assert run.mapping(again).poll() == 2
    assert again.batches == [[2, 3]]
    assert run.saved().after == {"shard-1": "3"}
    assert run.mapping(Script()).poll() == 0


def test_following_gives_up_after_the_templates_retries_and_goes_on(tmp_path: Path) -> None:
    spec = dataclasses.replace(NOTIFIER, maximum_retry_attempts=7)
    records = [stream_record(n) for n in (1, 2)]
    run = Run(tmp_path / "c.json", FakeStream((OPEN, records)), spec)
    script = Script(*[RuntimeError("down")] * 8)
    mapping = run.mapping(script, once=False)
    assert mapping.poll() == 0
    assert len(script.batches) == 8
    # The pause doubles from half a second and stays at the cap.
    assert run.pauses == [0.5, 1, 2, 4, 8, MAX_RETRY_DELAY_SECONDS, MAX_RETRY_DELAY_SECONDS]
    assert "gave up on 2 records (sequence numbers 1 to 2) after 7 retries" in run.log[-1]
    assert mapping.tally.given_up == 2
    assert run.saved().after == {"shard-1": "2"}  # as Lambda does, past them


def test_filtered_records_are_passed_over_and_batches_keep_the_batch_size(tmp_path: Path) -> None:
    spec = dataclasses.replace(NOTIFIER, batch_size=2)
    records = [stream_record(1), stream_record(2, name="INSERT", status="SCHEDULED"),
               *[stream_record(n) for n in range(3, 8)], stream_record(8, name="INSERT",
               status="SCHEDULED")]  # fmt: skip
    run = Run(tmp_path / "c.json", FakeStream((OPEN, records)), spec)
    script = Script()
    mapping = run.mapping(script)
    assert mapping.poll() == 6
    # Pages of 3 (1-3, 4-6, 7-8), each in batches of at most 2 of the records that pass.
    assert script.batches == [[1, 3], [4, 5], [6], [7]]
    assert mapping.tally.filtered_out == 2
    assert run.saved().after == {"shard-1": "8"}  # past the last, filtered-out record


def test_a_child_shard_is_read_after_its_parent_from_its_first_record(tmp_path: Path) -> None:
    parent, child = Shard("shard-1", None, True), Shard("shard-2", "shard-1", False)
    stream = FakeStream(
        (child, [stream_record(n) for n in (10, 11)]),  # listed first: order is the lineage's
        (parent, [stream_record(n) for n in (1, 2, 3, 4)]),
    )
    run = Run(tmp_path / "c.json", stream)
    script = Script()
    assert run.mapping(script).poll() == 6
    assert script.batches == [[1, 2, 3], [4], [10, 11]]
    assert run.saved() == Position({"shard-2": "11"}, {"shard-1"})


def test_latest_skips_what_is_there_and_starts_with_the_next_record(tmp_path: Path) -> None:
    parent, child = Shard("shard-1", None, True), Shard("shard-2", "shard-1", False)
    stream = FakeStream((parent, [stream_record(1)]), (child, [stream_record(n) for n in (2, 3)]))
    run = Run(tmp_path / "c.json", stream)
    assert run.mapping(Script(), start="LATEST").poll() == 0
    assert run.saved() == Position({"shard-2": "3"}, {"shard-1"})
    stream.records["shard-2"].append(stream_record(4))
    script = Script()
    assert run.mapping(script).poll() == 1  # a later run, from the checkpoint
    assert script.batches == [[4]]


def test_a_checkpoint_of_another_stream_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    records = [stream_record(n) for n in (1, 2)]
    run = Run(path, FakeStream((OPEN, records)))
    assert run.mapping(Script()).poll() == 2
    recreated = FakeStream((OPEN, records))
    recreated.arn = FakeStream.arn.replace("label", "label-2")
    run = Run(path, recreated)
    script = Script()
    assert run.mapping(script).poll() == 2
    assert "is for another stream" in run.log[0]


def test_a_shard_that_closes_while_following_hands_over_to_its_child(tmp_path: Path) -> None:
    stream = FakeStream((OPEN, [stream_record(1)]))
    run = Run(tmp_path / "c.json", stream)
    script = Script()
    mapping = run.mapping(script, once=False)
    assert mapping.poll() == 1
    assert mapping.poll() == 0  # caught up: the open shard has nothing new
    # The shard gets one more record and closes; a child takes over.
    stream.records["shard-1"].append(stream_record(2))
    stream.layout = [Shard("shard-1", None, True), Shard("shard-2", "shard-1", False)]
    stream.records["shard-2"] = [stream_record(3)]
    assert mapping.poll() == 2
    assert script.batches == [[1], [2], [3]]
    assert run.saved() == Position({"shard-2": "3"}, {"shard-1"})


def test_read_errors_are_retried_logged_once_and_recovered_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(streamfollow, "READ_ERROR_PAUSE_SECONDS", 0.01)
    monkeypatch.setattr(streamfollow, "POLL_SECONDS", 0.01)
    stream = FakeStream((OPEN, [stream_record(1)]))
    down = [EndpointConnectionError(endpoint_url="http://127.0.0.1:8000/")] * 5
    real_read = stream.read

    def read(iterator: str) -> tuple[list[dict[str, Any]], str | None]:
        if down:
            raise down.pop()
        return real_read(iterator)

    stream.read = read
    script = Script()
    mapping = Run(tmp_path / "c.json", stream).mapping(script, once=False)
    stopping = threading.Event()
    poller = threading.Thread(target=streamfollow._keep_polling, args=(mapping, stopping))
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while not script.batches:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        stopping.set()
        poller.join(5)
    err = capsys.readouterr().err
    assert err.count("reading the stream failed (Could not connect") == 1  # not five times
    assert "NotifierFunction: reading the stream again" in err
    assert script.batches == [[1]]


@pytest.mark.slow
def test_sigterm_stops_the_command_as_ctrl_c_does(local: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "devtools.maintctl", "follow-stream", "--endpoint", local,
               "--table", TABLE, "--checkpoint", str(tmp_path / "c.json")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}"}
    child = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        lines = []
        for line in child.stderr:
            lines.append(line)
            if "following; stop with Ctrl-C" in line:
                break
        child.send_signal(signal.SIGTERM)
        assert child.wait(10) == 0, "".join(lines)
        assert "follow-stream: stopped" in child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
