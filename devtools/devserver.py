"""`make dev`: the whole service on one laptop, no Docker, no AWS account.

What runs here is the deployed code: the real Lambda handlers, invoked
in-process with genuine HTTP API payload-format 2.0 events and EventBridge
scheduled events, against a DynamoDB table created from template.yaml's own
definition. Only the AWS side is stood in for:

* DynamoDB (and EventBridge) is moto's server on loopback, so boto3 talks
  real HTTP to it. Its data lives in memory and is gone after a restart;
  set AWS_ENDPOINT_URL_DYNAMODB (e.g. DynamoDB Local) to keep data instead.
* API Gateway is a small HTTP server that matches routes the way HTTP APIs
  do (literal segments beat `{params}`, no route is a 404) and maps Lambda
  results back to HTTP the way payload format 2.0 prescribes.
* Lambda is one lock: like one execution environment, a function handles
  one request at a time, and each function sees its own environment
  variables from the template for the duration of its invocation.
* EventBridge Scheduler is a thread that invokes every Schedule function
  every DEV_TICK_SECONDS (60).

Environment: PORT (3000), TABLE_NAME (maintenance-windows-local),
DEV_API_KEY (a fixed `kener_...` key instead of a fresh one), MOTO_PORT
(free port), AWS_ENDPOINT_URL_DYNAMODB (external DynamoDB, no moto),
DEV_TICK_SECONDS (60). See docs/local.md.
"""

import argparse
import base64
import binascii
import importlib.util
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, cast
from urllib.parse import parse_qsl, unquote

import boto3
from moto.server import ThreadedMotoServer

from devtools import motofix
from devtools.template import (
    ACCOUNT_ID,
    DEFAULT_TEMPLATE,
    LOCAL_STACK_NAME,
    LOCAL_TABLE_NAME,
    FunctionSpec,
    HttpRoute,
    ScheduleSpec,
    TableSpec,
    TemplateError,
    load_template,
)
from maintsvc import apikeys
from maintsvc.store import Store, reset_clients

LOOPBACK = "127.0.0.1"
API_ID = "devserver"
DEV_KEY_NAME = "dev"
# HTTP APIs refuse larger request bodies with 413.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
NOT_FOUND = {"message": "Not Found"}
INTERNAL_ERROR = {"message": "Internal Server Error"}

Handler = Callable[[dict[str, Any], Any], Any]


class DevServerError(Exception):
    """Startup cannot go on (bad setting, busy port); the message says what to change."""


# -- DynamoDB -------------------------------------------------------------------------------


def ensure_table(table: TableSpec, name: str) -> bool:
    """Create table `name` as the template defines it; an existing table is kept as it is.

    Returns whether the table was created. TTL needs its own call once the
    table is ACTIVE (CreateTable does not take it).
    """
    client = boto3.client("dynamodb")
    try:
        client.create_table(TableName=name, **table.create_arguments)
    except client.exceptions.ResourceInUseException:
        return False
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    if table.ttl_attribute:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
        )
    return True


def _provision_api_key(store: Store, dev_api_key: str | None) -> str:
    if dev_api_key is None:
        return apikeys.create_api_key(store, time.strftime("dev-%Y%m%dT%H%M%SZ", time.gmtime()))
    if not apikeys.KEY_PATTERN.fullmatch(dev_api_key):
        raise DevServerError("DEV_API_KEY must be 'kener_' followed by 64 lower-case hex digits")
    apikeys.install_api_key(store, dev_api_key, DEV_KEY_NAME)
    return dev_api_key


def _set_env(resources: ExitStack, name: str, value: str) -> None:
    """Set an environment variable until `resources` closes (tests run several servers)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    resources.callback(_restore_env, name, previous)


def _restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


def _default_aws_environment(resources: ExitStack) -> str:
    """Region and dummy credentials where unset: local endpoints accept any. Returns the region."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    defaults = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name, value in defaults.items():
        if not os.environ.get(name):
            _set_env(resources, name, value)
    return region


