"""The shared fixtures keep tests apart: nothing one test writes is seen by the next.

The `aws` fixture resets moto instead of starting a new mock and boto3 session per
test (devtools.localaws.MotoSandbox); these tests check that the reset leaves nothing
behind: items, stream records, queues, rules, cached API keys.
"""

from typing import Any

import boto3
import pytest

from devtools.localaws import MotoSandbox
from maintsvc.edge import apikeys
from maintsvc.storage.store import Store
from tests.conftest import TABLE

LEFT_BEHIND: dict[str, Any] = {}


def stream_records() -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return list(streams.get_records(ShardIterator=iterator)["Records"])


def write_everywhere(store: Store) -> None:
    store.put({"PK": "left", "SK": "behind"})
    boto3.client("sqs").create_queue(QueueName="left-behind")
    boto3.client("events").put_rule(Name="left-behind", ScheduleExpression="rate(1 minute)")
    LEFT_BEHIND["key"] = apikeys.create_api_key(store, "left-behind")
    apikeys.authenticate(store, f"Bearer {LEFT_BEHIND['key']}", "GET", 0)  # now cached


def assert_nothing_left(store: Store) -> None:
    assert store.get({"PK": "left", "SK": "behind"}) is None
    assert stream_records() == []
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []
    assert boto3.client("events").list_rules()["Rules"] == []
    with pytest.raises(apikeys.UnauthorizedError):
        apikeys.authenticate(store, f"Bearer {LEFT_BEHIND['key']}", "GET", 0)


def test_a_test_writes_everywhere(store: Store) -> None:
    write_everywhere(store)
    assert len(stream_records()) > 0


def test_the_next_test_finds_none_of_it(store: Store) -> None:
    assert "key" in LEFT_BEHIND, "runs after test_a_test_writes_everywhere"
    assert_nothing_left(store)


def test_reset_within_a_test_starts_afresh(store: Store, sandbox: MotoSandbox) -> None:
    write_everywhere(store)
    sandbox.reset()
    apikeys.clear_cache()
    assert_nothing_left(store)
