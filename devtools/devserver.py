"""`make dev`: the whole service on one laptop, no Docker, no AWS account.

What runs here is the deployed code: the real Lambda handlers, invoked
in-process with genuine HTTP API payload-format 2.0 events, EventBridge
scheduled events and DynamoDB stream batches, against a DynamoDB table
created from template.yaml's own definition. This module puts the pieces
together; each stand-in lives in its own module:

* DynamoDB, its stream and EventBridge: moto's server on loopback, one
  request at a time (devtools.localaws), so boto3 talks real HTTP to it. Set
  AWS_ENDPOINT_URL_DYNAMODB (e.g. DynamoDB Local) to use another DynamoDB.
* API Gateway: the route matching, events and response mapping of
  devtools.gateway, behind the small HTTP server here.
* Lambda: devtools.lambdas; requests run concurrently, each function
  execution environment one request at a time.
* EventBridge Scheduler and the stream's event source mapping:
  devtools.triggers (every Schedule function every DEV_TICK_SECONDS; the
  template's DynamoDB events from the table's stream).
* Data that survives a restart: devtools.persistence, under .local-data/.

Environment: PORT (3000), TABLE_NAME (maintenance-windows-local),
DEV_API_KEY (a fixed `kener_...` key instead of a fresh one), MOTO_PORT
(free port), AWS_ENDPOINT_URL_DYNAMODB (external DynamoDB, no moto),
DEV_TICK_SECONDS (60), DEV_DATA_DIR (.local-data/devserver), PUBLIC_SITE_URL
(http://localhost:3000; empty: none). See docs/local.md.
"""

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TextIO, cast

from devtools.gateway import Gateway, HttpResponse, Request, json_response
from devtools.lambdas import LocalLambda, default_aws_environment, set_variables
from devtools.localaws import LOOPBACK, EmbeddedMoto, ensure_table, load_items
from devtools.persistence import DEFAULT_DATA_DIR, SAVE_SECONDS, SavedTable
from devtools.priority import Priority, install_hook
from devtools.template import (
    DEFAULT_TEMPLATE,
    LOCAL_STACK_NAME,
    LOCAL_TABLE_NAME,
    StreamSpec,
    Template,
    TemplateError,
    load_template,
)
from devtools.triggers import (
    EventSourceMapping,
    QueuePoller,
    StreamReader,
    Subscriber,
    Ticker,
    stop_workers,
)
from maintsvc.edge import apikeys
from maintsvc.storage.store import Store, reset_clients

DEV_KEY_NAME = "dev"
# PUBLIC_SITE_URL of the API functions unless the environment sets it (even empty): where
# Kener serves by default, so `url` fields show up locally as they do beside Kener.
DEFAULT_PUBLIC_SITE_URL = "http://localhost:3000"
# The template parameter the API functions' PUBLIC_SITE_URL comes from.
PUBLIC_SITE_URL_PARAMETER = "PublicSiteUrl"
# HTTP APIs refuse larger request bodies with 413.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# How often the HTTP server checks whether it was asked to stop.
POLL_SECONDS = 0.1
# A stop takes well under a second; one still going after this long is cut short.
STOP_DEADLINE_SECONDS = 10.0
# Requests that write nothing: never held back for the stream's consumers.
READ_METHODS = ("GET", "HEAD", "OPTIONS")
# Stream views whose records carry the written item, which saving needs.
NEW_IMAGE_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


class DevServerError(Exception):
    """Startup cannot go on (bad setting, busy port); the message says what to change."""


# -- the AWS side -----------------------------------------------------------------------------


