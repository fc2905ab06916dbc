"""Safe retries: the Idempotency-Key header on POST and PATCH (docs/decisions.md, "Safe retries").

Imported only by a request that carries the header, so no other request's
cold start pays for powertools' idempotency utility. Powertools does the
work: a conditional PutItem claims the key (INPROGRESS), the route runs,
an UpdateItem stores its response (COMPLETED) for 24 hours; a duplicate's
failed PutItem returns the stored record (ReturnValuesOnConditionCheckFailure),
so a replay costs one round trip and writes nothing.

Records live in the service's table, one partition per API key:
PK `IDEM#<SHA-256 of the API key>` (keys.idempotency_pk), SK `IDEM#<SHA-256 of
the Idempotency-Key>`, TTL on `expires_at` like every expiring item. The
fingerprint compared on a retry covers the method, the path, If-Match and
the body as a JSON value.

What is replayed: the first response that completed, whatever its status,
except a 5xx or a 409 (a lost race): those wrote nothing the client could
not redo, so the record is dropped and a retry runs afresh.
"""

import base64
import binascii
import contextlib
import gzip
import hashlib
import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.edge.payloads import PLAIN_BODY_LIMIT
from maintsvc.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    ValidationError,
)
from maintsvc.observability import logger
from maintsvc.storage import keys
from maintsvc.storage.store import dynamodb_client

EXPIRES_AFTER_SECONDS = 24 * 3600
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
REPLAYED_HEADER = "Idempotent-Replayed"
LambdaResult = dict[str, Any]
Execute = Callable[[], LambdaResult]


class _NotStored(Exception):
    """Carries a response that must not be replayed out of powertools, which then drops the
    record (it deletes the INPROGRESS record of a function that raised)."""

    def __init__(self, response: LambdaResult) -> None:
        super().__init__(response.get("statusCode"))
        self.response = response


def _replayable(response: LambdaResult) -> bool:
    status = int(response.get("statusCode", 500))
    return status < 500 and status != 409


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    """powertools' response hook: a replayed response says so (as Stripe's do)."""
    headers = {**(response.get("headers") or {}), REPLAYED_HEADER: "true"}
    return {**response, "headers": headers}


def _execute(request: dict[str, Any], run: Execute, outcome: dict[str, Any]) -> LambdaResult:
    """The idempotent unit: `request` (key and fingerprint) is what powertools hashes."""
    response = run()
    outcome["response"] = response
    if not _replayable(response):
        raise _NotStored(response)
    return response


# The partition of the request being handled: its API key's (a context variable, so the
# dev server's threads, one per function, never see each other's).
_partition: ContextVar[str] = ContextVar("idempotency_partition")


class _PerApiKeyPersistence(DynamoDBPersistenceLayer):
    """Records partitioned per API key: `static_pk_value` (the PK powertools writes when a
    sort key is configured) is the calling API key's, not one constant for every record."""

    @property
    def static_pk_value(self) -> str:
        return _partition.get()

    @static_pk_value.setter
    def static_pk_value(self, value: str) -> None:
        """The constructor's default partition is never used."""


@cache
def _persistence(table_name: str, client: Any) -> _PerApiKeyPersistence:
    """One persistence layer per warm process and client: it registers a hook on the client
    it is given, so a layer per request would pile them up."""
    return _PerApiKeyPersistence(
        table_name=table_name,
        key_attr="PK",
        sort_key_attr="SK",
        expiry_attr="expires_at",
        in_progress_expiry_attr="in_progress_expires_at_ms",
        status_attr="status",
        data_attr="response",
        validation_key_attr="fingerprint",
        boto3_client=client,
    )


def _idempotent_run(persistence: _PerApiKeyPersistence, context: LambdaContext) -> Any:
    """`_execute` under powertools' idempotency, with this invocation's Lambda context
    (how long a claim may stay INPROGRESS) in a configuration of its own."""
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="fingerprint",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        hash_function="sha256",
        response_hook=_mark_replay,
        lambda_context=context,
    )
    return idempotent_function(
        _execute,
        data_keyword_argument="request",
        persistence_store=persistence,
        config=config,
        key_prefix=keys.IDEMPOTENCY,
    )


def body_digest(event: dict[str, Any]) -> str:
    """SHA-256 of the body as a JSON value (key order and spacing do not matter), or of its
    bytes when it is not JSON."""
    raw = event.get("body") or ""
    data = raw.encode()
    if event.get("isBase64Encoded"):
        with contextlib.suppress(binascii.Error, ValueError):
            data = base64.b64decode(raw, validate=True)  # undecodable: fingerprinted as sent
    try:
        canonical = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = b"raw:" + data
    return hashlib.sha256(canonical).hexdigest()


def _identity_coded(response: LambdaResult) -> LambdaResult:
    """A stored gzip response for a retry that does not accept gzip."""
    data = gzip.decompress(base64.b64decode(response["body"]))
    headers = {
        k: v for k, v in (response.get("headers") or {}).items() if k.lower() != "content-encoding"
    }
    plain = len(data) <= PLAIN_BODY_LIMIT
    return {
        **response,
        "headers": headers,
        "body": data.decode() if plain else base64.b64encode(data).decode(),
        "isBase64Encoded": not plain,
    }


def handle(
    table_name: str,
    api_key_digest: str,
    idempotency_key: str,
    event: dict[str, Any],
    headers: dict[str, str],
    context: LambdaContext,
    run: Execute,
) -> LambdaResult:
    """Run the request once per (API key, Idempotency-Key); a retry gets the first response.

    Raises ValidationError (a malformed key), IdempotencyKeyReusedError (another
    request under this key, 422) or IdempotencyInProgressError (409).
    """
    key = idempotency_key.strip()
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationError("Idempotency-Key must be 1 to 255 printable ASCII characters")
    idempotent_run = _idempotent_run(_persistence(table_name, dynamodb_client()), context)
    http = event.get("requestContext", {}).get("http", {})
    request = {
        "key": key,
        "fingerprint": {
            "method": str(http.get("method", "")).upper(),
            "path": event.get("rawPath") or http.get("path"),
            "if_match": headers.get("if-match"),
            "body": body_digest(event),
        },
    }
    outcome: dict[str, Any] = {}
    partition = _partition.set(keys.idempotency_pk(api_key_digest))
    try:
        response: LambdaResult = idempotent_run(request=request, run=run, outcome=outcome)
    except _NotStored as exc:
        return exc.response
    except IdempotencyValidationError:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used with a different request"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyInProgressError(
            "A request with this Idempotency-Key is still in progress; retry it later"
        ) from None
    except IdempotencyPersistenceLayerError:
        if "response" not in outcome:
            raise
        # The request ran (and may have written): answer it. Its record stays INPROGRESS
        # until the Lambda time it was given runs out; a retry after that runs afresh.
        logger.exception("idempotency record not updated after the request ran")
        stored: LambdaResult = outcome["response"]
        return stored
    finally:
        _partition.reset(partition)
    replayed = (response.get("headers") or {}).get(REPLAYED_HEADER) == "true"
    encoding = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if (
        replayed
        and encoding.get("content-encoding") == "gzip"
        and "gzip" not in headers.get("accept-encoding", "").lower()
    ):
        return _identity_coded(response)
    return response
