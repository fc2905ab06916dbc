"""Status changes on the second: the tick's look-ahead onto the transition queue, the worker."""

import json
import uuid
from typing import Any

import boto3
import pytest

from maintsvc.config import Settings, load_settings
from maintsvc.lifecycle import transition_queue
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.lifecycle.transition_queue import (
    DueChange,
    apply_messages,
    queue_url_from_env,
    upcoming_changes,
)
from maintsvc.resources.maintenances import delete_maintenance, update_maintenance
from maintsvc.storage import keys
from maintsvc.storage import store as store_module
from maintsvc.storage.store import Store
from tests.conftest import NOW, LambdaContext, load_function
from tests.scheduler.test_scheduler import events, make, statuses

START = NOW + 3600
READY_AT = START - 300  # READY_WINDOW_SECONDS is 300


@pytest.fixture
def queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(boto3.client("sqs").create_queue(QueueName="transitions")["QueueUrl"])
    monkeypatch.setenv("TRANSITION_QUEUE_URL", url)
    return url


@pytest.fixture
def sent(queue: str) -> list[dict[str, Any]]:
    """Every SendMessageBatch entry the service sends (moto keeps delayed ones out of sight)."""
    entries: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        entries.extend(params["Entries"])

    sqs = store_module._client("sqs")
    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    return entries


