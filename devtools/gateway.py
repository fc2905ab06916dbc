"""API Gateway HTTP API, as the local stack needs it: routes, events, responses.

One module for everything that stands between an HTTP request and a Lambda
handler, used by the dev server (over real HTTP), by the tests and by
`make bench` (in-process, no socket):

* route matching as HTTP APIs do it: literal segments beat `{params}`, an
  exact method beats ANY, a route beats `$default`, and a request no route
  serves is a 404 that never reaches a function;
* the payload-format 2.0 event API Gateway sends (`build_http_event`);
* the mapping of a handler's result back to HTTP (`http_response_from_lambda`);
* `Gateway`, which does the three for one request against an invoker.
"""

import base64
import binascii
import json
import secrets
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode

from devtools.template import ACCOUNT_ID, FunctionSpec, HttpRoute

API_ID = "devserver"
NOT_FOUND = {"message": "Not Found"}
INTERNAL_ERROR = {"message": "Internal Server Error"}


class Invoker(Protocol):
    """What runs a function for the gateway (devtools.lambdas.LocalLambda)."""

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRoute
    path_parameters: dict[str, str]


def _segment_rank(segment: str) -> int:
    """2 literal, 1 `{param}`, 0 greedy `{param+}`: the more literal, the more specific."""
    if segment.startswith("{") and segment.endswith("+}"):
        return 0
    return 1 if segment.startswith("{") and segment.endswith("}") else 2


def _match_path(route: HttpRoute, segments: Sequence[str]) -> dict[str, str] | None:
    if route.path is None:
        return {}
    parameters: dict[str, str] = {}
    for index, pattern in enumerate(route.segments):
        rank = _segment_rank(pattern)
        if rank == 0:
            rest = "/".join(segments[index:])
            if not rest:
                return None
            parameters[pattern[1:-2]] = unquote(rest)
            return parameters
        if index >= len(segments):
            return None
        if rank == 1:
            if not segments[index]:
                return None
            parameters[pattern[1:-1]] = unquote(segments[index])
        elif pattern != segments[index]:
            return None
    return parameters if len(route.segments) == len(segments) else None


def _specificity(route: HttpRoute) -> tuple[bool, int, tuple[int, ...], bool]:
    """Higher wins: a real route over `$default`, more literal segments, literal earlier
    in the path, and an exact method over ANY."""
    ranks = tuple(_segment_rank(segment) for segment in route.segments)
    return (route.path is not None, ranks.count(2), ranks, route.method != "ANY")


def match_route(routes: Sequence[HttpRoute], method: str, path: str) -> RouteMatch | None:
    """The route an HTTP API would pick for `method path`, or None (its 404)."""
    segments = path.split("/")[1:]
    best: RouteMatch | None = None
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        parameters = _match_path(route, segments)
        if parameters is None:
            continue
        if best is None or _specificity(route) > _specificity(best.route):
            best = RouteMatch(route, parameters)
    return best


def _request_id() -> str:
    """API Gateway's request id shape: 16 base64 characters, e.g. `JKJaXmPLvHcESHA=`."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def build_http_event(
    *,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    match: RouteMatch,
    source_ip: str,
    server_port: int,
    protocol: str = "HTTP/1.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The payload-format 2.0 event API Gateway would send for this request."""
    raw_path, _, raw_query = target.partition("?")
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            merged[key] = f"{merged[key]},{value}" if key in merged else value
    forwarded = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    merged["x-forwarded-port"] = str(server_port)
    merged["x-forwarded-proto"] = "http"
    merged["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = time.time()
    domain = merged.get("host", "localhost").rsplit(":", 1)[0]
    request_id = request_id or _request_id()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": match.route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = match.path_parameters
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(
        status, [("content-type", "application/json")], json.dumps(payload).encode()
    )


class MalformedLambdaResponse(Exception):
    """The handler returned something API Gateway would answer with a 500."""


def http_response_from_lambda(result: Any) -> HttpResponse:
    """Map a handler's return value to HTTP as payload format 2.0 does.

    A dict with statusCode is a structured response; anything else (a
    string, a dict without statusCode, a list...) is a 200 JSON response
    whose body is the string itself or the value serialised as JSON.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode())
    try:
        status = int(result["statusCode"])
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((str(name), str(value)) for value in values)
        headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
        body = result.get("body") or ""
        if not isinstance(body, str):
            raise TypeError(f"body is a {type(body).__name__}, not a string")
        data = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else None
    except (TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise MalformedLambdaResponse(str(exc)) from exc
    return HttpResponse(status, headers, body.encode() if data is None else data)


@dataclass(frozen=True)
class Request:
    """One HTTP request as the gateway sees it; `target` is the path and query string."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    server_port: int = 443
    protocol: str = "HTTP/1.1"


def target(path: str, query: Mapping[str, str] | None = None) -> str:
    """`path?query` with the query percent-encoded, as a client puts it on the request line."""
    return f"{path}?{urlencode(query, quote_via=quote)}" if query else path


class Gateway:
    """The HTTP API: route, build the event, invoke, map the result back."""

    def __init__(self, routes: Sequence[HttpRoute], invoker: Invoker) -> None:
        self.routes = list(routes)
        self.invoker = invoker

    def event(
        self, request: Request, request_id: str | None = None
    ) -> tuple[RouteMatch, dict[str, Any]] | None:
        """The route and the event API Gateway would send for `request`; None is its 404."""
        match = match_route(self.routes, request.method, request.target.partition("?")[0])
        if match is None:
            return None
        return match, build_http_event(
            method=request.method,
            target=request.target,
            headers=request.headers,
            body=request.body,
            match=match,
            source_ip=request.source_ip,
            server_port=request.server_port,
            protocol=request.protocol,
            request_id=request_id,
        )

    def handle(self, request: Request) -> HttpResponse:
        request_id = _request_id()
        response = self._dispatch(request, request_id)
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _dispatch(self, request: Request, request_id: str) -> HttpResponse:
        routed = self.event(request, request_id)
        if routed is None:
            return json_response(404, NOT_FOUND)
        match, event = routed
        function = match.route.function
        try:
            return http_response_from_lambda(self.invoker.invoke(function, event))
        except Exception:
            print(
                f"devserver: {function.logical_id} failed on {match.route.route_key} "
                f"(request {request_id}):\n{traceback.format_exc()}",
                file=sys.stderr,
                end="",
            )
            return json_response(500, INTERNAL_ERROR)
