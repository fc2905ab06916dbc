"""API keys: an item by digest (authentication) and one by name (unique, listed in GSI1).

Serves docs/data-model.md's patterns 1 (authenticate) and 17 (keys by name).
"""

from maintsvc.storage import keys
from maintsvc.storage.store import Item, Store, TxAction


def get_api_key(store: Store, digest: str) -> Item | None:
    """Pattern 1: the key stored under this SHA-256 digest."""
    return store.get(keys.api_key_key(digest))


def get_api_key_by_name(store: Store, name: str) -> Item | None:
    """Pattern 17: the key called `name` (its item carries the digest)."""
    return store.get(keys.api_key_name_key(name))


def list_api_keys(store: Store) -> list[Item]:
    """Pattern 17: every key's by-name item (one Query of GSI1 `APIKEY`)."""
    return store.query("GSI1PK = :pk", {":pk": keys.APIKEY_LIST}, index="GSI1")


def put_new_api_key(store: Store, by_digest: Item, by_name: Item) -> None:
    """Store a new key's two items in one transaction; TransactionCancelled with a failed
    condition when the name is taken."""
    store.transact(
        [TxAction.put(by_name, condition="attribute_not_exists(PK)"), TxAction.put(by_digest)]
    )


def _deactivate(key: dict[str, str]) -> TxAction:
    return TxAction.update(key, "SET #s = :inactive", {":inactive": "INACTIVE"}, {"#s": "status"})


def put_api_key(store: Store, by_digest: Item, by_name: Item, replaced: str | None) -> None:
    """Store a key's two items (overwriting), deactivating the key of digest `replaced` (one
    the name meant before) in the same transaction."""
    actions = [TxAction.put(by_name), TxAction.put(by_digest)]
    if replaced is not None:
        actions.append(_deactivate(keys.api_key_key(replaced)))
    store.transact(actions)


def deactivate_api_key(store: Store, name: str, digest: str) -> None:
    """Pattern 17's revoke: both items of a key INACTIVE, in one transaction."""
    store.transact(
        [_deactivate(keys.api_key_name_key(name)), _deactivate(keys.api_key_key(digest))]
    )
