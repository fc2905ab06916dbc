"""Each function is granted exactly the DynamoDB actions its code uses: no more, no fewer.

A scenario drives every function through its real handler (every route, each
scheduler queue, the notifier on real stream records) while a botocore hook
records the IAM actions each call needs (a TransactWriteItems needs the action
of each of its parts). The set per function must equal what template.yaml
grants it: a grant nobody uses fails, and so does a code path whose action is
missing (it would be AccessDenied on AWS, which moto never checks).
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import NOW, TABLE, Caller, LambdaContext, load_function, valid_body
from tests.test_template_guardrails import DYNAMODB_GRANTS, RESOURCES

TRANSACT_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
STREAM_READS = {"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"}
DAY = 86400


def _folder(function: str) -> str:
    return str(RESOURCES[function]["Properties"]["CodeUri"]).strip("/").split("/")[-1]


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[dict[str, set[str]]]:
    """function logical id -> DynamoDB actions its handler's calls needed."""
    from botocore.client import BaseClient

    actions: dict[str, set[str]] = defaultdict(set)
    current: list[str] = []
    real = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: Any) -> Any:
        if current and self.meta.service_model.service_name == "dynamodb":
            if operation == "TransactWriteItems":
                for item in params["TransactItems"]:
                    actions[current[-1]].update(f"dynamodb:{TRANSACT_PARTS[k]}" for k in item)
            else:
                actions[current[-1]].add(f"dynamodb:{operation}")
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    for function in DYNAMODB_GRANTS:
        module = load_function(_folder(function))

        def attributed(
            event: Any, context: Any, _h: Any = module.lambda_handler, _f: str = function
        ) -> Any:
            current.append(_f)
            try:
                return _h(event, context)
            finally:
                current.pop()

        monkeypatch.setattr(module, "lambda_handler", attributed)
    yield actions


def all_stream_records() -> list[dict[str, Any]]:
    """Every record of the table's stream, following the shard iterator to its end."""
    import boto3

    from tests.conftest import TABLE

    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
    return records


def tick(at: int, clock: Any) -> None:
    clock(at)
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    load_function("scheduler").lambda_handler(scheduled, LambdaContext())


