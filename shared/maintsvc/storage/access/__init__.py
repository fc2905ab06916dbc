"""The data layer: one named function per access pattern of docs/data-model.md.

Every DynamoDB expression of the service is written here and nowhere in the
domain modules: key conditions, update and condition expressions with their
`#names` and `:values`, and the transactions that combine them. Each function
takes the Store first (no globals), speaks in ids and items, and lets the
store's ConditionFailed / TransactionCancelled through: what a lost condition
means is the domain's decision. Key strings come from maintsvc.storage.keys, item
shapes from maintsvc.storage.items; maintsvc.storage.store stays the only boto3 user.

- maintenance_items: maintenance META items, the id sequence, the listing, deletion.
- event_items: events and their occurrence markers.
- work_queues: the scheduler's sparse GSI3 queues (due, top-up, purge, expire).
- api_key_items: API keys.
"""

from collections.abc import Mapping
from typing import Any

from maintsvc.storage import keys
from maintsvc.storage.store import TxAction

# `status` is a DynamoDB reserved word: expressions call it `#st`.
STATUS_NAME = {"#st": "status"}
# A maintenance that exists and is not being deleted (a deleted one's items belong to its purge).
LIVE_MAINTENANCE = "attribute_exists(title) AND attribute_not_exists(deleting)"
TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems


def item_key(item: Mapping[str, Any]) -> dict[str, str]:
    """The primary key of a stored item."""
    return {"PK": item["PK"], "SK": item["SK"]}


def event_count_change(maintenance_id: int, delta: int, condition: str) -> TxAction:
    """Add `delta` to a maintenance's `event_count` (the events listing's `total`), in the
    same transaction that creates or deletes the events, on `condition`."""
    return TxAction.update(
        keys.maintenance_key(maintenance_id),
        "ADD event_count :n",
        {":n": delta},
        condition=condition,
    )
