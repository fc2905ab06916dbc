"""`make dev` under use: concurrent requests, the table stream, saved data, stopping fast."""

import contextlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import dynamodb_backends

from devtools.childstack import ChildStack, start_child_stack
from devtools.devserver import DevServer, DevServerError, serve
from devtools.lambdas import LocalLambda
from devtools.template import ACCOUNT_ID, FunctionSpec, StreamSpec, TemplateError, load_template
from devtools.triggers import EventSourceMapping, pattern_matches
from maintsvc.derived.maintenance_changes import CREATED
from maintsvc.derived.notifications import DETAIL_TYPE, SOURCE
from tests.devtools.conftest import call, unique_table, write_fake_stack

ROOT = Path(__file__).resolve().parents[2]
NOTIFIER_FILTER = json.loads(
    '{"eventName": ["MODIFY"], "dynamodb": {"Keys": {"SK": {"S": [{"prefix": "E#"}]}}}}'
)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def create(url: str, key: str, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "t",
        "start_date_time": (int(time.time()) // 60 + 90) * 60,
        "rrule": "FREQ=DAILY;COUNT=2",
        "duration_seconds": 600,
        **fields,
    }
    status, _, raw = call(f"{url}/api/v4/maintenances", "POST", body, auth(key))
    assert status == 201, raw
    created: dict[str, Any] = json.loads(raw)["maintenance"]
    return created


def maintenance_ids(url: str, key: str) -> list[int]:
    status, _, raw = call(f"{url}/api/v4/maintenances", headers=auth(key))
    assert status == 200, raw
    return [m["id"] for m in json.loads(raw)["maintenances"]]


def call_quietly(url: str) -> None:
    """A request whose server may go away while it waits (the point of the test)."""
    with contextlib.suppress(OSError):
        call(url)


def eventually(check: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# -- concurrency ------------------------------------------------------------------------------


def test_requests_do_not_wait_for_one_another(fake_stack: tuple[DevServer, Path]) -> None:
    server, _ = fake_stack
    statuses: list[int] = []

    def slow() -> None:
        statuses.append(call(f"{server.url}/slow/1.5")[0])

    clients = [threading.Thread(target=slow) for _ in range(3)]
    started = time.monotonic()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert statuses == [200, 200, 200]
    assert time.monotonic() - started < 4.0  # one after the other would be 4.5 s


def test_shutdown_does_not_wait_for_a_busy_handler(fake_stack: tuple[DevServer, Path]) -> None:
    server, _ = fake_stack
    threading.Thread(target=call_quietly, args=(f"{server.url}/slow/20",), daemon=True).start()
    time.sleep(0.3)
    started = time.monotonic()
    server.shutdown()  # (the fixture's own shutdown then finds nothing left to stop)
    assert time.monotonic() - started < 2.0


def test_each_concurrent_request_gets_its_own_execution_environment() -> None:
    """Handlers keep the current request in module globals: two must never share a module."""
    code = ROOT / "functions" / "maintenances"
    spec = FunctionSpec("Fn", code, "app.lambda_handler", 3, 128, {}, (ROOT / "shared",))
    lambdas = LocalLambda([spec], "us-east-1")
    try:
        first, second = lambdas._take(spec), lambdas._take(spec)  # two requests at once
        assert {first, second} == {
            sys.modules["devserver_function_Fn"].lambda_handler,
            sys.modules["devserver_function_Fn_2"].lambda_handler,
        }
    finally:
        lambdas.close()


RENDEZVOUS_APP = """
import os
import sys
from concurrent.futures import ThreadPoolExecutor

AT_IMPORT = os.environ.get("SITE")


def handler(event, context):
    # Both invocations must be inside their handlers at once to get past this.
    sys.modules["devserver_test_rendezvous"].wait(10)
    with ThreadPoolExecutor(1) as pool:
        in_pool = pool.submit(os.getenv, "SITE").result()
    return {
        "site": os.environ.get("SITE"),
        "in_pool": in_pool,
        "at_import": AT_IMPORT,
        "other": os.environ.get("ONLY_B"),
        "listed": sorted(name for name in os.environ if name in ("SITE", "ONLY_B")),
    }
"""


def test_functions_with_variables_of_their_own_run_at_once_each_seeing_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Own variables used to make a function run alone, so every API request (they all
    have PUBLIC_SITE_URL) waited for whole stream batches of the indexer."""
    (tmp_path / "app.py").write_text(RENDEZVOUS_APP)
    monkeypatch.setitem(sys.modules, "devserver_test_rendezvous", threading.Barrier(2))
    site_a = FunctionSpec("SiteA", tmp_path, "app.handler", 30, 128, {"SITE": "a"}, ())
    site_b = FunctionSpec(
        "SiteB", tmp_path, "app.handler", 30, 128, {"SITE": "b", "ONLY_B": "1"}, ()
    )
    lambdas = LocalLambda([site_a, site_b], "us-east-1")
    results: dict[str, Any] = {}

    def invoke(spec: FunctionSpec) -> None:
        results[spec.logical_id] = lambdas.invoke(spec, {})

    try:
        clients = [threading.Thread(target=invoke, args=(spec,)) for spec in (site_a, site_b)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(15)
    finally:
        lambdas.close()
    assert results["SiteA"] == {  # passed the rendezvous: the two ran at the same time
        "site": "a",
        "in_pool": "a",  # a thread pool the handler starts sees the variables too
        "at_import": "a",  # and so does its cold start
        "other": None,  # never another function's
        "listed": ["SITE"],
    }
    assert results["SiteB"] == {
        "site": "b",
        "in_pool": "b",
        "at_import": "b",
        "other": "1",
        "listed": ["ONLY_B", "SITE"],
    }
    assert "SITE" not in os.environ and "ONLY_B" not in os.environ


# -- the table stream -------------------------------------------------------------------------


@pytest.fixture
def real_stack(aws_env: None, tmp_path: Path) -> Iterator[DevServer]:
    server = serve(port=0, table_name=unique_table(), tick_seconds=3600, out=io.StringIO())
    try:
        yield server
    finally:
        server.shutdown()


def test_status_changes_reach_eventbridge_through_the_table_stream(real_stack: DevServer) -> None:
    sqs = boto3.client("sqs", endpoint_url=real_stack.endpoint)
    events = boto3.client("events")  # AWS_ENDPOINT_URL_EVENTBRIDGE: the stack's moto
    queue = sqs.create_queue(QueueName=f"q-{real_stack.table_name}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name=real_stack.table_name, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule=real_stack.table_name, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])

    key = real_stack.api_key
    maintenance = create(real_stack.url, key)
    events_url = f"{real_stack.url}/api/v4/maintenances/{maintenance['id']}/events"
    first = json.loads(call(events_url, headers=auth(key))[2])["events"][0]
    status, _, raw = call(
        f"{events_url}/{first['id']}", "PATCH", {"status": "CANCELLED"}, auth(key)
    )
    assert status == 200, raw

    got: list[dict[str, Any]] = []

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        got.extend(json.loads(m["Body"]) for m in messages.get("Messages", []))
        return got if len(got) >= 2 else []

    eventually(received)
    # The maintenance's creation (META's INSERT passes the template's filter too) and the
    # event's status change; nothing else.
    time.sleep(0.5)
    received()
    by_type = {n["detail-type"]: n["detail"] for n in got}
    assert sorted(by_type) == sorted([DETAIL_TYPE, CREATED]) and len(got) == 2
    assert by_type[CREATED]["maintenance"]["id"] == maintenance["id"]
    assert by_type[DETAIL_TYPE]["to_status"] == "CANCELLED"
    assert by_type[DETAIL_TYPE]["event_id"] == first["id"]


def test_stream_records_are_let_go_once_read(real_stack: DevServer) -> None:
    create(real_stack.url, real_stack.api_key, rrule="FREQ=HOURLY;COUNT=50")
    table = dynamodb_backends[ACCOUNT_ID]["us-east-1"].get_table(real_stack.table_name)
    assert eventually(lambda: not table.stream_shard.items)
    assert table.stream_shard.starting_sequence_number > 1100000000017454423009 + 50


def test_the_templates_stream_event_is_read_as_lambda_polls_it() -> None:
    specs = {s.function.logical_id: s for s in load_template().streams}
    assert sorted(specs) == ["IndexerFunction", "NotifierFunction"]
    spec = specs["NotifierFunction"]
    assert spec.on_table
    assert (spec.batch_size, spec.batching_window_seconds) == (100, 1.0)
    assert (spec.maximum_retry_attempts, spec.report_batch_item_failures) == (100, True)
    assert spec.starting_position == "LATEST"  # deployed, it announces nothing from before
    assert spec.filters[0] == NOTIFIER_FILTER
    # Which records reach the notifier: status changes, windows created or deleted live.

    def record(name: str, image: str, status: str) -> dict[str, Any]:
        data = {"Keys": {"SK": {"S": "E#000000000001"}}, image: {"status": {"S": status}}}
        return {"eventName": name, "dynamodb": data}

    def passes(candidate: dict[str, Any]) -> bool:
        return any(pattern_matches(f, candidate) for f in spec.filters)

    assert passes(record("MODIFY", "NewImage", "COMPLETED"))
    assert passes(record("INSERT", "NewImage", "ONGOING"))
    assert passes(record("INSERT", "NewImage", "READY"))
    assert not passes(record("INSERT", "NewImage", "SCHEDULED"))
    assert passes(record("REMOVE", "OldImage", "ONGOING"))
    assert not passes(record("REMOVE", "OldImage", "COMPLETED"))
    marker = record("INSERT", "NewImage", "READY")
    marker["dynamodb"]["Keys"]["SK"]["S"] = "O#000000000060"
    assert not passes(marker)
    # The indexer: every write of an event item, and nothing else.
    indexer = specs["IndexerFunction"]
    assert (indexer.batch_size, indexer.batching_window_seconds, indexer.on_table) == (
        500,
        0.0,
        True,
    )
    assert indexer.maximum_retry_attempts == 10_000  # -1: until the record leaves the stream
    assert indexer.starting_position == "TRIM_HORIZON"  # counts every event in the stream
    counted = [record(n, "NewImage", "SCHEDULED") for n in ("INSERT", "MODIFY", "REMOVE")]
    assert all(any(pattern_matches(f, r) for f in indexer.filters) for r in counted)
    assert not any(pattern_matches(f, marker) for f in indexer.filters)


def test_a_filter_operator_the_stack_cannot_run_is_refused(tmp_path: Path) -> None:
    write_fake_stack(tmp_path)
    path = tmp_path / "template.yaml"
    pattern = '{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1]}]}}}}'
    stream = f"""
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            FilterCriteria: {{Filters: [{{Pattern: '{pattern}'}}]}}
"""
    path.write_text(
        path.read_text().replace(
            "      Events:\n        Tick:", "      Events:" + stream + "        Tick:"
        )
    )
    with pytest.raises(TemplateError, match="numeric"):
        load_template(path)


def test_filter_patterns_as_lambda_applies_them() -> None:
    modify = {"eventName": "MODIFY", "dynamodb": {"Keys": {"SK": {"S": "E#000001"}}}}
    assert pattern_matches(NOTIFIER_FILTER, modify)
    assert not pattern_matches(NOTIFIER_FILTER, {**modify, "eventName": "INSERT"})
    assert not pattern_matches(
        NOTIFIER_FILTER, {**modify, "dynamodb": {"Keys": {"SK": {"S": "M"}}}}
    )
    assert not pattern_matches(NOTIFIER_FILTER, {"eventName": "MODIFY"})
    assert pattern_matches({"a": [{"exists": False}]}, {"b": 1})
    assert pattern_matches(
        {"a": [{"anything-but": ["x"]}], "b": [{"suffix": "z"}]}, {"a": "y", "b": "yz"}
    )
    assert pattern_matches({"tags": ["blue"]}, {"tags": ["red", "blue"]})


class _Recorder:
    """An invoker that answers from a script and records what it was sent."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.batches: list[list[str]] = []

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any:
        self.batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        answer = self.answers.pop(0) if self.answers else {"batchItemFailures": []}
        if isinstance(answer, Exception):
            raise answer
        return answer


def record(sequence: int, event_name: str = "MODIFY") -> dict[str, Any]:
    return {
        "eventName": event_name,
        "dynamodb": {"SequenceNumber": str(sequence), "Keys": {"SK": {"S": f"E#{sequence}"}}},
    }


def mapping(recorder: _Recorder, batch_size: int = 3, retries: int = 5) -> EventSourceMapping:
    function = FunctionSpec("Notifier", ROOT, "app.handler", 60, 128, {}, ())
    spec = StreamSpec(
        function, "Changes", True, batch_size, 0.05, retries, True, (NOTIFIER_FILTER,)
    )
    return EventSourceMapping(spec, recorder, "arn:stream", retry_delay=0.01)


def test_batches_are_filtered_and_retried_from_the_failed_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = _Recorder({"batchItemFailures": [{"itemIdentifier": "2"}]}, RuntimeError("down"))
    poller = mapping(recorder)
    poller.start()
    try:
        poller.offer([record(1), record(9, "INSERT"), record(2), record(3), record(4)])
        assert eventually(lambda: len(recorder.batches) >= 4)
    finally:
        poller.stop()
    # 1-3 fails from 2; 2-3 raises; 2-3 again; then 4 on its own.
    assert recorder.batches[:4] == [["1", "2", "3"], ["2", "3"], ["2", "3"], ["4"]]
    assert "RuntimeError: down" in capsys.readouterr().err


def test_a_batch_that_keeps_failing_is_dropped_after_the_retries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = _Recorder(*[{"batchItemFailures": [{"itemIdentifier": "bogus"}]}] * 3)
    poller = mapping(recorder, retries=1)
    poller.start()
    try:
        poller.offer([record(1), record(2)])
        assert eventually(lambda: "gave up" in capsys.readouterr().err, 5)
        poller.offer([record(3)])
        assert eventually(lambda: ["3"] in recorder.batches)
    finally:
        poller.stop()
    assert recorder.batches[:2] == [["1", "2"], ["1", "2"]]


class _Blocking(_Recorder):
    """A recorder whose first invocation waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any:
        first = not self.batches
        answer = super().invoke(function, event)
        if first:
            self.release.wait(10)
        return answer


def test_what_a_stop_leaves_undelivered_is_delivered_first_on_resuming() -> None:
    """The batch in flight goes again as the same batch: the indexer then recognises it."""
    blocking = _Blocking()
    poller = mapping(blocking)
    poller.start()
    try:
        poller.offer([record(n) for n in range(1, 6)])
        assert eventually(lambda: blocking.batches == [["1", "2", "3"]])
        poller.stop()  # the function is still busy with 1-3
        pending = poller.pending()
    finally:
        blocking.release.set()
    sequences = {name: [r["dynamodb"]["SequenceNumber"] for r in pending[name]] for name in pending}
    assert sequences == {"in_flight": ["1", "2", "3"], "waiting": ["4", "5"]}

    recorder = _Recorder()
    resumed = mapping(recorder)
    resumed.resume(json.loads(json.dumps(pending)))  # as saved on disk
    resumed.start()
    try:
        resumed.offer([record(6)])
        assert eventually(lambda: sum(len(batch) for batch in recorder.batches) >= 6)
    finally:
        resumed.stop()
    assert recorder.batches[0] == ["1", "2", "3"]  # alone, as it was first sent
    assert [n for batch in recorder.batches for n in batch] == ["1", "2", "3", "4", "5", "6"]


# -- data that survives a restart -------------------------------------------------------------


def test_data_survives_a_restart_and_reset_starts_empty(aws_env: None, tmp_path: Path) -> None:
    name = unique_table()

    def start(**options: Any) -> DevServer:
        return serve(
            port=0,
            table_name=name,
            tick_seconds=3600,
            data_dir=tmp_path,
            out=io.StringIO(),
            **options,
        )

    server = start()
    try:
        first_key = server.api_key
        created = create(server.url, first_key)
    finally:
        server.shutdown()
    assert (tmp_path / f"{name}.jsonl").exists()

    server = start()
    try:
        assert maintenance_ids(server.url, first_key) == [created["id"]]  # the old key works
        assert create(server.url, server.api_key)["id"] == created["id"] + 1  # ids go on
    finally:
        server.shutdown()

    server = start(reset_data=True)
    try:
        assert maintenance_ids(server.url, server.api_key) == []
    finally:
        server.shutdown()


def test_changes_are_saved_while_running(aws_env: None, tmp_path: Path) -> None:
    name = unique_table()
    server = serve(port=0, table_name=name, data_dir=tmp_path, save_seconds=0.2, out=io.StringIO())
    try:
        created = create(server.url, server.api_key)
        saved = tmp_path / f"{name}.jsonl"
        title = f'"title":{{"S":"{created["title"]}"}}'

        def written() -> bool:
            return saved.exists() and title in saved.read_text()

        assert eventually(written)
    finally:
        server.shutdown()


def test_pending_stream_records_are_kept_until_taken_and_reset_forgets_them(
    tmp_path: Path,
) -> None:
    from devtools.persistence import SavedTable

    saved = SavedTable(tmp_path, "t", ("PK", "SK"))
    pending = {"in_flight": [record(1)], "waiting": [record(2), record(3)]}
    saved.save_pending("IndexerFunction.EventChanges", pending)
    assert saved.take_pending("IndexerFunction.EventChanges") == pending
    assert saved.take_pending("IndexerFunction.EventChanges") == {}  # taken: not twice
    saved.save_pending("IndexerFunction.EventChanges", pending)
    saved.save_pending("NotifierFunction.StatusChanges", {"in_flight": [], "waiting": []})
    assert [p.name for p in tmp_path.iterdir()] == ["t.pending.IndexerFunction.EventChanges.json"]
    saved.reset()  # make dev-reset
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_data_file_stops_the_start_with_what_to_do(
    aws_env: None, tmp_path: Path
) -> None:
    name = unique_table()
    (tmp_path / f"{name}.jsonl").write_text("{not json\n")
    with pytest.raises(DevServerError, match="make dev-reset"):
        serve(port=0, table_name=name, data_dir=tmp_path, out=io.StringIO())
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ


# -- `make dev` in a subprocess ----------------------------------------------------------------


def start_cli(tmp_path: Path, *args: str) -> ChildStack:
    """`python -m devtools.devserver` in a child, its data under tmp_path."""
    settings = {"DEV_TICK_SECONDS": "3600", "DEV_DATA_DIR": str(tmp_path / "data")}
    return start_child_stack({**settings, "TABLE_NAME": "cli-test"}, *args)


@pytest.mark.slow
def test_sigterm_stops_the_cli_within_two_seconds_during_a_long_request(tmp_path: Path) -> None:
    write_fake_stack(tmp_path)
    template = str(tmp_path / "template.yaml")  # its table has no stream to save from
    stack = start_cli(tmp_path, "--template", template, "--in-memory")
    try:
        threading.Thread(target=call_quietly, args=(f"{stack.url}/slow/30",), daemon=True).start()
        time.sleep(0.5)
        started = time.monotonic()
        assert stack.stop() == 0
        assert time.monotonic() - started < 2.0
    finally:
        stack.process.kill()


@pytest.mark.slow
def test_a_kill_loses_at_most_the_last_seconds(tmp_path: Path) -> None:
    stack = start_cli(tmp_path)
    try:
        created = create(stack.url, stack.api_key)
        time.sleep(6)  # one autosave (every 5 s)
    finally:
        stack.process.kill()  # SIGKILL: no shutdown, no final save
        stack.process.wait()
    stack = start_cli(tmp_path)
    try:
        assert maintenance_ids(stack.url, stack.api_key) == [created["id"]]
    finally:
        stack.stop()


def test_the_transition_queue_is_polled_by_its_worker(real_stack: DevServer) -> None:
    """The template's queue exists in moto and the worker consumes it, as Lambda would.

    The message names a change that is not due (the event's READY is an hour
    away): the worker re-reads the event, applies nothing, and the message is
    deleted. tests/scheduler/test_dispatch.py covers the changes it applies.
    """
    from maintsvc.lifecycle.transition_queue import DueChange

    sqs = boto3.client("sqs", endpoint_url=real_stack.endpoint)
    queue = sqs.get_queue_url(QueueName="TransitionQueue")["QueueUrl"]
    key = real_stack.api_key
    now = int(time.time())
    start = (now // 60 + 60) * 60
    maintenance = create(real_stack.url, key, start_date_time=start, rrule="FREQ=DAILY;COUNT=1")
    events_url = f"{real_stack.url}/api/v4/maintenances/{maintenance['id']}/events"
    (event,) = json.loads(call(events_url, headers=auth(key))[2])["events"]
    change = DueChange(maintenance["id"], event["id"], "SCHEDULED", start, start + 600, now)
    sqs.send_message(QueueUrl=queue, MessageBody=change.body())

    def consumed() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        waiting = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return all(attributes[name] == "0" for name in waiting)

    assert eventually(consumed)
    (after,) = json.loads(call(events_url, headers=auth(key))[2])["events"]
    assert (after["status"], after["updated_at"]) == ("SCHEDULED", event["updated_at"])
