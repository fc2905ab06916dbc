"""Helpers of the dev server's tests: an environment without endpoints, HTTP, a fake stack."""

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.devserver import DevServer, serve
from maintsvc.edge import apikeys
from maintsvc.storage import store

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials, no endpoint: the server under test picks its own DynamoDB."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    store.reset_clients()
    apikeys.clear_cache()
    yield
    store.reset_clients()
    apikeys.clear_cache()


def call(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def unique_table() -> str:
    return f"devserver-test-{uuid.uuid4().hex[:8]}"


FAKE_TEMPLATE = """
Parameters:
  Greeting: {Type: String, Default: hello}
Globals:
  Function:
    Timeout: 5
    MemorySize: 256
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        GREETING: !Ref Greeting
        OUT_DIR: "%(out)s"
        AWS_ENDPOINT_URL_DYNAMODB: ""
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.handler
      Environment:
        Variables:
          FLAG: true
      Events:
        Echo: {Type: HttpApi, Properties: {Path: "/echo/{id}", Method: ANY}}
        Boom: {Type: HttpApi, Properties: {Path: /boom, Method: GET}}
        Plain: {Type: HttpApi, Properties: {Path: /plain, Method: GET}}
  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tick/
      Handler: app.handler
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: slow/
      Handler: app.handler
      Timeout: 60
      Events:
        Slow: {Type: HttpApi, Properties: {Path: "/slow/{seconds}", Method: GET}}
"""

ECHO_APP = """
import json
import os

NAMES = ("TABLE_NAME", "GREETING", "FLAG", "AWS_ENDPOINT_URL_DYNAMODB")


def handler(event, context):
    if event["rawPath"] == "/boom":
        raise RuntimeError("boom")
    if event["rawPath"] == "/plain":
        return "just text"
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "cookies": ["seen=1"],
        "body": json.dumps({
            "event": event,
            "env": {k: os.environ.get(k) for k in NAMES},
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "remaining": context.get_remaining_time_in_millis(),
                "arn": context.invoked_function_arn,
            },
        }),
    }
"""

TICK_APP = """
import json
import os
from pathlib import Path


def handler(event, context):
    with (Path(os.environ["OUT_DIR"]) / "ticks.jsonl").open("a") as out:
        out.write(json.dumps(event) + "\\n")
    if os.environ.get("FLAG") is not None:
        raise AssertionError("another function's variable leaked in")
"""


SLOW_APP = """
import time


def handler(event, context):
    time.sleep(float(event["pathParameters"]["seconds"]))
    return {"statusCode": 200, "body": "slept"}
"""


def write_fake_stack(directory: Path) -> None:
    """A template and stand-in functions: an echo, a tick recorder and a sleeper."""
    (directory / "template.yaml").write_text(FAKE_TEMPLATE % {"out": directory})
    for name, source in (("echo", ECHO_APP), ("tick", TICK_APP), ("slow", SLOW_APP)):
        (directory / name).mkdir()
        (directory / name / "app.py").write_text(source)


@pytest.fixture
def fake_stack(
    tmp_path: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[DevServer, Path]]:
    write_fake_stack(tmp_path)
    server = serve(
        port=0,
        table_name=unique_table(),
        template_path=tmp_path / "template.yaml",
        tick_seconds=0.2,
    )
    try:
        yield server, tmp_path
    finally:
        server.shutdown()
