"""Shared fixtures: a moto table built from template.yaml and an HTTP API v2 caller."""

import base64
import gzip
import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TABLE = "maintenance-windows-test"
NOW = 1_900_000_000 - 1_900_000_000 % 3600  # a whole hour in 2030, far from any DST edge

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "TABLE_NAME": TABLE,
        "POWERTOOLS_METRICS_NAMESPACE": "MaintenanceWindowsTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for endpoint in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_EVENTS", "AWS_ENDPOINT_URL"):
    os.environ.pop(endpoint, None)

from devtools import motofix  # noqa: E402  (after the environment: moto reads it on import)

motofix.install()


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short tags as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def table_definition() -> dict[str, Any]:
    props = template()["Resources"]["Table"]["Properties"]
    stream = {"StreamEnabled": True, **props["StreamSpecification"]}
    return {
        "StreamSpecification": stream,
        "TableName": TABLE,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "LocalSecondaryIndexes": props.get("LocalSecondaryIndexes", []),
        "GlobalSecondaryIndexes": props.get("GlobalSecondaryIndexes", []),
    }


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    from maintsvc import apikeys, store

    with mock_aws():
        store.reset_clients()
        apikeys.clear_cache()
        import boto3

        boto3.client("dynamodb").create_table(**table_definition())
        yield
    store.reset_clients()
    apikeys.clear_cache()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Set "now" (the service reads the system clock through time.time); starts at NOW."""

    def set_now(value: int) -> None:
        monkeypatch.setattr(time, "time", lambda: float(value))

    set_now(NOW)
    return set_now


@pytest.fixture
def atomic_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise AWS calls: each DynamoDB request is atomic, moto's in-process backend is not.

    Threads still interleave between requests, which is where real races happen.
    """
    import threading

    from botocore.client import BaseClient

    lock = threading.Lock()
    real = BaseClient._make_api_call

    def locked(self: BaseClient, operation: str, params: Any) -> Any:
        with lock:
            return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", locked)


@pytest.fixture
def store(aws: None) -> Any:
    from maintsvc.store import Store

    return Store(TABLE)


@pytest.fixture
def settings() -> Any:
    from maintsvc.config import load_settings

    return load_settings()


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name, as Lambda would load it."""
    module_name = f"function_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class LambdaContext:
    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def http_event(
    method: str,
    path: str,
    route: str,
    path_params: dict[str, str] | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """A payload-format 2.0 event as API Gateway HTTP API sends it."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if text is not None:
        event["body"] = text
    return event


def template_routes() -> list[tuple[str, str, str]]:
    """(function folder, method, route) of every HttpApi event in template.yaml.

    Literal segments first, as API Gateway prefers them over {params}.
    """
    routes = []
    for resource in template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = resource["Properties"]["CodeUri"].strip("/").split("/")[-1]
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                routes.append((folder, props["Method"].upper(), props["Path"]))
    return sorted(routes, key=lambda r: [s.startswith("{") for s in r[2].split("/")])


ROUTES = template_routes()


def match_route(method: str, path: str) -> tuple[str, str, dict[str, str]]:
    parts = path.strip("/").split("/")
    for function, route_method, route in ROUTES:
        pattern = route.strip("/").split("/")
        if route_method != method or len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            return function, route, params
    raise AssertionError(f"no route for {method} {path}")


class Response:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.status: int = raw["statusCode"]
        body = raw.get("body") or ""
        if raw.get("isBase64Encoded"):
            data = base64.b64decode(body)
            if (raw.get("headers") or {}).get("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            body = data.decode()
        self.text: str = body
        self.json: Any = json.loads(body) if body else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:200]}>"


Caller = Callable[..., Response]


@pytest.fixture
def write_key(store: Any) -> str:
    from maintsvc.apikeys import create_api_key

    return create_api_key(store, "writer")


@pytest.fixture
def read_key(store: Any) -> str:
    from maintsvc.apikeys import create_api_key

    return create_api_key(store, "reader", read_only=True)


@pytest.fixture
def call(write_key: str) -> Caller:
    """call(method, path, body=..., query=..., key=..., headers=..., raw_body=...) -> Response."""

    def _call(
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        key: str | None = write_key,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
        base64_body: bool = False,
    ) -> Response:
        function, route, params = match_route(method, path)
        all_headers = dict(headers or {})
        if key is not None and "authorization" not in all_headers:
            all_headers["authorization"] = f"Bearer {key}"
        event = http_event(method, path, route, params, body, query, all_headers, raw_body)
        event["isBase64Encoded"] = base64_body
        return Response(load_function(function).lambda_handler(event, LambdaContext()))

    return _call


def valid_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Nightly Deploy",
        "start_date_time": 1_900_000_000 - 1_900_000_000 % 60,
        "rrule": "FREQ=DAILY;COUNT=1",
        "duration_seconds": 1800,
    }
    body.update(overrides)
    return body
