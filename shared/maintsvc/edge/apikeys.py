"""API keys: minted once, stored only as SHA-256 digests, checked on every request.

A warm function caches a positive look-up for `API_KEY_CACHE_SECONDS`
(default 30, at most 60), so a revoked key can pass for at most that long on
a function that saw it just before. Failed look-ups are never cached, so a
new key works at once.
"""

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from maintsvc.clock import iso_now
from maintsvc.errors import ForbiddenError, UnauthorizedError
from maintsvc.storage import keys
from maintsvc.storage.access import api_key_items
from maintsvc.storage.store import Item, Store, TransactionCancelled

KEY_PATTERN = re.compile(r"kener_[0-9a-f]{64}")
READ, WRITE = "read", "write"
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
# A write key sent as `?token=` (only read-only keys may travel in a URL).
WRITE_KEY_IN_QUERY = (
    "A write key must not be sent in the query string: use a read-only key as token"
)


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: str
    status: str
    created_at: str
    # SHA-256 of the key: what scopes the key's Idempotency-Key records.
    digest: str


class DuplicateKeyName(Exception):
    """An API key with this name already exists."""


_cache: dict[str, tuple[float, ApiKey]] = {}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_items(name: str, hashed: str, read_only: bool) -> tuple[Item, Item]:
    """The two items of a key: by digest (authentication) and by name (unique, listed)."""
    record = {
        "name": name,
        "scope": READ if read_only else WRITE,
        "status": "ACTIVE",
        "created_at": iso_now(),
    }
    by_name = {**keys.api_key_name_key(name), **record, "digest": hashed,
               "GSI1PK": keys.APIKEY_LIST, "GSI1SK": name}  # fmt: skip
    return {**keys.api_key_key(hashed), **record}, by_name


def create_api_key(store: Store, name: str, read_only: bool = False) -> str:
    """Mint a key, store its digest under a unique name, return the key (shown once)."""
    key = "kener_" + secrets.token_hex(32)
    by_digest, by_name = _key_items(name, digest(key), read_only)
    try:
        api_key_items.put_new_api_key(store, by_digest, by_name)
    except TransactionCancelled as exc:
        if exc.failed_conditions():
            raise DuplicateKeyName(name) from None
        raise
    return key


def install_api_key(store: Store, key: str, name: str, read_only: bool = False) -> None:
    """Make a given key the active key called `name` (the dev stack's DEV_API_KEY).

    A different key previously stored under `name` is deactivated rather than
    left working under a name that now means another key.
    """
    by_digest, by_name = _key_items(name, digest(key), read_only)
    previous = api_key_items.get_api_key_by_name(store, name)
    replaced = None
    if previous is not None and previous["digest"] != by_name["digest"]:
        replaced = previous["digest"]
    api_key_items.put_api_key(store, by_digest, by_name, replaced)


def list_api_keys(store: Store) -> list[ApiKey]:
    items = api_key_items.list_api_keys(store)
    return [_from_item(i, i["digest"]) for i in items]


def revoke_api_key(store: Store, name: str) -> bool:
    """Mark a key INACTIVE; False when no key has this name."""
    record = api_key_items.get_api_key_by_name(store, name)
    if record is None:
        return False
    api_key_items.deactivate_api_key(store, name, record["digest"])
    return True


def authenticate(store: Store, authorization: str | None, method: str, ttl: int) -> ApiKey:
    """The key a request carries, or the 401/403 the contract prescribes."""
    parts = (authorization or "").split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1]:
        raise UnauthorizedError("Missing or invalid authorization header")
    api_key = _lookup(store, parts[1], ttl) if KEY_PATTERN.fullmatch(parts[1]) else None
    if api_key is None or api_key.status != "ACTIVE":
        raise UnauthorizedError("Invalid API key")
    if api_key.scope != WRITE and method.upper() in WRITE_METHODS:
        raise ForbiddenError("This API key is read-only")
    return api_key


def authenticate_query_token(store: Store, token: str, ttl: int) -> ApiKey:
    """The read-only key a calendar app sends as `?token=` (it cannot send headers).

    Only `read` keys are accepted there: a URL is copied into calendar apps,
    shared, proxied and logged, so a key in it must not be able to write. A
    `write` key is a 403 even though it is valid, so nobody keeps one in a
    calendar URL (docs/decisions.md, "The calendar feed").
    """
    api_key = _lookup(store, token, ttl) if KEY_PATTERN.fullmatch(token) else None
    if api_key is None or api_key.status != "ACTIVE":
        raise UnauthorizedError("Invalid API key")
    if api_key.scope != READ:
        raise ForbiddenError(WRITE_KEY_IN_QUERY)
    return api_key


def _lookup(store: Store, key: str, ttl: int) -> ApiKey | None:
    hashed = digest(key)
    cached = _cache.get(hashed)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    item = api_key_items.get_api_key(store, hashed)
    if item is None:
        _cache.pop(hashed, None)
        return None
    api_key = _from_item(item, hashed)
    if ttl > 0 and api_key.status == "ACTIVE":
        _cache[hashed] = (now + ttl, api_key)
    return api_key


def clear_cache() -> None:
    _cache.clear()


def _from_item(item: dict[str, Any], hashed: str) -> ApiKey:
    return ApiKey(item["name"], item["scope"], item["status"], item["created_at"], hashed)
