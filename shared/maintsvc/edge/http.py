"""The HTTP edge shared by the API functions: auth, the error envelope, bodies, paging.

Handlers stay thin: `build_handler` wraps a powertools resolver so that
authentication runs first (before route look-up, 404s and body validation,
as docs/behaviour.md §1 requires) and every error leaves in one envelope.
"""

import base64
import binascii
import gzip
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from maintsvc.config import load_settings
from maintsvc.edge import apikeys, etags
from maintsvc.edge.payloads import MAX_PAYLOAD_BYTES, PLAIN_BODY_LIMIT
from maintsvc.errors import ApiError, NotFoundError, ValidationError
from maintsvc.numbers import MAX_ID_DIGITS
from maintsvc.observability import logger
from maintsvc.storage.store import ConditionFailed, Store, TransactionCancelled

MAX_BODY_BYTES = 1024 * 1024
JSON = "application/json"
CALENDAR = "text/calendar; charset=utf-8"
GZIP_MIN_BYTES = 1024
# Idempotency-Key is honoured on these (the API's POST and PATCH routes), ignored elsewhere.
IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})
# Paging values are clamped here: larger ones name an empty page anyway.
MAX_PAGE = 1_000_000_000
# The 400s for an answer larger than Lambda can return (docs/decisions.md, "Response sizes").
LISTING_TOO_LARGE = (
    "The listing is too large for one response: use the page and limit query parameters"
)
PAGE_TOO_LARGE = "The page is too large for one response: use a smaller limit"
ANSWER_TOO_LARGE = "The answer is too large for one response"
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


def envelope(status: int, code: str, message: str) -> Response[Any]:
    return json_response(status, {"error": {"code": code, "message": message}})


def _raw_envelope(status: int, code: str, message: str) -> dict[str, Any]:
    """The envelope as a finished HTTP API v2 response (for failures before routing)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def encode_json(body: Any) -> bytes:
    """Compact UTF-8 JSON; text that is not valid Unicode (lone surrogates) stays escaped."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode()