def test_each_function_is_granted_exactly_what_it_uses(
    call: Caller,
    clock: Any,
    used: dict[str, set[str]],
    monkeypatch: pytest.MonkeyPatch,
    read_key: str,
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "1")
    monkeypatch.setenv("MAX_FUTURE_EVENTS", "60")  # still more than one transaction's worth
    hourly = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(
            start_date_time=NOW + 600,
            rrule="FREQ=HOURLY",
            duration_seconds=600,
            monitors=[{"monitor_tag": "db", "impact": "DOWN"}],  # the monitor-window index
        ),
    ).json["maintenance"]
    ongoing = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(start_date_time=NOW - 60, rrule="FREQ=DAILY", duration_seconds=3600),
    ).json["maintenance"]
    path = f"/api/v4/maintenances/{hourly['id']}"
    feed = "/api/v4/maintenances/events"  # reading it runs the indexer over what came before
    for method, target, body, query in [
        ("GET", feed, None, None),  # windows filed
        ("GET", path, None, None),
        ("GET", "/api/v4/maintenances", None, None),
        ("GET", "/api/v4/maintenances", None, {"page": "1"}),
        ("PATCH", path, {"title": "renamed"}, None),
        ("PATCH", path, {"duration_seconds": 900}, None),
        ("PATCH", path, {"status": "INACTIVE"}, None),
        ("GET", feed, None, None),  # a paused maintenance's windows are unfiled
        ("PATCH", path, {"status": "ACTIVE"}, None),
        ("GET", f"{path}/events", None, None),
        ("GET", "/api/v4/maintenances/events", None, None),
        ("GET", "/api/v4/maintenances/events", None, {"maintenance_id": str(hourly["id"])}),
    ]:
        assert call(method, target, body=body, query=query).status == 200, (method, target)
    # A key not yet cached: the monitor route looks it up itself (GetItem), then reads the index.
    monitor = call(
        "GET", "/api/v4/monitors/db/maintenance", query={"at": str(NOW + 600)}, key=read_key
    )
    assert monitor.json["in_maintenance"] is True
    events = call("GET", f"{path}/events", query={"limit": "3"}).json["events"]
    first, second, third = (f"{path}/events/{e['id']}" for e in events)
    assert call("GET", first).status == 200
    soon = NOW + 120  # moved into the READY window: a start that checks the maintenance
    moved = call("PATCH", first, body={"start_date_time": soon, "end_date_time": soon + 60})
    assert moved.json["event"]["status"] == "READY"
    far = NOW + 400 * DAY  # another feed year
    assert (
        call("PATCH", second, body={"start_date_time": far, "end_date_time": far + 60}).status
        == 200
    )
    retried = {"Idempotency-Key": "cancel-third"}  # claims its record in the table
    assert call("PATCH", third, body={"status": "CANCELLED"}, headers=retried).status == 200
    assert call("DELETE", first).status == 200
    # Resumed after its start passed while paused: the window starts on the PATCH.
    resumed = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(start_date_time=NOW + 120, rrule="FREQ=DAILY", duration_seconds=600),
    ).json["maintenance"]
    resumed_path = f"/api/v4/maintenances/{resumed['id']}"
    assert call("PATCH", resumed_path, body={"status": "INACTIVE"}).status == 200
    clock(NOW + 130)
    assert call("PATCH", resumed_path, body={"status": "ACTIVE"}).status == 200
    clock(NOW)
    assert call("DELETE", resumed_path).status == 200
    # A DELETE that runs out of time: the scheduler purges the rest.
    monkeypatch.setattr(load_function("maintenances"), "DELETE_RESERVE_MILLIS", 10**9)
    assert call("DELETE", f"/api/v4/maintenances/{ongoing['id']}").status == 200

    fourth = NOW + 600 + 3 * 3600  # the first three were moved, cancelled, deleted
    # The transition worker applies the fourth's READY on the second, from its queue message.
    from maintsvc.lifecycle.transition_queue import DueChange

    fourth_event = call("GET", f"{path}/events", query={"limit": "2"}).json["events"][1]
    assert fourth_event["start_date_time"] == fourth
    change = DueChange(
        hourly["id"], fourth_event["id"], "SCHEDULED", fourth, fourth + 900, fourth - 300
    )
    clock(fourth - 300)
    message = {"Records": [{"messageId": "m1", "body": change.body()}]}
    worked = load_function("transitions").lambda_handler(message, LambdaContext())
    assert worked == {"batchItemFailures": []}
    for at in (fourth - 300, fourth, fourth + 900, NOW + 12 * DAY, NOW + 60 * DAY):
        tick(at, clock)  # purge; READY, ONGOING, COMPLETED; top-up; expiry
    load_function("notifier").lambda_handler({"Records": all_stream_records()}, LambdaContext())
    # A window the index holds but is not true (its record given up): the sweep removes it.
    from maintsvc.storage.access import window_items
    from maintsvc.storage.store import Store

    stale = window_items.window(hourly["id"], 10**9, NOW, NOW + 60)
    window_items.write_start_order(Store(TABLE), [("db", stale)], [])
    reconciler = load_function("reconciler")
    monkeypatch.setattr(reconciler, "MAX_UNITS_PER_RUN", 2)  # its first page holds the stale one
    reconciler.lambda_handler({}, LambdaContext(deadline=time.monotonic() + 240))
    left, _ = window_items.start_order_page(Store(TABLE), "db", None, 100)
    assert all(w["event_id"] != 10**9 for w in left)

    for function, granted in DYNAMODB_GRANTS.items():
        needed = {action for action, _ in granted if action.split(":")[1] not in STREAM_READS}
        assert used[function] == needed, (function, sorted(used[function]))