def _check_port_free(port: int) -> None:
    """ThreadedMotoServer.start() waits for ever when its port is taken: fail first instead."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise DevServerError(f"MOTO_PORT {port} is not free: {exc}") from None


def _dynamodb_endpoint(resources: ExitStack, moto_port: int) -> tuple[str, bool]:
    """The DynamoDB endpoint to use and whether it is the embedded (in-memory) one.

    The endpoint variables are set before any boto3 client exists, so every
    client (ours and the handlers') goes to the same place.
    """
    external = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if external:
        return external, False
    if moto_port:
        _check_port_free(moto_port)
    # werkzeug would log every DynamoDB call of every request to stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    motofix.install()
    moto = ThreadedMotoServer(ip_address=LOOPBACK, port=moto_port, verbose=False)
    moto.start()
    resources.callback(moto.stop)
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _set_env(resources, "AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    _set_env(resources, "AWS_ENDPOINT_URL_EVENTS", endpoint)
    return endpoint, True


# -- Lambda ----------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The context object the Python runtime passes to a handler."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"
    identity: None = None
    client_context: None = None

    @classmethod
    def for_function(cls, function: FunctionSpec, region: str) -> "LambdaContext":
        name = function.logical_id
        return cls(
            function_name=name,
            memory_limit_in_mb=function.memory_size,
            invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime())
            + secrets.token_hex(16),
            deadline=time.monotonic() + function.timeout,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@contextmanager
def _function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """A function's template variables for the length of one invocation.

    AWS_ENDPOINT_URL_* stay as the dev server set them: a template may
    declare them (empty, for `sam local --env-vars` to fill in), and an
    empty value must not send a handler from the local DynamoDB to AWS.
    """
    with ExitStack() as resources:
        for name, value in variables.items():
            if not name.startswith("AWS_ENDPOINT_URL"):
                _set_env(resources, name, value)
        yield


class LocalLambda:
    """Loads and invokes handlers in this process, one invocation at a time.

    A handler is imported on its first invocation, as a cold start does, so
    one function that does not import yet breaks only its own routes. Every
    function's module is `app.py`, so each is loaded by file path under its
    own module name, with its code directory on sys.path while it imports.
    """

    def __init__(self, region: str) -> None:
        self._region = region
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any:
        with self._lock, _function_environment(function.environment):
            handler = self._handlers.get(function.logical_id) or self._load(function)
            context = LambdaContext.for_function(function, self._region)
            try:
                return handler(event, context)
            finally:
                if context.get_remaining_time_in_millis() == 0:
                    print(
                        f"devserver: {function.logical_id} ran past its {function.timeout} s "
                        "Timeout; deployed, Lambda would have stopped it",
                        file=sys.stderr,
                    )

    def _load(self, function: FunctionSpec) -> Handler:
        for layer in function.layer_dirs:
            if str(layer) not in sys.path:
                sys.path.append(str(layer))
        module_name = f"devserver_function_{function.logical_id}"
        spec = importlib.util.spec_from_file_location(module_name, function.module_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {function.module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(function.code_dir))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        finally:
            sys.path.remove(str(function.code_dir))
        handler = cast(Handler, getattr(module, function.handler_name))
        self._handlers[function.logical_id] = handler
        return handler


# -- API Gateway -----------------------------------------------------------------------------


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


class Gateway:
    """The HTTP API: route, build the event, invoke, map the result back."""

    def __init__(self, routes: Sequence[HttpRoute], lambdas: LocalLambda) -> None:
        self.routes = list(routes)
        self.lambdas = lambdas

    def handle(
        self,
        *,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
        server_port: int,
        protocol: str,
    ) -> HttpResponse:
        request_id = _request_id()
        response = self._dispatch(
            method, target, headers, body, source_ip, server_port, protocol, request_id
        )
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _dispatch(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
        server_port: int,
        protocol: str,
        request_id: str,
    ) -> HttpResponse:
        match = match_route(self.routes, method, target.partition("?")[0])
        if match is None:
            return json_response(404, NOT_FOUND)
        event = build_http_event(
            method=method,
            target=target,
            headers=headers,
            body=body,
            match=match,
            source_ip=source_ip,
            server_port=server_port,
            protocol=protocol,
            request_id=request_id,
        )
        function = match.route.function
        try:
            return http_response_from_lambda(self.lambdas.invoke(function, event))
        except Exception:
            print(
                f"devserver: {function.logical_id} failed on {match.route.route_key} "
                f"(request {request_id}):\n{traceback.format_exc()}",
                file=sys.stderr,
                end="",
            )
            return json_response(500, INTERNAL_ERROR)


class _GatewayHTTPServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 60

    def _forward(self) -> None:
        try:
            body = self._read_body()
        except _BadRequestBody as exc:
            self._write(exc.response)
            return
        server = cast(_GatewayHTTPServer, self.server)
        response = server.gateway.handle(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=server.server_address[1],
            protocol=self.request_version,
        )
        self._write(response)

    # Every method reaches the router: one no route serves is a 404, as at API Gateway.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward
    do_TRACE = do_QUERY = _forward

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        raw_length = self.headers.get("content-length") or "0"
        if not raw_length.isdigit():
            raise _BadRequestBody(json_response(400, {"message": "Bad Request"}))
        length = int(raw_length)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            raise _BadRequestBody(json_response(413, {"message": "Request Entity Too Large"}))
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while True:
            size_line = self.rfile.readline().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                raise _BadRequestBody(json_response(400, {"message": "Bad Request"})) from None
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return b"".join(chunks)
            received += size
            if received > MAX_REQUEST_BYTES:
                self.close_connection = True
                raise _BadRequestBody(json_response(413, {"message": "Request Entity Too Large"}))
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class _BadRequestBody(Exception):
    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


# -- EventBridge schedules -------------------------------------------------------------------


def scheduled_event(
    schedule: ScheduleSpec, region: str, now: float | None = None
) -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers to its target."""
    moment = time.gmtime(time.time() if now is None else now)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{schedule.rule_name}"],
        "detail": {},
    }