def body(entry: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(entry["MessageBody"])
    return parsed


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """ReceiveMessage output in the shape Lambda's SQS event source delivers it."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:transitions",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def record(change: DueChange, message_id: str | None = None) -> dict[str, Any]:
    return {"messageId": message_id or str(uuid.uuid4()), "body": change.body()}


def change_of(store: Store, maintenance_id: int, due: int, status: str = "SCHEDULED") -> DueChange:
    (event,) = events(store, maintenance_id)
    return DueChange(
        maintenance_id,
        event["id"],
        status,
        event["start_date_time"],
        event["end_date_time"],
        due,
    )


# -- the look-ahead --------------------------------------------------------------------------


def test_queue_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSITION_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q")
    assert queue_url_from_env() == "https://sqs.us-east-1.amazonaws.com/1/q"
    # What a local stand-in makes of `!Ref TransitionQueue`, and unset: the look-ahead is off.
    monkeypatch.setenv("TRANSITION_QUEUE_URL", "TransitionQueue")
    assert queue_url_from_env() == ""
    monkeypatch.delenv("TRANSITION_QUEUE_URL")
    assert queue_url_from_env() == ""


def test_tick_enqueues_each_change_due_within_the_minute(
    store: Store, settings: Settings, clock: Any, queue: str, sent: list[dict[str, Any]]
) -> None:
    soon = make(store, settings)  # READY at READY_AT
    later = make(store, settings, start_date_time=START + 600)
    now = READY_AT - 30
    report = run_tick(store, settings, now, queue_url=queue)
    assert report.enqueued == 1 and report.enqueue_failures == 0
    (entry,) = sent
    (event,) = events(store, soon["id"])
    assert body(entry) == {
        "m": soon["id"],
        "e": event["id"],
        "status": "SCHEDULED",
        "start": START,
        "end": START + 1800,
        "due": READY_AT,
    }
    # Counted from the moment of sending, rounded so it is never more than 1 s late.
    assert 29 <= entry["DelaySeconds"] <= 30
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert statuses(store, soon["id"]) == statuses(store, later["id"]) == ["SCHEDULED"]


def test_nothing_is_sent_when_nothing_is_due_within_the_minute(
    store: Store, settings: Settings, clock: Any, queue: str, sent: list[dict[str, Any]]
) -> None:
    make(store, settings)
    report = run_tick(store, settings, READY_AT - 600, queue_url=queue)
    assert report.enqueued == 0 and sent == []


def test_what_is_due_now_is_applied_by_the_tick_not_enqueued(
    store: Store, settings: Settings, clock: Any, queue: str, sent: list[dict[str, Any]]
) -> None:
    m = make(store, settings)
    report = run_tick(store, settings, READY_AT, queue_url=queue)
    assert report.transitions == 1 and statuses(store, m["id"]) == ["READY"]
    assert sent == []  # its next change (ONGOING) is 300 s away


def test_a_failed_send_is_counted_and_the_tick_goes_on(
    store: Store, settings: Settings, clock: Any, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(store, settings)
    ready_now = make(store, settings, start_date_time=START - 60)

    def broken(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("SQS is down")

    monkeypatch.setattr(Store, "send_messages", staticmethod(broken))
    report = run_tick(store, settings, READY_AT - 30, queue_url=queue)
    assert report.enqueued == 0 and report.enqueue_failures == 1
    assert statuses(store, ready_now["id"]) == ["READY"]  # the tick's own work is done


def test_two_or_three_changes_in_one_minute_each_get_a_message() -> None:
    event = {"id": 7, "maintenance_id": 3, "status": "SCHEDULED", "start_date_time": 1000,
             "end_date_time": 1040, "GSI3SK": keys.queue_sk(980, 7)}  # fmt: skip
    changes = upcoming_changes(event, 950, 1025, ready_window=20)
    assert [(c.status, c.due) for c in changes] == [("SCHEDULED", 980), ("READY", 1000)]
    changes = upcoming_changes(event, 950, 1100, ready_window=20)
    assert [(c.status, c.due) for c in changes] == [
        ("SCHEDULED", 980),
        ("READY", 1000),
        ("ONGOING", 1040),
    ]
    assert upcoming_changes(event, 980, 1100, 20)[0].due == 1000  # (after, until]


def test_a_paused_maintenances_event_gets_one_look_at_its_window_end() -> None:
    paused = {"id": 7, "maintenance_id": 3, "status": "SCHEDULED", "start_date_time": 1000,
              "end_date_time": 1040, "GSI3SK": keys.queue_sk(1040, 7)}  # fmt: skip
    assert [(c.status, c.due) for c in upcoming_changes(paused, 950, 1100, 20)] == [
        ("SCHEDULED", 1040)
    ]


# -- the worker ------------------------------------------------------------------------------


def test_worker_applies_a_due_change(store: Store, settings: Settings, clock: Any) -> None:
    m = make(store, settings)
    clock(READY_AT)
    report = apply_messages(store, settings, [record(change_of(store, m["id"], READY_AT))])
    assert (report.applied, report.dropped, report.failed) == (1, 0, [])
    assert statuses(store, m["id"]) == ["READY"]
    assert report.changes[0][1:] == ("SCHEDULED", "READY")
    # The tick that comes later finds nothing left to do.
    assert run_tick(store, settings, READY_AT + 30).transitions == 0


def test_worker_starts_a_window_only_while_the_maintenance_is_active(
    store: Store, settings: Settings, clock: Any
) -> None:
    m = make(store, settings)
    run_tick(store, settings, READY_AT)
    update_maintenance(store, settings, str(m["id"]), m["id"], {"status": "INACTIVE"}, READY_AT)
    clock(START)
    apply_messages(store, settings, [record(change_of(store, m["id"], START, "READY"))])
    assert statuses(store, m["id"]) != ["ONGOING"]


def test_a_duplicate_or_late_message_changes_nothing(
    store: Store, settings: Settings, clock: Any
) -> None:
    m = make(store, settings)
    change = change_of(store, m["id"], READY_AT)
    run_tick(store, settings, READY_AT)  # the tick got there first
    clock(READY_AT + 1)
    report = apply_messages(store, settings, [record(change), record(change)])
    assert (report.applied, report.unchanged, report.failed) == (0, 2, [])
    assert statuses(store, m["id"]) == ["READY"]


def test_worker_drops_messages_whose_event_moved_on(
    store: Store, settings: Settings, clock: Any, call: Any
) -> None:
    rescheduled = make(store, settings)
    deleted_event = make(store, settings)
    deleted_maintenance = make(store, settings)
    cancelled = make(store, settings)
    changes = {m["id"]: change_of(store, m["id"], READY_AT) for m in
               (rescheduled, deleted_event, deleted_maintenance, cancelled)}  # fmt: skip
    base = f"/api/v4/maintenances/{rescheduled['id']}/events"
    moved = {"start_date_time": START + 60, "end_date_time": START + 1860}
    assert call("PATCH", f"{base}/{changes[rescheduled['id']].event_id}", moved).status == 200
    base = f"/api/v4/maintenances/{deleted_event['id']}/events"
    assert call("DELETE", f"{base}/{changes[deleted_event['id']].event_id}").status < 300
    delete_maintenance(store, str(deleted_maintenance["id"]), deleted_maintenance["id"], NOW)
    base = f"/api/v4/maintenances/{cancelled['id']}/events"
    stop = {"status": "CANCELLED"}
    assert call("PATCH", f"{base}/{changes[cancelled['id']].event_id}", stop).status == 200
    clock(READY_AT)
    report = apply_messages(store, settings, [record(c) for c in changes.values()])
    assert (report.applied, report.dropped, report.failed) == (0, 4, [])
    assert statuses(store, rescheduled["id"]) == ["SCHEDULED"]


def test_worker_reports_failures_per_message(
    store: Store, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, broken = make(store, settings), make(store, settings)
    broken_key = keys.event_key(broken["id"], events(store, broken["id"])[0]["id"])
    real_update = Store.update

    def update(self: Store, key: Any, *args: Any, **kwargs: Any) -> Any:
        if key == broken_key:
            raise RuntimeError("throttled")
        return real_update(self, key, *args, **kwargs)

    # A move into READY is one conditional UpdateItem on the event.
    monkeypatch.setattr(Store, "update", update)
    clock(READY_AT)
    report = apply_messages(
        store,
        settings,
        [
            record(change_of(store, ok["id"], READY_AT), "m-ok"),
            record(change_of(store, broken["id"], READY_AT), "m-broken"),
            {"messageId": "m-garbage", "body": "{not json"},
        ],
    )
    assert report.applied == 1
    assert sorted(report.failed) == ["m-broken", "m-garbage"]
    assert statuses(store, ok["id"]) == ["READY"]


def test_worker_waits_for_a_message_that_arrives_early(
    store: Store, settings: Settings, clock: Any
) -> None:
    m = make(store, settings)
    now = {"t": READY_AT - 0.6}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now["t"] += seconds
        clock(int(now["t"]))

    clock(int(now["t"]))
    report = apply_messages(
        store,
        settings,
        [record(change_of(store, m["id"], READY_AT))],
        clock=lambda: now["t"],
        sleep=sleep,
    )
    assert slept == [pytest.approx(0.6)]
    assert report.applied == 1 and statuses(store, m["id"]) == ["READY"]


def test_queue_to_worker_end_to_end(
    store: Store, clock: Any, queue: str, sent: list[dict[str, Any]]
) -> None:
    """Tick enqueues, SQS delivers (delay 0 here: moto delays in real time), worker applies."""
    settings = load_settings()
    m = make(store, settings)
    report = run_tick(store, settings, READY_AT - 1, queue_url=queue)
    assert report.enqueued == 1 and sent[0]["DelaySeconds"] <= 1
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    for _ in range(30):  # honours DelaySeconds: at most a second here
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = messages.get("Messages", [])
        if messages:
            break
    assert len(messages) == 1
    clock(READY_AT)
    handler = load_function("transitions").lambda_handler
    result = handler(sqs_event(messages), LambdaContext())
    assert result == {"batchItemFailures": []}
    assert statuses(store, m["id"]) == ["READY"]


def test_worker_handler_returns_the_failed_message_ids(store: Store, clock: Any) -> None:
    handler = load_function("transitions").lambda_handler
    result = handler({"Records": [{"messageId": "x", "body": "[]"}]}, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "x"}]}


def test_module_constants_fit_sqs() -> None:
    assert transition_queue.SQS_BATCH == 10
    assert 60 < transition_queue.LOOKAHEAD_SECONDS <= transition_queue.MAX_DELAY_SECONDS == 900
