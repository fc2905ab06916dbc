"""The reconciler's checkpoint (docs/data-model.md, "Reconciler"): one item."""

import json
from typing import Any

from maintsvc.storage import keys
from maintsvc.storage.store import Store


def get_checkpoint(store: Store) -> dict[str, Any]:
    """Pattern 30: where the reconciler's sweep stands (empty: at its start)."""
    item = store.get(keys.RECONCILE_KEY)
    return dict(json.loads(item["state"])) if item else {}


def put_checkpoint(store: Store, state: dict[str, Any]) -> None:
    """Pattern 30: the sweep's position, written after each unit of work."""
    store.put({**keys.RECONCILE_KEY, "state": json.dumps(state, sort_keys=True)})
