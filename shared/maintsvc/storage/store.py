"""Data access: the only module that touches boto3.

A thin typed layer over the low-level DynamoDB, EventBridge and SQS clients:
plain Python values in and out (ints for numbers, sets for string/number
sets, None for NULL), pagination and unprocessed-item retries handled here,
AWS errors turned into the two exceptions the domain code reasons about.
Clients use boto3's default configuration, so AWS_ENDPOINT_URL_DYNAMODB,
AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_ENDPOINT_URL_SQS and AWS_REGION redirect them;
no endpoint in code. Clients are thread safe, and the scheduler shares one
between its worker threads, so each keeps enough pooled connections for them.
"""

import contextvars
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

Item = dict[str, Any]
Key = Mapping[str, str]

_clients: dict[str, Any] = {}
# More than the scheduler's worker threads: botocore's default pool of 10 would make the
# others open (and throw away) a fresh connection per call.
MAX_POOL_CONNECTIONS = 64


def _client(service: str) -> Any:
    """One client per service per process (created lazily, reused while warm)."""
    if service not in _clients:
        _clients[service] = boto3.client(  # type: ignore[call-overload]
            service, config=Config(max_pool_connections=MAX_POOL_CONNECTIONS)
        )
    return _clients[service]


def dynamodb_client() -> Any:
    """The process's DynamoDB client, for a library that takes one (powertools idempotency):
    the same endpoint configuration, and no second client to create on a cold path."""
    return _client("dynamodb")


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and mocks)."""
    _clients.clear()


class ConditionFailed(Exception):
    """A conditional write found the item not in the expected state."""


class ItemTooLarge(Exception):
    """A write would make an item larger than DynamoDB's 400 KB."""