def _provision_api_key(store: Store, dev_api_key: str | None) -> str:
    """DEV_API_KEY stored as key `dev`, or a fresh key named after the start time.

    With saved data, the keys of earlier starts are still there (and still
    work): two starts within a second get names apart by a suffix.
    """
    if dev_api_key is None:
        name = time.strftime("dev-%Y%m%dT%H%M%SZ", time.gmtime())
        for suffix in ("", *(f"-{n}" for n in range(2, 10))):
            try:
                return apikeys.create_api_key(store, name + suffix)
            except apikeys.DuplicateKeyName:
                continue
        raise DevServerError(f"API keys {name} to {name}-9 exist already; set DEV_API_KEY")
    if not apikeys.KEY_PATTERN.fullmatch(dev_api_key):
        raise DevServerError("DEV_API_KEY must be 'kener_' followed by 64 lower-case hex digits")
    apikeys.install_api_key(store, dev_api_key, DEV_KEY_NAME)
    return dev_api_key


def _check_port_free(port: int) -> None:
    """moto's server waits for ever when its port is taken: fail first instead."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise DevServerError(f"MOTO_PORT {port} is not free: {exc}") from None


def _embedded_moto(resources: ExitStack, moto_port: int) -> EmbeddedMoto | None:
    """The embedded moto server, started, or None when AWS_ENDPOINT_URL_DYNAMODB names another.

    The endpoint variables are set before any boto3 client exists, so every
    client (ours and the handlers') goes to the same place. botocore names
    them after the service id: EventBridge, not `events`.
    """
    if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        return None
    if moto_port:
        _check_port_free(moto_port)
    # werkzeug would log every DynamoDB call of every request to stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto = EmbeddedMoto(moto_port)
    endpoint = moto.start()
    resources.callback(moto.stop)
    services = ("DYNAMODB", "DYNAMODB_STREAMS", "EVENTBRIDGE", "SQS")
    set_variables(resources, {f"AWS_ENDPOINT_URL_{service}": endpoint for service in services})
    return moto


def _saved_data(
    moto: EmbeddedMoto, template: Template, data_dir: Path | None, reset: bool
) -> tuple[SavedTable | None, str]:
    """The saved items loaded into the embedded table; (what keeps them saved, a note).

    None when nothing is kept (`data_dir` None).
    """
    if data_dir is None:
        return None, "in memory only: gone when the server stops"
    view = template.table.create_arguments.get("StreamSpecification", {}).get("StreamViewType")
    if view not in NEW_IMAGE_VIEWS:
        raise DevServerError(
            "keeping data needs the table's stream with new images (StreamViewType "
            f"NEW_AND_OLD_IMAGES or NEW_IMAGE); the template has {view}: run with --in-memory"
        )
    key_schema = template.table.create_arguments["KeySchema"]
    names = tuple(k["AttributeName"] for k in sorted(key_schema, key=lambda k: k["KeyType"]))
    saved = SavedTable(data_dir, template.table_name, names)
    if reset:
        saved.reset()
    try:
        with moto.lock:
            table = moto.table(template.table_name, template.region)
            loaded = load_items(table, saved.read())
    except (OSError, ValueError, KeyError) as exc:
        raise DevServerError(
            f"cannot read {saved.path} ({exc}); start empty with --reset (make dev-reset)"
        ) from None
    return saved, f"{saved.path} ({loaded} items loaded, saved as they change)"


def _consume_stream(
    resources: ExitStack,
    moto: EmbeddedMoto,
    template: Template,
    lambdas: LocalLambda,
    saved: SavedTable | None,
    save_seconds: float,
    priority: Priority,
) -> list[StreamReader | EventSourceMapping]:
    """Read the table's stream for the saved data and the template's DynamoDB events.

    Saved data goes last: stopping reads the stream once more, then saves. Returns
    the workers started, for the caller to stop.
    """
    table_name, region = template.table_name, template.region
    with moto.lock:
        table = moto.table(table_name, region)
        stream_arn = f"{table.table_arn}/stream/{table.latest_stream_label}"
    mappings = [
        EventSourceMapping(spec, lambdas, stream_arn, priority=priority)
        for spec in template.streams
        if spec.on_table
    ]
    subscribers: list[Subscriber] = [mapping.offer for mapping in mappings]
    if saved is not None:
        subscribers.append(saved.apply)
        resources.callback(saved.save)
        for mapping in mappings:
            try:
                mapping.resume(saved.take_pending(mapping.name))
            except (OSError, ValueError) as exc:
                raise DevServerError(
                    f"cannot read what {mapping.name} had pending ({exc}); start empty "
                    "with --reset (make dev-reset)"
                ) from None
            # After the last read, once the mapping stopped: what it had not delivered.
            resources.callback(_keep_pending, saved, mapping)
        saved.start_autosave(save_seconds, lambda: priority.wait_turn("save"))
        resources.callback(saved.stop_autosave)
    reader = StreamReader(moto, table_name, region, subscribers, priority=priority)
    resources.callback(reader.read_once)
    reader.start()
    for mapping in mappings:
        priority.watch(mapping.backlog)
        mapping.start()
    return [reader, *mappings]


def _keep_pending(saved: SavedTable, mapping: EventSourceMapping) -> None:
    saved.save_pending(mapping.name, mapping.pending())


# -- API Gateway over HTTP --------------------------------------------------------------------


class _GatewayHTTPServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], gateway: Gateway, priority: Priority) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway
        self.priority = priority


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
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=server.server_address[1],
            protocol=self.request_version,
        )
        # The background waits meanwhile; a write first waits for a consumer far behind.
        with server.priority.serving(writes=self.command not in READ_METHODS):
            response = server.gateway.handle(request)
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


def _stream_line(spec: StreamSpec) -> str:
    filters = len(spec.filters)
    text = (
        f"{spec.event_name} (batch {spec.batch_size}, window "
        f"{spec.batching_window_seconds:g} s, {filters} filter{'s' * (filters != 1)})"
        if spec.on_table
        else f"{spec.event_name} (another table's stream: not run)"
    )
    return f"    {text:<62} {spec.function.logical_id}"


def _banner(
    template: Template,
    url: str,
    api_key: str,
    details: dict[str, str],
    tick_seconds: float,
    stream_read: bool,
) -> str:
    lines = [
        f"{LOCAL_STACK_NAME} on {url}",
        *(f"  {name + ':':<13}{value}" for name, value in details.items()),
        "  routes:",
        *(f"    {r.route_key:<62} {r.function.logical_id}" for r in template.routes),
        f"  schedules (every {tick_seconds:g} s, first now):",
        *(f"    {s.expression:<62} {s.function.logical_id}" for s in template.schedules),
        "  table stream:" if stream_read else "  table stream (not read: external DynamoDB):",
        *(_stream_line(spec) for spec in template.streams),
        "  Send the key as 'Authorization: Bearer <key>'. Stop with Ctrl-C.",
        f"API key: {api_key}",
    ]
    return "\n".join(lines)


def _poll_queues(template: Template, lambdas: LocalLambda) -> list[QueuePoller]:
    """Create the template's queues in moto (dead-letter queues first) and poll the ones
    a function reads, as Lambda's SQS event source does.

    Not background work (devtools.priority): the transition worker applies status
    changes at their due second, with a few small calls, and must not wait for a
    quiet moment between requests.
    """
    import boto3

    sqs = boto3.client("sqs")
    for queue in sorted(template.queues, key=lambda q: q.dead_letter_queue is not None):
        sqs.create_queue(QueueName=queue.logical_id, Attributes=queue.attributes)  # type: ignore[arg-type]
    urls = {queue.logical_id: queue.url for queue in template.queues}
    pollers = []
    for source in template.queue_sources:
        poller = QueuePoller(source, urls[source.queue], lambdas, template.region)
        poller.start()
        pollers.append(poller)
    return pollers


def serve(
    *,
    port: int = 3000,
    table_name: str = LOCAL_TABLE_NAME,
    dev_api_key: str | None = None,
    tick_seconds: float = 60.0,
    moto_port: int = 0,
    template_path: Path = DEFAULT_TEMPLATE,
    data_dir: Path | None = None,
    reset_data: bool = False,
    save_seconds: float = SAVE_SECONDS,
    public_site_url: str = DEFAULT_PUBLIC_SITE_URL,
    out: TextIO | None = None,
) -> DevServer:
    """Start the stack in background threads and return once it accepts requests.

    port 0 picks a free port (tests). `data_dir` keeps the embedded table's
    items there across restarts, saved every `save_seconds` and at shutdown
    (None: in memory only); `reset_data` starts it empty. `public_site_url`
    is the template's PublicSiteUrl (the API functions' PUBLIC_SITE_URL; ""
    leaves the `url` fields out). The banner goes to `out` (stdout) and ends
    with the `API key: ...` line, flushed, so a script can wait for it.
    Whatever fails half-way is undone: moto stopped, the environment restored.
    """
    with ExitStack() as resources:
        resources.callback(reset_clients)  # clients must not outlive their endpoint
        install_hook()  # before any client exists: they copy their session's hooks
        region = default_aws_environment(resources)
        moto = _embedded_moto(resources, moto_port)
        reset_clients()
        parameters = {PUBLIC_SITE_URL_PARAMETER: public_site_url}
        template = load_template(template_path, table_name, region, parameters)
        created = ensure_table(template.table, table_name)
        details = {"table": f"{table_name} ({'created' if created else 'existing, kept'})"}
        details["Kener site"] = (
            f"{public_site_url} (PUBLIC_SITE_URL: the API's url fields point there)"
            if public_site_url
            else "none (PUBLIC_SITE_URL is empty: no url fields)"
        )
        saved: SavedTable | None = None
        if moto is not None:
            saved, details["data"] = _saved_data(moto, template, data_dir, reset_data)
        api_key = _provision_api_key(Store(table_name), dev_api_key)
        lambdas = LocalLambda(template.functions.values(), region)
        resources.callback(lambdas.close)
        priority = Priority()
        workers: list[StreamReader | EventSourceMapping | QueuePoller | Ticker] = []
        resources.callback(stop_workers, workers)  # should start-up fail half-way
        if moto is not None:
            workers += _consume_stream(
                resources, moto, template, lambdas, saved, save_seconds, priority
            )
            workers += _poll_queues(template, lambdas)
        endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        details["DynamoDB"] = endpoint if moto else f"{endpoint} (external)"
        details["EventBridge"] = os.environ.get("AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS")
        bound_port = _serve_http(resources, Gateway(template.routes, lambdas), port, priority)
        if template.schedules:
            ticker = Ticker(template.schedules, lambdas, tick_seconds, region, priority)
            ticker.start()
            workers.append(ticker)
        # What a stop does first: the background's calls end, so nothing competes with the
        # last stream read and save, and nothing calls moto once it stops; then every
        # worker is asked to stop at once.
        resources.callback(stop_workers, workers)
        resources.callback(priority.close)
        url = f"http://{LOOPBACK}:{bound_port}"
        print(
            _banner(template, url, api_key, details, tick_seconds, moto is not None),
            file=out or sys.stdout,
            flush=True,
        )
        return DevServer(
            port=bound_port,
            table_name=table_name,
            endpoint=endpoint,
            api_key=api_key,
            resources=resources.pop_all(),
        )


def _serve_http(resources: ExitStack, gateway: Gateway, port: int, priority: Priority) -> int:
    """The HTTP API on loopback, in a daemon thread; the port it listens on."""
    try:
        httpd = _GatewayHTTPServer((LOOPBACK, port), gateway, priority)
    except OSError as exc:
        raise DevServerError(f"cannot listen on {LOOPBACK}:{port}: {exc}") from None
    resources.callback(httpd.server_close)
    thread = threading.Thread(
        target=httpd.serve_forever, args=(POLL_SECONDS,), name="devserver-http", daemon=True
    )
    thread.start()
    resources.callback(thread.join)
    resources.callback(httpd.shutdown)
    return int(httpd.server_address[1])


def public_site_url(environ: Mapping[str, str]) -> str:
    """PUBLIC_SITE_URL as set (an empty value too: no `url` fields), else the local default."""
    value = environ.get("PUBLIC_SITE_URL")
    return DEFAULT_PUBLIC_SITE_URL if value is None else value.strip()


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
        region = default_aws_environment(resources)
        template = load_template(template_path, table_name, region)
        created = ensure_table(template.table, table_name)
    print(f"table {table_name} {'created' if created else 'already exists'} at {endpoint}")
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
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
    data = parser.add_mutually_exclusive_group()
    data.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("DEV_DATA_DIR") or DEFAULT_DATA_DIR),
        help="keep the local table's items here across restarts "
        "(default: DEV_DATA_DIR or .local-data/devserver)",
    )
    data.add_argument(
        "--in-memory", action="store_true", help="keep nothing: start empty, forget on stop"
    )
    parser.add_argument(
        "--reset", action="store_true", help="start with an empty table (make dev-reset)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    table_name = os.environ.get("TABLE_NAME") or LOCAL_TABLE_NAME
    if args.create_table_only:
        try:
            return _create_table_only(args.template, table_name)
        except TemplateError as exc:
            print(f"devserver: {exc}", file=sys.stderr)
            return 1
    # Installed before serve(): a SIGTERM right after the key line, or during start-up,
    # unwinds like Ctrl-C instead of killing the process with moto and threads running.
    signals = _StopSignals()
    server: DevServer | None = None
    try:
        server = serve(
            port=_int_env("PORT", 3000),
            table_name=table_name,
            dev_api_key=os.environ.get("DEV_API_KEY") or None,
            tick_seconds=float(_int_env("DEV_TICK_SECONDS", 60)),
            moto_port=_int_env("MOTO_PORT", 0),
            template_path=args.template,
            data_dir=None if args.in_memory else args.data_dir,
            reset_data=args.reset,
            public_site_url=public_site_url(os.environ),
        )
        while True:
            # Short sleeps: the kernel may deliver a signal to any of our threads, and
            # Python raises it in the main thread only once that thread runs again.
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    except (DevServerError, TemplateError) as exc:
        print(f"devserver: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.shutdown()
        signals.done()
    print("devserver: stopped", file=sys.stderr)
    return 0


class _StopSignals:
    """SIGINT and SIGTERM stop the server: the first one only.

    The first raises KeyboardInterrupt in the main thread, which unwinds into
    the shutdown; every later one is ignored. Ctrl-C under `make dev` signals
    the whole process group, and make, on SIGTERM, sends its child another
    SIGTERM of its own: that second signal used to land in the middle of the
    shutdown, raise there, skip the "stopped" line and the quick exit, and
    leave the interpreter's teardown waiting many seconds for the worker
    threads of a function cut off from moto. If a stop ever hangs, a watchdog
    ends the process STOP_DEADLINE_SECONDS after the first signal, saying so.
    """

    def __init__(self) -> None:
        self._received = False
        self._watchdog: threading.Timer | None = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._received:
            return  # stopping already
        self._received = True
        self._watchdog = threading.Timer(STOP_DEADLINE_SECONDS, _give_up)
        self._watchdog.daemon = True
        self._watchdog.start()
        raise KeyboardInterrupt

    def done(self) -> None:
        """The stop finished (or start-up failed): the watchdog is not needed."""
        if self._watchdog is not None:
            self._watchdog.cancel()


def _give_up() -> None:
    print(
        f"devserver: still stopping after {STOP_DEADLINE_SECONDS:g} s; exiting now "
        "(changes since the last save may be lost)",
        file=sys.stderr,
        flush=True,
    )
    os._exit(1)


def _run_as_script() -> int:
    """main(), and a bug's traceback rather than the interpreter's slow way out."""
    try:
        return main()
    except SystemExit as exc:  # argparse: --help, a bad flag (it printed why)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    status = _run_as_script()
    # Everything is stopped and saved. Skip the interpreter's teardown: freeing a
    # large table object by object took seconds, threads of a function abandoned
    # mid-invocation would be waited for, and Ctrl-C must stop within 2 s.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
