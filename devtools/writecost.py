"""Write items and write units of DynamoDB requests, for `make bench` and the tests that
hold a status change to one write.

Registered on a client's `provide-client-params.dynamodb.*` event, it sees every
request as the service sends it: a PutItem, UpdateItem or DeleteItem is one item
and, for items up to 1 KB (an event is about 400 bytes), one write unit; each
action of a TransactWriteItems is one item and two units (a ConditionCheck too:
DynamoDB bills it as a transactional write); a BatchWriteItem request one item
and one unit. Index writes are not counted (they follow the item whichever way it
is written). Thread safe: the tick writes from a pool.
"""

import threading
from collections import Counter
from typing import Any

SINGLE = ("PutItem", "UpdateItem", "DeleteItem")


class WriteCost:
    """Write calls by operation, and the items and base-table write units they carry."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.units = 0
        self._lock = threading.Lock()

    def __call__(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        items, units = 0, 0
        if operation in SINGLE:
            items, units = 1, 1
        elif operation == "TransactWriteItems":
            items = len(params["TransactItems"])
            units = 2 * items
        elif operation == "BatchWriteItem":
            items = units = sum(len(r) for r in params["RequestItems"].values())
        else:
            return
        with self._lock:
            self.calls[operation] += 1
            self.items += items
            self.units += units

    def reset(self) -> None:
        """Count from zero again."""
        with self._lock:
            self.calls.clear()
            self.items = self.units = 0

    def attach(self, client: Any) -> "WriteCost":
        client.meta.events.register("provide-client-params.dynamodb.*", self)
        return self

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("provide-client-params.dynamodb.*", self)
