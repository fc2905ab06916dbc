"""Each function is granted exactly the DynamoDB actions its code uses: no more, no fewer.

A scenario drives every function through its real handler (every route, each
scheduler queue, the notifier on real stream records) while a botocore hook
records the IAM actions each call needs (a TransactWriteItems needs the action
of each of its parts). The set per function must equal what template.yaml
grants it: a grant nobody uses fails, and so does a code path whose action is
missing (it would be AccessDenied on AWS, which moto never checks).

The hook also records the partition key of every item each write action
touches (dynamodb:LeadingKeys: each part of a transaction, each request of a
batch), and every one must be admitted by the function's fence for that
action, while every prefix of a fence must be written by some call.
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import NOW, TABLE, Caller, LambdaContext, load_function, valid_body
from tests.test_template_guardrails import (
    DYNAMODB_GRANTS,
    NOT_YET_WRITTEN,
    RESOURCES,
    WRITE_FENCES,
    admits,
    string_like,
)

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


PARTITION_KEY = next(
    key["AttributeName"]
    for key in RESOURCES["Table"]["Properties"]["KeySchema"]
    if key["KeyType"] == "HASH"
)


class Used:
    """What each function's calls needed, by function logical id."""

    def __init__(self) -> None:
        self.actions: dict[str, set[str]] = defaultdict(set)
        # write action (no prefix) -> the partition keys it wrote
        self.writes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    def record(self, function: str, operation: str, params: Any) -> None:
        writes = self.writes[function]
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                for part, request in item.items():
                    self.actions[function].add(f"dynamodb:{TRANSACT_PARTS[part]}")
                    if part != "ConditionCheck":
                        writes[TRANSACT_PARTS[part]].add(_partition(request))
            return
        self.actions[function].add(f"dynamodb:{operation}")
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            writes[operation].add(_partition(params))
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    (body,) = request.values()  # PutRequest or DeleteRequest
                    writes[operation].add(_partition(body))


def _partition(request: dict[str, Any]) -> str:
    """The partition key of the item a write request names (its Item, or its Key)."""
    item = request.get("Item") or request["Key"]
    return str(item[PARTITION_KEY]["S"])


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[Used]:
    """What each function's handler's calls needed: actions and written partition keys."""
    from botocore.client import BaseClient

    recorded = Used()
    current: list[str] = []
    real = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: Any) -> Any:
        if current and self.meta.service_model.service_name == "dynamodb":
            recorded.record(current[-1], operation, params)
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
    yield recorded


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
    used: Used,
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
        ("GET", "/api/v4/maintenances/calendar.ics", None, {"monitors": "db"}),
        ("POST", "/api/v4/maintenances/preview", valid_body(rrule="FREQ=DAILY"), None),
    ]:
        assert call(method, target, body=body, query=query).status == 200, (method, target)
    # A key not yet cached: the monitor route looks it up itself (GetItem), then reads the index.
    monitor = call(
        "GET", "/api/v4/monitors/db/maintenance", query={"at": str(NOW + 600)}, key=read_key
    )
    assert monitor.json["in_maintenance"] is True
    feed = call("GET", "/api/v4/maintenances/calendar.ics", key=None, query={"token": read_key})
    assert feed.status == 200  # a read-only key in the query instead of the header
    events = call("GET", f"{path}/events", query={"limit": "3"}).json["events"]
    first, second, third = (f"{path}/events/{e['id']}" for e in events)
    assert call("GET", first).status == 200
    # Moved into the READY window: a start of an event held since the pause, so it checks
    # the maintenance (the first start after a resume).
    soon = NOW + 120
    moved = call("PATCH", first, body={"start_date_time": soon, "end_date_time": soon + 60})
    assert moved.json["event"]["status"] == "READY"
    far = NOW + 400 * DAY  # another feed year
    assert (
        call("PATCH", second, body={"start_date_time": far, "end_date_time": far + 60}).status
        == 200
    )
    retried = {"Idempotency-Key": "cancel-third"}  # claims its record in the table
    assert call("PATCH", third, body={"status": "CANCELLED"}, headers=retried).status == 200
    # Idempotency-Key records of both API functions: claimed (PutItem) and stored
    # (UpdateItem) for an answer, dropped (DeleteItem) after a 5xx.
    keyed = {"Idempotency-Key": "create-once"}
    paused = valid_body(status="INACTIVE")
    assert call("POST", "/api/v4/maintenances", body=paused, headers=keyed).status == 201
    from maintsvc.resources import events as event_resources
    from maintsvc.resources import maintenances as maintenance_resources

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault")

    with monkeypatch.context() as faults:
        faults.setattr(maintenance_resources, "update_maintenance", failing)
        faults.setattr(event_resources, "update_event", failing)
        for target, body in ((path, {"title": "x"}), (second, {"status": "CANCELLED"})):
            faulty = {"Idempotency-Key": f"fails-{target}"}
            assert call("PATCH", target, body=body, headers=faulty).status == 500
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
    fifth = fourth + 3600  # still held since the pause: its READY checks the maintenance
    for at in (fourth - 300, fourth, fourth + 900, fifth - 300, NOW + 12 * DAY, NOW + 60 * DAY):
        tick(at, clock)  # purge; READY, ONGOING, COMPLETED; a held READY; top-up; expiry
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
    # A counter off (a record given up), seen by two runs of the counters stage: fixed.
    from maintsvc.storage import keys
    from maintsvc.storage.access import feed_items, reconcile_items

    store = Store(TABLE)
    store.transact(
        [
            feed_items.add_to_counter(keys.count_key(level, NOW), {"SCHEDULED": 1})
            for level in range(keys.COUNT_TOP_LEVEL + 1)
        ]
    )
    monkeypatch.setattr(reconciler, "MAX_UNITS_PER_RUN", 1)
    bucket = keys.count_bucket(keys.FEED_BUCKET_LEVEL, NOW)
    reports = []
    for _ in range(2):  # suspected, then fixed (with what the scheduler's ticks changed)
        state = reconcile_items.get_checkpoint(store)
        reconcile_items.put_checkpoint(store, {**state, "stage": "counters", "todo": [bucket]})
        reports.append(
            reconciler.lambda_handler({}, LambdaContext(deadline=time.monotonic() + 240))
        )
    assert (reports[0]["counters_fixed"], reports[0]["counter_suspects"]) == (0, 1)
    assert (reports[1]["counters_fixed"], reports[1]["counter_suspects"]) >= (4, 0)

    for function, granted in DYNAMODB_GRANTS.items():
        needed = {action for action, _ in granted if action.split(":")[1] not in STREAM_READS}
        assert used.actions[function] == needed, (function, sorted(used.actions[function]))
    for function, fences in WRITE_FENCES.items():
        written = used.writes[function]
        assert set(written) == set(fences), function
        for action, fence in fences.items():
            # AccessDenied on AWS: a write outside the fence.
            assert not [k for k in written[action] if not admits(fence, k)], (function, action)
            # A prefix nobody writes is a grant too wide.
            unused = {p for p in fence if not any(string_like(p, k) for k in written[action])}
            assert unused <= NOT_YET_WRITTEN, (function, action, unused)
