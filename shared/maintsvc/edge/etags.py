"""Entity tags of maintenances and events, and the If-Match / If-None-Match rules.

The tag is a hash of exactly the JSON resource a GET returns (its `url`
included), so it changes whenever anything a client can see changes, for
maintenances and events alike, and reveals nothing stored beside the
resource. It is strong: equal tags mean byte-for-byte the same resource
(before any gzip content coding). How a write honours If-Match atomically is
up to the domain function: it compares the tag of the state it read and
makes its conditional write depend on exactly that state (docs/decisions.md,
"ETags and If-Match").
"""

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

# A client's view of a resource, given the resource as stored now: does it still hold?
Expectation = Callable[[dict[str, Any]], bool]

# One entity tag of a list: "opaque" or W/"opaque"; bare tokens are read leniently as tags.
_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*|\s*([^\s,]+)\s*')


def etag(resource: Mapping[str, Any]) -> str:
    """A strong entity tag: 128 bits of SHA-256 over the canonical JSON of the resource."""
    text = json.dumps(resource, sort_keys=True, separators=(",", ":"))  # ASCII: always encodable
    return etag_of(text.encode())


def etag_of(representation: bytes) -> str:
    """A strong entity tag of a representation that is not JSON (the calendar feed's text):
    the same 22 characters, over its bytes."""
    digest = hashlib.sha256(representation).digest()[:16]
    return '"' + base64.urlsafe_b64encode(digest).decode().rstrip("=") + '"'


def is_any(header: str) -> bool:
    return header.strip() == "*"


def _tags(header: str) -> list[tuple[bool, str]]:
    """(weak, opaque) of each tag in a comma-separated list; unparsable parts are skipped."""
    tags = []
    for part in header.split(","):
        found = _TAG.fullmatch(part)
        if found is None:
            continue
        weak, quoted, bare = found.groups()
        tags.append((weak is not None, quoted if quoted is not None else bare))
    return tags


def _opaque(tag: str) -> str:
    return tag[1:-1]


def if_match(header: str, current: str) -> bool:
    """RFC 9110 If-Match: `*`, or a strong match with one of the listed tags."""
    if is_any(header):
        return True
    return any(not weak and opaque == _opaque(current) for weak, opaque in _tags(header))


def none_match_fails(header: str, current: str) -> bool:
    """RFC 9110 If-None-Match on a GET: True (answer 304) when `*` or any tag matches weakly."""
    if is_any(header):
        return True
    return any(opaque == _opaque(current) for _, opaque in _tags(header))
