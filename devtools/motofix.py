"""The changes the local stack makes to moto: TransactWriteItems without table copies,
no DynamoDB object kept after it is gone, and index queries without a slow sort.

moto 5 deep-copies every table a transaction touches (stream records
included) once per *action*, so it can roll back: a 99-action transaction on
a table of 10,000 items copies a million items. Tests, `make dev`,
`make bench` and `make fuzz` all go through moto, so each of them paid that
cost on every materialisation.

This replacement keeps DynamoDB's semantics (all conditions are evaluated
against the state before the transaction; one failing condition cancels
everything, with one reason per action) in two phases: check every action,
then apply them. Should moto refuse an action while applying (a malformed
update expression), the items already written are put back from an undo log
of just those items, and stream records written by the transaction are
dropped. Cost: the items the transaction touches, not the table.

Every object of a moto model class is also appended to a class-level list
(`instances_tracked`, for moto's dashboard) and so is never freed: every
version of every item ever written, and every stream record. A long-running
dev server grew by gigabytes that way. `install()` turns that tracking off
for DynamoDB's items, stream records and stream iterators. A mock that stops
puts fresh lists back (`reset_model_data`), so `install()` is called again
wherever a mock starts.

Every Query (and Scan) starts with `Table.all_items()`, which sorts the
whole table comparing moto's DynamoType objects, each comparison converting
both keys again; a Query then keeps the items of its partition. On a table
of 30,000 items (30 hourly maintenances on `make dev`) one scheduler tick
took 8 s of such queries, every other request waiting; 1.4 s with these
fixes, and the gap grows with the table. The replacements sort into the
same order with each key converted once (`all_items`, and `sorted_items`
for an index's order), and, inside a Query, take only the items whose key
attributes equal the query's partition key (the items moto would keep).

moto's DynamoDB is not thread safe: UpdateItem deep-copies the item it
changes while another thread's UpdateItem of the same item adds an attribute
("dictionary changed size during iteration"), as the indexer's concurrent
writes to one window bucket do. DynamoDB serialises writes to an item; here
every DynamoDB call runs under one lock (`_serialised`). moto's work is pure
Python under the GIL, so the lock costs no parallelism that was real.

Creating an item (every put, and every item a transaction or an update
writes) adds its attributes one at a time to moto's `LimitedSizeDict`, which
re-measures every attribute already there on each addition, to refuse an item
over 400 KB: quadratic in the attributes, and a third of the time moto took for
an hourly rule's 500-event create. `Item.__init__` is replaced by one that
measures the item once; the limit and the error are the same (an item is
refused when its total size is over moto's limit, which is when one of the
additions would have been). Later changes to an item's attributes (update
expressions) still go through moto's own check.

`install()` is idempotent and is called by every local harness entry point.
"""

import copy
import inspect
import threading
from typing import Any

_INSTALLED = False
# moto's own Table methods that install() replaces (the tests compare against them).
ORIGINAL_TABLE_METHODS: dict[str, Any] = {}
# moto's own Item.__init__ (the tests compare against it).
ORIGINAL_ITEM_INIT: dict[str, Any] = {}
# moto's LimitedSizeDict limit: 400 KB officially, measured between 409 and 410 KB.
ITEM_SIZE_LIMIT = 405000
# The partition key of the Query running on this thread: attribute name -> DynamoType.
_partition = threading.local()
# Every moto DynamoDB call runs under this lock (see the module doc).
_DYNAMODB_LOCK = threading.RLock()


class _Untracked(list[Any]):
    """An `instances_tracked` list that keeps nothing."""

    def append(self, instance: Any) -> None:
        pass


def install() -> None:
    """Replace DynamoDBBackend.transact_write_items and stop tracking DynamoDB objects."""
    global _INSTALLED
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    models: tuple[Any, ...] = (Item, StreamRecord, ShardIterator)
    for model in models:
        if not isinstance(model.instances_tracked, _Untracked):
            model.instances_tracked = _Untracked()
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    DynamoHandler.call_action = _serialised(DynamoHandler.call_action)  # type: ignore[method-assign]

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    ORIGINAL_ITEM_INIT["__init__"] = Item.__init__
    Item.__init__ = _item_init  # type: ignore[method-assign]
    for name in ("all_items", "query", "sorted_items"):
        ORIGINAL_TABLE_METHODS[name] = getattr(Table, name)
    Table.all_items = _all_items  # type: ignore[method-assign]
    Table.query = _query_with(Table.query)  # type: ignore[method-assign]
    Table.sorted_items = _sorted_items  # type: ignore[method-assign]
    _INSTALLED = True


def _serialised(call_action: Any) -> Any:
    def _call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return call_action(self)

    return _call_action