def json_response(
    status: int,
    body: Any,
    accept_gzip: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """A JSON response whose Lambda payload stays small whatever the body holds.

    The Lambda runtime serialises our result as ASCII JSON, so a body string
    returned as text grows again (every non-ASCII character becomes a \\u
    escape, every quote and backslash doubles). Large bodies therefore go
    back as base64 of their UTF-8 bytes (4/3 of their size, whatever the
    characters; API Gateway decodes it), and gzip is used whenever the
    client accepts it. See docs/decisions.md, "Response sizes".
    """
    return encoded_response(status, encode_json(body), JSON, accept_gzip, headers)


def encoded_response(
    status: int,
    data: bytes,
    content_type: str,
    accept_gzip: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """A response of these UTF-8 bytes: gzip when accepted, base64 past PLAIN_BODY_LIMIT,
    text otherwise (see json_response for why)."""
    extra: dict[str, str] = dict(headers or {})
    if accept_gzip and len(data) >= GZIP_MIN_BYTES:
        data = gzip.compress(data, compresslevel=6)
        extra["Content-Encoding"] = "gzip"
    elif len(data) <= PLAIN_BODY_LIMIT:
        return Response(
            status_code=status, content_type=content_type, body=data.decode(), headers=extra
        )
    response: Response[Any] = Response(
        status_code=status,
        content_type=content_type,
        body=base64.b64encode(data).decode(),
        headers=extra,
    )
    response.base64_encoded = True  # powertools would re-serialise a bytes JSON body
    return response


def payload_bytes(response: Response[Any]) -> int:
    """Roughly the size of this response in the payload the Lambda runtime returns."""
    body = response.body or ""
    return len(body) if response.base64_encoded else len(json.dumps(body))


def header(app: APIGatewayHttpResolver, name: str) -> str | None:
    """A request header by its lower-case name (API Gateway may send any case)."""
    headers = app.current_event.headers or {}
    return next((v for k, v in headers.items() if k.lower() == name), None)


def accepts_gzip(app: APIGatewayHttpResolver) -> bool:
    return "gzip" in (header(app, "accept-encoding") or "").lower()


def respond(
    app: APIGatewayHttpResolver,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    too_large: str = ANSWER_TOO_LARGE,
) -> Response[Any]:
    """The route's JSON answer, compressed when the client accepts gzip.

    An answer Lambda could not return (it would fail the invocation: a 5xx
    for the client) is a 400 with `too_large` instead, which tells the client
    what to ask for. Only pages and listings can grow that far; see
    docs/decisions.md, "Response sizes".
    """
    response = json_response(status, body, accepts_gzip(app), headers)
    if payload_bytes(response) > MAX_PAYLOAD_BYTES:
        raise ValidationError(too_large)
    return response


def respond_page(app: APIGatewayHttpResolver, body: Any) -> Response[Any]:
    """A paged answer (`page`, `limit`): a page too large for one response is a 400 naming
    `limit`, never a shorter page, whose items a client paging by its own limit would skip."""
    return respond(app, 200, body, too_large=PAGE_TOO_LARGE)


# -- ETags (docs/decisions.md, "ETags and If-Match") ------------------------------------------


def respond_tagged(
    app: APIGatewayHttpResolver, status: int, name: str, resource: dict[str, Any]
) -> Response[Any]:
    """`{name: resource}` with the resource's ETag."""
    return respond(app, status, {name: resource}, {"ETag": etags.etag(resource)})


def respond_unless_cached(
    app: APIGatewayHttpResolver, name: str, resource: dict[str, Any]
) -> Response[Any]:
    """A GET's answer: 304 without a body when If-None-Match names the current ETag."""
    tag = etags.etag(resource)
    condition = header(app, "if-none-match")
    if condition is not None and etags.none_match_fails(condition, tag):
        return Response(status_code=304, body="", headers={"ETag": tag})
    return respond(app, 200, {name: resource}, {"ETag": tag})


def respond_calendar(app: APIGatewayHttpResolver, text: str, too_large: str) -> Response[Any]:
    """An iCalendar answer (`text/calendar`), with ETag and If-None-Match as on the other
    GETs: the tag is over the calendar's bytes, and a match is a 304 without a body.

    Measured like every answer: one Lambda could not return is a 400 with
    `too_large` (docs/decisions.md, "The calendar feed").
    """
    data = text.encode()
    tag = etags.etag_of(data)
    condition = header(app, "if-none-match")
    if condition is not None and etags.none_match_fails(condition, tag):
        return Response(status_code=304, body="", headers={"ETag": tag})
    response = encoded_response(200, data, CALENDAR, accepts_gzip(app), {"ETag": tag})
    if payload_bytes(response) > MAX_PAYLOAD_BYTES:
        raise ValidationError(too_large)
    return response


def if_match(
    app: APIGatewayHttpResolver, present: Callable[[dict[str, Any]], dict[str, Any]]
) -> etags.Expectation | None:
    """What If-Match expects of the stored resource (None: no header, or `*`, which any
    existing resource matches, and a missing one is a 404 anyway).

    `present` turns the stored resource into what a GET shows, whose ETag the
    client holds.
    """
    condition = header(app, "if-match")
    if condition is None or etags.is_any(condition):
        return None
    return lambda resource: etags.if_match(condition, etags.etag(present(resource)))


def bounded_listing(app: APIGatewayHttpResolver, body: Any) -> Response[Any]:
    """An unpaged listing, or a 400 naming the paging parameters when it cannot fit."""
    return respond(app, 200, body, too_large=LISTING_TOO_LARGE)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def json_body(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The request body as a JSON object, or the contract's 400 (413 past 1 MiB)."""
    event = app.current_event
    raw = event.get("body") or ""
    data: bytes
    try:
        data = (
            base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
        )
    except (binascii.Error, ValueError):
        raise ValidationError("Invalid JSON body") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ValidationError("Invalid JSON body") from None
    if not isinstance(body, dict):
        raise ValidationError("Request body must be a JSON object")
    return body


def paging(query: dict[str, str] | None) -> tuple[int, int]:
    """page >= 1 (default 1) and limit in 1..100 (default 20); bad values count as missing."""
    query = query or {}

    def integer(name: str) -> int | None:
        raw = query.get(name, "")
        digits = raw[1:] if raw[:1] in "+-" else raw
        if not (digits.isdigit() and digits.isascii()):
            return None
        digits = digits.lstrip("0") or "0"
        if len(digits) > len(str(MAX_PAGE)):  # int() refuses thousands of digits
            return -MAX_PAGE if raw[:1] == "-" else MAX_PAGE
        return max(-MAX_PAGE, min(MAX_PAGE, int(raw)))

    page, limit = integer("page"), integer("limit")
    return max(1, page if page is not None else 1), min(
        100, max(1, limit if limit is not None else 20)
    )


def parse_id(raw: str) -> int | None:
    """A path id as a positive base-10 integer; None when it cannot name anything."""
    if not (raw.isdigit() and raw.isascii()) or len(raw) > MAX_ID_DIGITS or int(raw) <= 0:
        return None
    return int(raw)


def positive_id(raw: str, not_found: Callable[[str], NotFoundError]) -> int:
    """A path id, else the resource's 404 (Kener answers 500 for malformed ids)."""
    number = parse_id(raw)
    if number is None:
        raise not_found(raw)
    return number


def _register_envelopes(app: APIGatewayHttpResolver) -> None:
    """Every error a route raises leaves in the one envelope."""

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response[Any]:
        return envelope(exc.status, exc.code, exc.message)

    @app.exception_handler(ConditionFailed)
    def _lost_race(exc: ConditionFailed) -> Response[Any]:
        return envelope(409, "CONFLICT", "The resource changed during the request; retry it")

    @app.exception_handler(TransactionCancelled)
    def _lost_tx_race(exc: TransactionCancelled) -> Response[Any]:
        return envelope(409, "CONFLICT", "The resource changed during the request; retry it")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return envelope(500, "INTERNAL_ERROR", "Internal server error")

    @app.not_found
    def _no_route(exc: Exception) -> Response[Any]:
        return envelope(404, "NOT_FOUND", "Not found")


def route_key(event: Mapping[str, Any]) -> str:
    """The route API Gateway matched (`GET /api/v4/maintenances/calendar.ics`)."""
    return str(event.get("routeKey") or event.get("requestContext", {}).get("routeKey") or "")


def _query_token(event: Mapping[str, Any]) -> str | None:
    """`?token=`, the key a calendar app sends in the URL; empty counts as absent."""
    token = (event.get("queryStringParameters") or {}).get("token")
    return token or None


def _authenticated(
    table_name: str,
    headers: dict[str, str],
    method: str,
    cache_seconds: int,
    token: str | None = None,
) -> apikeys.ApiKey | dict[str, Any]:
    """The request's API key, or the finished 401/403/500 response.

    `token` (a route that takes `?token=`, when the query has one) is the
    credential instead of the header: it must be a read-only key.
    """
    try:
        if token is not None:
            return apikeys.authenticate_query_token(Store(table_name), token, cache_seconds)
        return apikeys.authenticate(
            Store(table_name), headers.get("authorization"), method, cache_seconds
        )
    except ApiError as exc:
        return _raw_envelope(exc.status, exc.code, exc.message)
    except Exception:
        logger.exception("authentication failed")
        return _raw_envelope(500, "INTERNAL_ERROR", "Internal server error")


def _log_write(method: str, event: dict[str, Any], result: dict[str, Any]) -> None:
    """Who changed what: the key's name (appended to every line, never the key) and outcome."""
    if method.upper() in apikeys.WRITE_METHODS:
        logger.info(
            "write",
            extra={
                "method": method,
                "path": event.get("rawPath"),
                "status": result.get("statusCode"),
            },
        )


def build_handler(
    app: APIGatewayHttpResolver,
    token_routes: Collection[str] = (),
    writes_nothing: Collection[str] = (),
) -> Handler:
    """Register the envelope handlers on `app` and return the Lambda entry point.

    `token_routes` (route keys, `GET /api/v4/...`) also take a read-only key
    as `?token=`, for clients that cannot send headers (calendar apps).
    `writes_nothing` are POST routes that store nothing (a preview), so an
    Idempotency-Key there is ignored: there is no effect to protect, and
    honouring it would write a record.
    """
    _register_envelopes(app)

    def _idempotent(
        table_name: str,
        api_key: apikeys.ApiKey,
        idempotency_key: str,
        event: dict[str, Any],
        context: LambdaContext,
    ) -> dict[str, Any]:
        """The route under an Idempotency-Key: run once, replayed on a retry."""
        from maintsvc.edge import idempotency  # only requests with the header pay for its import

        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        try:
            return idempotency.handle(
                table_name,
                api_key.digest,
                idempotency_key,
                event,
                headers,
                context,
                lambda: app.resolve(event, context),
            )
        except ApiError as exc:
            return _raw_envelope(exc.status, exc.code, exc.message)
        except Exception:
            logger.exception("idempotency failed")
            return _raw_envelope(500, "INTERNAL_ERROR", "Internal server error")

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        settings = load_settings()
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
        route = route_key(event)
        token = _query_token(event) if route in token_routes else None
        api_key = _authenticated(
            settings.table_name, headers, method, settings.api_key_cache_seconds, token
        )
        if not isinstance(api_key, apikeys.ApiKey):
            return api_key
        logger.append_keys(api_key_name=api_key.name)  # on every line this request logs
        try:
            idempotency_key = headers.get("idempotency-key")
            keyed = method.upper() in IDEMPOTENT_METHODS and route not in writes_nothing
            if idempotency_key is not None and keyed:
                result = _idempotent(settings.table_name, api_key, idempotency_key, event, context)
            else:
                result = app.resolve(event, context)
            _log_write(method, event, result)
            return result
        finally:
            logger.remove_keys(["api_key_name"])

    return handler
