"""devtools.motofix: moto answers as it would unpatched, only faster and without leaking."""

import gc
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import StreamRecord, Table

from devtools import motofix
from maintsvc.storage.store import Store
from tests.conftest import TABLE


@pytest.fixture
def items(aws: None) -> Iterator[list[dict[str, Any]]]:
    """A table shaped like the service's: partitions, an LSI and sparse GSIs."""
    rng = random.Random(7)
    written = []
    for n in range(150):
        item: dict[str, Any] = {
            "PK": f"M#{rng.randint(1, 6)}",
            "SK": f"E#{n:05d}",
            "LSI1SK": f"{rng.randint(0, 50):04d}",
            "n": n,
        }
        if rng.random() < 0.6:
            item["GSI3PK"] = f"DUE#{rng.randint(0, 2)}"
            item["GSI3SK"] = f"{rng.randint(0, 40):04d}#{n}"  # ties in the prefix
        written.append(item)
    Store(TABLE).batch_write(puts=written)
    yield written


def condition(index: str | None, expression: str, **values: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "KeyConditionExpression": expression,
        "ExpressionAttributeValues": {name: {"S": value} for name, value in values.items()},
    }
    return {**request, "IndexName": index} if index else request


REQUESTS = {
    "partition": condition(None, "PK = :p", **{":p": "M#3"}),
    "partition, range, backwards": {
        **condition(
            None,
            "PK = :p AND SK BETWEEN :a AND :b",
            **{":p": "M#2", ":a": "E#00050", ":b": "E#00200"},
        ),
        "ScanIndexForward": False,
    },
    "LSI": condition("LSI1", "PK = :p AND LSI1SK >= :s", **{":p": "M#1", ":s": "0020"}),
    "GSI, range": condition(
        "GSI3", "GSI3PK = :p AND GSI3SK <= :s", **{":p": "DUE#1", ":s": "0030"}
    ),
    "GSI, backwards": {
        **condition("GSI3", "GSI3PK = :p", **{":p": "DUE#0"}),
        "ScanIndexForward": False,
    },
    "scan": {},
}


def read_all(request: dict[str, Any], page: int | None) -> list[int]:
    """Every item the query (or a Scan, with no key condition) returns, following pages."""
    client = boto3.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": TABLE, **request}
    if page:
        kwargs["Limit"] = page
    found = []
    for _ in range(1000):  # a paging bug must fail the test, not hang it
        response = (
            client.query(**kwargs) if "KeyConditionExpression" in request else client.scan(**kwargs)
        )
        found.extend(int(item["n"]["N"]) for item in response["Items"])
        if "LastEvaluatedKey" not in response:
            return found
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    raise AssertionError("still paging after 1,000 pages")


@pytest.mark.parametrize("page", [None, 10])
@pytest.mark.parametrize("name", list(REQUESTS))
def test_queries_and_scans_return_what_unpatched_moto_returns(
    items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, name: str, page: int | None
) -> None:
    patched = read_all(REQUESTS[name], page)
    with monkeypatch.context() as unpatched:
        for method, original in motofix.ORIGINAL_TABLE_METHODS.items():
            unpatched.setattr(Table, method, original)
        expected = read_all(REQUESTS[name], page)
    assert patched == expected
    assert len(patched) > 5  # the comparison is not between two empty lists


def test_a_partition_with_no_items_is_empty(items: list[dict[str, Any]]) -> None:
    assert read_all(condition(None, "PK = :p", **{":p": "M#9"}), None) == []
    assert read_all(condition("GSI3", "GSI3PK = :p", **{":p": "DUE#9"}), None) == []


def test_items_and_stream_records_are_not_kept_once_replaced(aws: None) -> None:
    motofix.install()  # again: every mock that stops turns moto's tracking back on
    store = Store(TABLE)
    for version in range(50):
        store.put({"PK": "K", "SK": "K", "v": version})
    gc.collect()
    assert len(Item.instances_tracked) == 0
    assert len(StreamRecord.instances_tracked) == 0


def sized_attributes(total: int) -> dict[str, Any]:
    """Key attributes and a padding string making the item exactly `total` bytes for moto."""
    attrs: dict[str, Any] = {"PK": {"S": "K"}, "SK": {"S": "K"}, "nested": {"M": {"a": {"N": "1"}}}}
    # moto counts each attribute's name and value: PK+K, SK+K, nested + a + 1, pad + padding.
    used = 3 + 3 + (6 + 1 + 1) + 3
    attrs["pad"] = {"S": "x" * (total - used)}
    return attrs


@pytest.mark.parametrize("total", [1_000, motofix.ITEM_SIZE_LIMIT, motofix.ITEM_SIZE_LIMIT + 1])
def test_items_are_built_and_refused_as_unpatched_moto_builds_them(total: int) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType

    motofix.install()

    def build(init: Any) -> Any:
        item = Item.__new__(Item)
        try:
            init(item, DynamoType({"S": "K"}), DynamoType({"S": "K"}), sized_attributes(total))
        except ItemSizeTooLarge:
            return "too large"
        return item

    patched, unpatched = build(Item.__init__), build(motofix.ORIGINAL_ITEM_INIT["__init__"])
    if total > motofix.ITEM_SIZE_LIMIT:
        assert patched == unpatched == "too large"
    else:
        assert patched == unpatched  # Item.__eq__: keys and attributes
        assert type(patched.attrs) is type(unpatched.attrs)
        assert patched.size() == unpatched.size() == total