def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """Item.__init__, measuring the item once (see the module doc)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, values)  # dict's own update: no second measurement


def _query_with(query: Any) -> Any:
    signature = inspect.signature(query)

    def _query(self: Any, *args: Any, **kwargs: Any) -> Any:
        """Table.query, with all_items() limited to the query's partition (see module doc)."""
        arguments = signature.bind(self, *args, **kwargs).arguments
        if arguments.get("index_name"):
            _partition.key = dict(arguments.get("hash_key_conditions") or ())
        elif arguments.get("hash_key") is not None:
            _partition.key = {self.hash_key_attr: arguments["hash_key"]}
        try:
            return query(self, *args, **kwargs)
        finally:
            _partition.key = None

    return _query


def _all_items(self: Any) -> list[Any]:
    """Table.all_items (items by hash key, then range key), each key cast once.

    Inside a Query, only the items whose attributes equal its partition key:
    moto's query discards every other item right after this call.
    """
    if not self.range_key_attr:
        return sorted(self.items.values(), key=lambda i: i.hash_key.cast_value)
    key = getattr(_partition, "key", None)
    if key and set(key) == {self.hash_key_attr}:
        items = list(self.items.get(key[self.hash_key_attr], {}).values())
    else:
        items = [item for by_range in self.items.values() for item in by_range.values()]
        if key:
            items = [item for item in items if _in_partition(item, key)]
    return sorted(items, key=lambda i: (i.hash_key.cast_value, i.range_key.cast_value))


def _sorted_items(
    self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]
) -> list[Any]:
    """Table.sorted_items, each key attribute cast once per item."""
    names = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
    items.sort(key=lambda item: tuple(item.attrs[name].cast_value for name in names))
    return items


def _in_partition(item: Any, key: dict[str, Any]) -> bool:
    for name, wanted in key.items():
        value = item.attrs.get(name)
        if value is None or value != wanted:
            return False
    return True


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _check(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """Phase 1: shape, unicity and every condition against the untouched table."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TransactWriteSingleOpException,
    )

    seen: set[tuple[str, str]] = set()
    outcome: list[tuple[Any, Any, Any]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        try:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            key = _key_of(backend, op_type, op)
            identity = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            condition = op.get("ConditionExpression")
            if condition is not None:
                current = backend.get_item(op["TableName"], key)
                matcher = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not matcher.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    outcome.append(
                        ("ConditionalCheckFailed", "The conditional request failed", old)
                    )
                    continue
            outcome.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except Exception as exc:
            outcome.append((type(exc).__name__, str(exc), None))
    return outcome


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(op["TableName"], op["Item"])
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key)
    elif op_type == "Update":
        backend.update_item(
            op["TableName"],
            key,
            update_expression=op["UpdateExpression"],
            condition_expression=None,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


def _stream_lengths(backend: Any, names: set[str]) -> dict[str, int]:
    lengths = {}
    for name in names:
        shard = getattr(backend.tables.get(name), "stream_shard", None)
        if shard is not None:
            lengths[name] = len(shard.items)
    return lengths


def _undo(
    backend: Any, log: list[tuple[str, dict[str, Any], Any]], streams: dict[str, int]
) -> None:
    for table_name, key, old in reversed(log):
        if old is None:
            backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, old)
    for table_name, length in streams.items():
        del backend.tables[table_name].stream_shard.items[length:]


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """DynamoDBBackend.transact_write_items with an item-level undo log (see module doc)."""
    from moto.dynamodb.exceptions import (
        MockValidationException,
        TooManyTransactionsException,
        TransactionCanceledException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    outcome = _check(self, transact_items)
    if any(code is not None for code, _, _ in outcome):
        raise TransactionCanceledException(outcome)
    tables = {next(iter(e.values()))["TableName"] for e in transact_items}
    streams = _stream_lengths(self, tables)
    log: list[tuple[str, dict[str, Any], Any]] = []
    for index, entry in enumerate(transact_items):
        op_type, op = next(iter(entry.items()))
        if op_type == "ConditionCheck":
            continue
        key = _key_of(self, op_type, op)
        current = self.get_item(op["TableName"], key)
        old = copy.deepcopy(current.to_json()["Attributes"]) if current else None
        log.append((op["TableName"], key, old))
        try:
            _apply(self, op_type, op, key)
        except MockValidationException:
            _undo(self, log, streams)
            raise
        except Exception as exc:
            _undo(self, log, streams)
            failed: list[tuple[Any, Any, Any]] = [(None, None, None)] * len(transact_items)
            failed[index] = (type(exc).__name__, str(exc), None)
            raise TransactionCanceledException(failed) from None