class Ticker:
    """Invokes every Schedule function at start and then every `interval` seconds.

    The template's rates are not parsed: the service's only schedule is
    rate(1 minute), and DEV_TICK_SECONDS speeds it up for tests and demos.
    A failing tick is logged and the next one runs as usual, as with
    EventBridge (the rule has no retries).
    """

    def __init__(
        self,
        schedules: Sequence[ScheduleSpec],
        lambdas: LocalLambda,
        interval: float,
        region: str,
    ) -> None:
        self._schedules = list(schedules)
        self._lambdas = lambdas
        self._interval = interval
        self._region = region
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devserver-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            for schedule in self._schedules:
                try:
                    self._lambdas.invoke(schedule.function, scheduled_event(schedule, self._region))
                except Exception:
                    print(
                        f"devserver: {schedule.function.logical_id} tick failed:\n"
                        f"{traceback.format_exc()}",
                        file=sys.stderr,
                        end="",
                    )
            self._stopping.wait(self._interval)


# -- the server ------------------------------------------------------------------------------


class DevServer:
    """A running local stack; `shutdown()` stops everything `serve` started and set."""

    def __init__(
        self, *, port: int, table_name: str, endpoint: str, api_key: str, resources: ExitStack
    ) -> None:
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.table_name = table_name
        self.endpoint = endpoint
        self.api_key = api_key
        self._resources = resources

    def shutdown(self) -> None:
        self._resources.close()


