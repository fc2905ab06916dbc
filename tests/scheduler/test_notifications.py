"""Status-change notifications: real stream records (moto) through the notifier to a bus."""

import json
import time
from typing import Any

import boto3
import pytest

from maintsvc.config import load_settings
from maintsvc.derived.notifications import DETAIL_TYPE, SOURCE, publish_changes
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.resources.maintenances import create_maintenance
from maintsvc.storage.store import Store
from tests.conftest import NOW, TABLE, LambdaContext, load_function


@pytest.fixture
def bus_queue(aws: None) -> str:
    """An SQS queue subscribed to our notifications on the default bus."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    events.put_rule(Name="all", EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def received(url: str, detail_type: str | None = DETAIL_TYPE) -> list[dict[str, Any]]:
    """What the bus delivered, oldest first: the status changes (None: every detail-type;
    the maintenance's own Created/Updated/Deleted are tests/scheduler/test_maintenance_changes')."""
    sqs = boto3.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return [m for m in messages if detail_type in (None, m["detail-type"])]
        messages.extend(json.loads(m["Body"]) for m in batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )


def stream_records() -> list[dict[str, Any]]:
    """Every record of the table's stream so far, as Lambda would receive them."""
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    for record in records:  # the Lambda event carries numbers as strings too
        record["dynamodb"].pop("ApproximateCreationDateTime", None)
    return records


def test_one_notification_per_status_change(
    store: Store, bus_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    settings = load_settings()
    body = {
        "title": "Backup",
        "start_date_time": NOW + 3600,
        "rrule": "FREQ=DAILY;COUNT=1",
        "duration_seconds": 1800,
        "monitors": [{"monitor_tag": "db", "impact": "DEGRADED"}],
    }
    m = create_maintenance(store, settings, body, NOW)
    run_tick(store, settings, NOW + 3600 - 300)  # READY
    run_tick(store, settings, NOW + 3600 - 300)  # nothing
    run_tick(store, settings, NOW + 3600 + 1800)  # COMPLETED (catch-up, one change)
    handler = load_function("notifier").lambda_handler
    result = handler({"Records": stream_records()}, LambdaContext())
    assert result == {"batchItemFailures": []}
    messages = received(bus_queue)
    assert [(e["detail"]["from_status"], e["detail"]["to_status"]) for e in messages] == [
        ("SCHEDULED", "READY"),
        ("READY", "COMPLETED"),
    ]
    first = messages[0]
    assert first["source"] == SOURCE
    assert first["detail-type"] == DETAIL_TYPE
    detail = first["detail"]
    assert detail["maintenance_id"] == m["id"]
    assert detail["maintenance_title"] == "Backup"
    assert detail["monitors"] == [{"monitor_tag": "db", "impact": "DEGRADED"}]
    assert (detail["start_date_time"], detail["end_date_time"]) == (NOW + 3600, NOW + 5400)
    assert detail["transition_id"].startswith(f"{detail['event_id']}:SCHEDULED:READY:")


def test_failed_entries_are_retried_then_reported(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    monkeypatch.setattr("maintsvc.derived.notifications.time.sleep", lambda s: None)
    settings = load_settings()
    body = {"title": "t", "start_date_time": NOW + 600, "rrule": "FREQ=DAILY;COUNT=2",
            "duration_seconds": 60}  # fmt: skip
    create_maintenance(store, settings, body, NOW)
    run_tick(store, settings, NOW + 600 + DAY_AND_MORE)
    records = stream_records()
    calls: list[int] = []

    def flaky(self: Store, entries: list[Any]) -> list[bool]:
        calls.append(len(entries))
        if len(calls) == 1:
            return [True, False]  # the second entry is refused once
        return [True] * len(entries)

    monkeypatch.setattr(Store, "put_events", flaky)
    records = [r for r in records if r["dynamodb"]["Keys"]["SK"]["S"].startswith("E#")]
    assert publish_changes(store, records, "default") is None
    assert calls == [2, 1]  # only the refused entry is sent again

    monkeypatch.setattr(Store, "put_events", lambda self, entries: [False] * len(entries))
    failed_at = publish_changes(store, records, "default")
    modify = [r for r in records if r["eventName"] == "MODIFY"]
    assert failed_at == modify[0]["dynamodb"]["SequenceNumber"]


DAY_AND_MORE = 2 * 86400


def notified(store: Store, bus_queue: str) -> list[tuple[Any, Any, Any]]:
    """Run the notifier over the whole stream; (from, to, reason) of what subscribers got."""
    result = load_function("notifier").lambda_handler(
        {"Records": stream_records()}, LambdaContext()
    )
    assert result == {"batchItemFailures": []}
    details = [m["detail"] for m in received(bus_queue)]
    return [(d["from_status"], d["to_status"], d["reason"]) for d in details]


def test_a_window_created_ready_or_ongoing_is_announced(
    store: Store, bus_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    settings = load_settings()
    body = {"title": "t", "rrule": "FREQ=DAILY;COUNT=1", "duration_seconds": 600}
    for start in (NOW - 60, NOW + 120, NOW + 3600):  # ONGOING, READY, SCHEDULED
        create_maintenance(store, settings, {**body, "start_date_time": start}, NOW)
    assert notified(store, bus_queue) == [
        (None, "ONGOING", "created"),
        (None, "READY", "created"),
    ]


def test_a_window_deleted_while_ready_or_ongoing_is_announced_as_ended(
    store: Store, bus_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.resources.events import delete_event
    from maintsvc.resources.maintenances import delete_maintenance

    monkeypatch.setattr(time, "time", lambda: float(NOW))
    settings = load_settings()
    body = {"title": "t", "rrule": "FREQ=DAILY;COUNT=1", "duration_seconds": 600,
            "monitors": [{"monitor_tag": "db"}]}  # fmt: skip
    ongoing = create_maintenance(store, settings, {**body, "start_date_time": NOW - 60}, NOW)
    ready = create_maintenance(store, settings, {**body, "start_date_time": NOW + 120}, NOW)
    later = create_maintenance(store, settings, {**body, "start_date_time": NOW + 3600}, NOW)
    notified(store, bus_queue)  # the two creations
    event_id = store.query(
        "PK = :pk AND begins_with(SK, :e)", {":pk": f"M#{ongoing['id']}", ":e": "E#"}
    )[0]["id"]
    delete_event(store, str(ongoing["id"]), ongoing["id"], str(event_id), event_id)
    delete_maintenance(store, str(ready["id"]), ready["id"], NOW)
    delete_maintenance(store, str(later["id"]), later["id"], NOW)  # SCHEDULED: nothing to end
    handler = load_function("notifier").lambda_handler
    assert handler({"Records": stream_records()}, LambdaContext()) == {"batchItemFailures": []}
    ends = [m["detail"] for m in received(bus_queue)][2:]  # the stream is read from its start
    assert [(d["from_status"], d["to_status"], d["reason"]) for d in ends] == [
        ("ONGOING", None, "deleted"),
        ("READY", None, "deleted"),
    ]
    # The maintenance itself is gone, but subscribers still learn which monitors to release.
    assert [(d["maintenance_title"], d["monitors"]) for d in ends] == [
        ("t", [{"monitor_tag": "db", "impact": "MAINTENANCE"}])
    ] * 2