class TransactionCancelled(Exception):
    """A transaction was cancelled; `reasons` holds one code per action ("None" = fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    @property
    def conflict(self) -> bool:
        return "TransactionConflict" in self.reasons

    def failed_conditions(self) -> list[int]:
        return [i for i, r in enumerate(self.reasons) if r == "ConditionalCheckFailed"]


def to_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": {k: to_attr(v) for k, v in value.items()}}
    if isinstance(value, set | frozenset):
        if all(isinstance(v, str) for v in value):
            return {"SS": sorted(value)}
        return {"NS": [str(v) for v in sorted(value)]}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def from_attr(attr: Mapping[str, Any]) -> Any:
    ((kind, raw),) = attr.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw) if "." not in raw and "e" not in raw.lower() else float(raw)
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(raw)
    if kind == "M":
        return {k: from_attr(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attr(v) for v in raw]
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {int(v) for v in raw}
    raise TypeError(f"unsupported attribute type {kind}")


def to_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in item.items()}


def from_item(raw: Mapping[str, Any]) -> Item:
    return {k: from_attr(v) for k, v in raw.items()}


def _values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"ExpressionAttributeValues": to_item(values)} if values else {}


def _names(names: Mapping[str, str] | None) -> dict[str, Any]:
    return {"ExpressionAttributeNames": dict(names)} if names else {}


class Store:
    """The table (and the event bus) the service runs on."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _ddb(self) -> Any:
        return _client("dynamodb")

    # -- single items -------------------------------------------------------
    def get(self, key: Key, consistent: bool = True) -> Item | None:
        raw = self._ddb.get_item(
            TableName=self.table_name, Key=to_item(key), ConsistentRead=consistent
        )
        return from_item(raw["Item"]) if "Item" in raw else None

    def put(self, item: Mapping[str, Any], condition: str | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": to_item(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        self._call_conditional(self._ddb.put_item, kwargs)

    def update(
        self,
        key: Key,
        expression: str,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        condition: str | None = None,
        return_new: bool = False,
    ) -> Item | None:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": to_item(key),
            "UpdateExpression": expression,
            **_values(values),
            **_names(names),
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        if return_new:
            kwargs["ReturnValues"] = "ALL_NEW"
        raw = self._call_conditional(self._ddb.update_item, kwargs)
        return from_item(raw["Attributes"]) if return_new else None

    def delete(
        self,
        key: Key,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": to_item(key),
            **_values(values),
            **_names(names),
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        self._call_conditional(self._ddb.delete_item, kwargs)

    @staticmethod
    def _call_conditional(operation: Any, kwargs: dict[str, Any]) -> Any:
        try:
            return operation(**kwargs)
        except ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(str(exc)) from None
            if error["Code"] == "ValidationException" and "maximum allowed size" in str(
                error.get("Message", "")
            ):
                raise ItemTooLarge(str(exc)) from None
            raise

    # -- queries ------------------------------------------------------------
    def query(self, key_condition: str, values: Mapping[str, Any], **options: Any) -> list[Item]:
        """Every matching item (following pages); options as for `iter_query`."""
        return list(self.iter_query(key_condition, values, **options))

    def iter_query(
        self,
        key_condition: str,
        values: Mapping[str, Any],
        index: str | None = None,
        names: Mapping[str, str] | None = None,
        filter_expression: str | None = None,
        forward: bool = True,
        consistent: bool = False,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[Item]:
        """Matching items, read a page at a time as the caller consumes them.

        `limit` caps the items yielded in all; `page_size` caps each request,
        for callers that may stop early and should not have read (and paid
        for) a full 1 MB page they never use.
        """
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": forward,
            **_values(values),
            **_names(names),
        }
        if index:
            kwargs["IndexName"] = index
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if consistent and (index is None or index.startswith("LSI")):
            kwargs["ConsistentRead"] = True
        if limit is not None and filter_expression is None:
            kwargs["Limit"] = limit
        if page_size is not None and filter_expression is None:
            kwargs["Limit"] = min(page_size, kwargs.get("Limit", page_size))
        yielded = 0
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                yield from_item(raw)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count(
        self, key_condition: str, values: Mapping[str, Any], index: str | None, cap: int
    ) -> int:
        """How many items match (Select=COUNT), stopping once `cap` is reached."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": key_condition,
            "Select": "COUNT",
            **_values(values),
        }
        if index:
            kwargs["IndexName"] = index
        total = 0
        while total < cap:
            page = self._ddb.query(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return min(total, cap)

    # -- batches and transactions -------------------------------------------
    def batch_get(self, keys: Sequence[Key]) -> list[Item]:
        """Strongly consistent BatchGetItem, 100 keys a call, unprocessed keys retried."""
        found: list[Item] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [to_item(k) for k in keys[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(8):
                raw = self._ddb.batch_get_item(RequestItems=request)
                found.extend(from_item(i) for i in raw["Responses"].get(self.table_name, []))
                request = raw.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("BatchGetItem kept returning unprocessed keys")
        return found

    def batch_get_at_once(self, keys: Sequence[Key]) -> list[Item]:
        """`batch_get` with its calls of 100 keys run at once: one round trip's wait for up
        to a few hundred keys (each thread runs in the caller's context)."""
        chunks = [keys[start : start + 100] for start in range(0, len(keys), 100)]
        if len(chunks) <= 1:
            return self.batch_get(keys)
        context = contextvars.copy_context()
        with ThreadPoolExecutor(min(len(chunks), 8)) as pool:
            parts = pool.map(lambda chunk: context.copy().run(self.batch_get, chunk), chunks)
            return [item for part in parts for item in part]

    def batch_write(
        self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[Key] = ()
    ) -> None:
        """Unconditional puts and deletes, 25 a call, unprocessed items retried."""
        requests = [{"PutRequest": {"Item": to_item(p)}} for p in puts] + [
            {"DeleteRequest": {"Key": to_item(k)}} for k in deletes
        ]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table_name: requests[start : start + 25]}
            for attempt in range(8):
                raw = self._ddb.batch_write_item(RequestItems=pending)
                pending = raw.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError("BatchWriteItem kept returning unprocessed items")

    def transact(self, actions: Sequence["TxAction"]) -> None:
        """TransactWriteItems (at most 100 actions); cancellations become TransactionCancelled."""
        if not actions:
            return
        try:
            self._ddb.transact_write_items(
                TransactItems=[a.render(self.table_name) for a in actions]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise TransactionCancelled(reasons or ["Unknown"]) from None

    # -- EventBridge ----------------------------------------------------------
    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> list[bool]:
        """PutEvents in calls of at most 10 entries and 256 KB; per entry, whether it was
        accepted. A request over 256 KB is refused whole (an exception, not per-entry
        failures), and maintenance events carry descriptions of up to 40 KB."""
        accepted: list[bool] = []
        for chunk in _event_batches(entries):
            raw = _client("events").put_events(Entries=chunk)
            accepted.extend("EventId" in r and not r.get("ErrorCode") for r in raw["Entries"])
        return accepted

    # -- SQS ------------------------------------------------------------------
    @staticmethod
    def send_messages(queue_url: str, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """SendMessageBatch, 10 entries a call; returns the Ids SQS did not accept.

        Each entry is `{"Id", "MessageBody", "DelaySeconds"}` as the API takes
        it. A failed entry is reported, not retried: callers decide whether a
        lost message matters (the scheduler's do not: the tick is the safety net).
        """
        failed: list[str] = []
        for start in range(0, len(entries), 10):
            chunk = [dict(e) for e in entries[start : start + 10]]
            raw = _client("sqs").send_message_batch(QueueUrl=queue_url, Entries=chunk)
            failed.extend(str(f["Id"]) for f in raw.get("Failed", []))
        return failed


PUT_EVENTS_ENTRIES = 10
PUT_EVENTS_BYTES = 256 * 1024


def event_entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it toward PutEvents' 256 KB (its UTF-8 source,
    detail type, detail and resources, 14 bytes for a time)."""
    size = 14 if "Time" in entry else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name, "")).encode())
    return size + sum(len(str(r).encode()) for r in entry.get("Resources", []))


def _event_batches(entries: Sequence[Mapping[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive entries grouped into requests PutEvents accepts, order kept."""
    batch: list[dict[str, Any]] = []
    used = 0
    for entry in entries:
        size = event_entry_size(entry)
        if batch and (len(batch) == PUT_EVENTS_ENTRIES or used + size > PUT_EVENTS_BYTES):
            yield batch
            batch, used = [], 0
        batch.append(dict(entry))
        used += size
    if batch:
        yield batch


class TxAction:
    """One action of a TransactWriteItems call."""

    def __init__(self, kind: str, body: dict[str, Any]) -> None:
        self.kind = kind
        self.body = body

    def render(self, table_name: str) -> dict[str, Any]:
        return {self.kind: {"TableName": table_name, **self.body}}

    @classmethod
    def put(cls, item: Mapping[str, Any], condition: str | None = None) -> "TxAction":
        body: dict[str, Any] = {"Item": to_item(item)}
        if condition:
            body["ConditionExpression"] = condition
        return cls("Put", body)

    @classmethod
    def update(
        cls,
        key: Key,
        expression: str,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        condition: str | None = None,
    ) -> "TxAction":
        body: dict[str, Any] = {
            "Key": to_item(key),
            "UpdateExpression": expression,
            **_values(values),
            **_names(names),
        }
        if condition:
            body["ConditionExpression"] = condition
        return cls("Update", body)

    @classmethod
    def delete(
        cls,
        key: Key,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> "TxAction":
        body: dict[str, Any] = {"Key": to_item(key), **_values(values), **_names(names)}
        if condition:
            body["ConditionExpression"] = condition
        return cls("Delete", body)

    @classmethod
    def check(
        cls,
        key: Key,
        condition: str,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> "TxAction":
        return cls(
            "ConditionCheck",
            {
                "Key": to_item(key),
                "ConditionExpression": condition,
                **_values(values),
                **_names(names),
            },
        )