def serve(
    *,
    port: int = 3000,
    table_name: str = LOCAL_TABLE_NAME,
    dev_api_key: str | None = None,
    tick_seconds: float = 60.0,
    moto_port: int = 0,
    template_path: Path = DEFAULT_TEMPLATE,
    out: TextIO | None = None,
) -> DevServer:
    """Start the stack in background threads and return once it accepts requests.

    port 0 picks a free port (tests). The banner goes to `out` (stdout) and
    ends with the `API key: ...` line, flushed, so a script can wait for it.
    Whatever fails half-way is undone: the moto server stopped, the
    environment restored.
    """
    out = out or sys.stdout
    with ExitStack() as resources:
        resources.callback(reset_clients)  # clients must not outlive their endpoint
        region = _default_aws_environment(resources)
        endpoint, embedded = _dynamodb_endpoint(resources, moto_port)
        reset_clients()
        template = load_template(template_path, table_name, region)
        created = ensure_table(template.table, table_name)
        api_key = _provision_api_key(Store(table_name), dev_api_key)

        lambdas = LocalLambda(region)
        try:
            httpd = _GatewayHTTPServer((LOOPBACK, port), Gateway(template.routes, lambdas))
        except OSError as exc:
            raise DevServerError(f"cannot listen on {LOOPBACK}:{port}: {exc}") from None
        resources.callback(httpd.server_close)
        bound_port = httpd.server_address[1]
        storage = (
            "embedded moto server: data lives in memory and is lost when the server stops"
            if embedded
            else "external: data lives as long as that DynamoDB keeps it"
        )
        banner = [
            f"{LOCAL_STACK_NAME} on http://{LOOPBACK}:{bound_port}",
            f"  table:       {table_name} ({'created' if created else 'existing, kept'})",
            f"  DynamoDB:    {endpoint} ({storage})",
            f"  EventBridge: {os.environ.get('AWS_ENDPOINT_URL_EVENTS', 'AWS (not redirected)')}",
            "  routes:",
            *(f"    {r.route_key:<62} {r.function.logical_id}" for r in template.routes),
            f"  schedules (every {tick_seconds:g} s, first now):",
            *(f"    {s.expression:<62} {s.function.logical_id}" for s in template.schedules),
            "  Send the key as 'Authorization: Bearer <key>'. Stop with Ctrl-C.",
            f"API key: {api_key}",
        ]
        print("\n".join(banner), file=out, flush=True)

        http_thread = threading.Thread(
            target=httpd.serve_forever, name="devserver-http", daemon=True
        )
        http_thread.start()
        resources.callback(http_thread.join)
        resources.callback(httpd.shutdown)
        if template.schedules:
            ticker = Ticker(template.schedules, lambdas, tick_seconds, region)
            ticker.start()
            resources.callback(ticker.stop)
        return DevServer(
            port=bound_port,
            table_name=table_name,
            endpoint=endpoint,
            api_key=api_key,
            resources=resources.pop_all(),
        )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise DevServerError(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


def _create_table_only(template_path: Path, table_name: str) -> int:
    """Create the table in an external DynamoDB (the sam-local recipe) and stop."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if not endpoint:
        print(
            "devserver: --create-table-only needs AWS_ENDPOINT_URL_DYNAMODB (e.g. "
            "http://localhost:8000 for DynamoDB Local)",
            file=sys.stderr,
        )
        return 2
    with ExitStack() as resources:
        region = _default_aws_environment(resources)
        template = load_template(template_path, table_name, region)
        created = ensure_table(template.table, table_name)
    print(f"table {table_name} {'created' if created else 'already exists'} at {endpoint}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.devserver",
        description="Run the service locally (see docs/local.md).",
    )
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--create-table-only",
        action="store_true",
        help="create the table at AWS_ENDPOINT_URL_DYNAMODB and exit",
    )
    args = parser.parse_args(argv)
    table_name = os.environ.get("TABLE_NAME") or LOCAL_TABLE_NAME
    if args.create_table_only:
        try:
            return _create_table_only(args.template, table_name)
        except TemplateError as exc:
            print(f"devserver: {exc}", file=sys.stderr)
            return 1
    # Installed before serve(): a SIGTERM right after the key line, or during start-up,
    # unwinds like Ctrl-C instead of killing the process with moto and threads running.
    signal.signal(signal.SIGTERM, _interrupt)
    server: DevServer | None = None
    try:
        server = serve(
            port=_int_env("PORT", 3000),
            table_name=table_name,
            dev_api_key=os.environ.get("DEV_API_KEY") or None,
            tick_seconds=float(_int_env("DEV_TICK_SECONDS", 60)),
            moto_port=_int_env("MOTO_PORT", 0),
            template_path=args.template,
        )
        while True:
            # Short sleeps: the kernel may deliver a signal to any of our threads, and
            # Python raises it in the main thread only once that thread runs again.
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (DevServerError, TemplateError) as exc:
        print(f"devserver: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.shutdown()
    print("devserver: stopped", file=sys.stderr)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
