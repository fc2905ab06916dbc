"""The local stack: template reading, API Gateway emulation, and the server over real HTTP."""

import base64
import http.client
import json
import os
import re
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from devtools import devserver
from devtools.childstack import start_child_stack
from devtools.devserver import DevServer, serve
from devtools.gateway import (
    HttpResponse,
    MalformedLambdaResponse,
    RouteMatch,
    build_http_event,
    http_response_from_lambda,
    match_route,
)
from devtools.localaws import ensure_table
from devtools.template import (
    DEFAULT_TEMPLATE,
    FunctionSpec,
    HttpRoute,
    TemplateError,
    load_template,
    read_yaml,
)
from maintsvc.edge import apikeys
from maintsvc.storage import keys, store
from maintsvc.storage.store import Store
from tests.devtools.conftest import OPENER, call, unique_table, write_fake_stack

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"kener_[0-9a-f]{64}")


# -- template.yaml ----------------------------------------------------------------------------


def test_every_http_api_event_of_the_template_is_a_route_to_its_handler() -> None:
    raw = read_yaml(DEFAULT_TEMPLATE)["Resources"]
    expected = {
        (str(event["Properties"]["Method"]).upper(), event["Properties"]["Path"], logical_id)
        for logical_id, resource in raw.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi"
    }
    routes = load_template().routes
    assert {(r.method, r.path, r.function.logical_id) for r in routes} == expected
    assert {
        ("GET", "/api/v4/maintenances"),
        ("POST", "/api/v4/maintenances"),
        ("GET", "/api/v4/maintenances/{maintenance_id}"),
        ("PATCH", "/api/v4/maintenances/{maintenance_id}"),
        ("DELETE", "/api/v4/maintenances/{maintenance_id}"),
    } <= {(r.method, r.path) for r in routes if r.function.logical_id == "MaintenancesFunction"}
    for route in routes:
        handler = raw[route.function.logical_id]["Properties"]["Handler"]
        module, function = handler.rsplit(".", 1)
        code_uri = raw[route.function.logical_id]["Properties"]["CodeUri"]
        assert route.function.module_file == ROOT / code_uri / f"{module}.py"
        assert route.function.module_file.is_file()
        assert route.function.handler_name == function
        assert route.function.layer_dirs == (ROOT / "shared",)


def test_template_values_are_resolved_for_local_use() -> None:
    template = load_template(table_name="local-table", region="eu-west-1")
    maintenances = template.functions["MaintenancesFunction"]
    assert maintenances.environment["TABLE_NAME"] == "local-table"
    assert maintenances.environment["EVENT_HORIZON_DAYS"] == "30"
    assert maintenances.environment["API_KEY_CACHE_SECONDS"] == "30"
    assert all(isinstance(value, str) for value in maintenances.environment.values())
    assert maintenances.timeout == 29 and maintenances.memory_size == 512
    table = template.table.create_arguments
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [
        "GSI1",
        "GSI2",
        "GSI3",
        "GSI4",
    ]
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["LSI1"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert "PointInTimeRecoverySpecification" not in table
    assert "DeletionProtectionEnabled" not in table
    assert template.table.ttl_attribute == "expires_at"
    raw = read_yaml(DEFAULT_TEMPLATE)["Resources"]
    assert {s.function.logical_id for s in template.schedules} == {
        logical_id
        for logical_id, resource in raw.items()
        if any(
            event["Type"] == "Schedule"
            for event in (resource.get("Properties") or {}).get("Events", {}).values()
        )
    }


def test_conditions_parameters_and_globals(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        textwrap.dedent(
            """
            Parameters:
              Mode: {Type: String, Default: "on"}
              Size: {Type: Number, Default: 7}
            Conditions:
              IsOn: !Equals [!Ref Mode, "on"]
              IsBig: !Not [!Equals [!Ref Size, 7]]
            Globals:
              Function:
                Timeout: 10
                Environment:
                  Variables:
                    TABLE: !Ref Things
                    SHARED: global
                    OVERRIDDEN: global
            Resources:
              Things:
                Type: AWS::DynamoDB::Table
                Properties:
                  AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
                  KeySchema: [{AttributeName: PK, KeyType: HASH}]
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: fn/
                  Handler: app.handler
                  Timeout: 3
                  Environment:
                    Variables:
                      OVERRIDDEN: !If [IsOn, !Sub "${Mode}-${AWS::Region}", "off"]
                      BIG: !If [IsBig, "yes", !Ref AWS::NoValue]
                      FLAG: true
                      ARN: !GetAtt Things.Arn
            """
        )
    )
    template = load_template(path, table_name="tbl", region="eu-west-1")
    function = template.functions["Fn"]
    assert function.environment == {
        "TABLE": "tbl",
        "SHARED": "global",
        "OVERRIDDEN": "on-eu-west-1",
        "FLAG": "true",
        "ARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/tbl",
    }
    assert function.timeout == 3
    assert function.layer_dirs == ()
    assert template.table.ttl_attribute is None
    assert template.routes == [] and template.schedules == []


# -- API Gateway route matching ---------------------------------------------------------------

_FN = FunctionSpec("Fn", Path("."), "app.handler", 3, 128, {}, ())


def routes(*specs: str) -> list[HttpRoute]:
    """`"GET /a/{b}"` specs as routes; `"$default"` is the catch-all."""
    built = []
    for spec in specs:
        if spec == "$default":
            built.append(HttpRoute("ANY", None, _FN, spec))
        else:
            method, path = spec.split(" ")
            built.append(HttpRoute(method, path, _FN, spec))
    return built


def matched(table: list[HttpRoute], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = match_route(table, method, path)
    return None if found is None else (found.route.route_key, found.path_parameters)


@pytest.mark.parametrize("reverse", [False, True])
def test_literal_segments_beat_parameters(reverse: bool) -> None:
    table = routes("GET /m/{id}", "GET /m/events", "GET /m/{id}/events/{eid}", "GET /{x}/events")
    table = table[::-1] if reverse else table
    assert matched(table, "GET", "/m/events") == ("GET /m/events", {})
    assert matched(table, "GET", "/m/7") == ("GET /m/{id}", {"id": "7"})
    assert matched(table, "GET", "/m/7/events/9") == (
        "GET /m/{id}/events/{eid}",
        {"id": "7", "eid": "9"},
    )
    assert matched(table, "GET", "/q/events") == ("GET /{x}/events", {"x": "q"})


def test_unknown_paths_and_methods_match_nothing() -> None:
    table = routes("GET /m", "GET /m/{id}", "POST /m")
    assert matched(table, "GET", "/nope") is None
    assert matched(table, "GET", "/m/1/2") is None
    assert matched(table, "GET", "/m/") is None
    assert matched(table, "PUT", "/m") is None
    assert matched(table, "DELETE", "/m/1") is None


def test_any_greedy_default_and_decoding() -> None:
    table = routes("ANY /files/{path+}", "GET /files/{name}", "ANY /m", "GET /m", "$default")
    assert matched(table, "GET", "/files/a%20b") == ("GET /files/{name}", {"name": "a b"})
    assert matched(table, "GET", "/files/a/b") == ("ANY /files/{path+}", {"path": "a/b"})
    assert matched(table, "GET", "/m") == ("GET /m", {})
    assert matched(table, "DELETE", "/m") == ("ANY /m", {})
    assert matched(table, "POST", "/elsewhere") == ("$default", {})


def test_real_template_routes() -> None:
    table = load_template().routes
    found = match_route(table, "GET", "/api/v4/maintenances/events")
    assert found is not None and found.route.function.logical_id == "EventsFunction"
    found = match_route(table, "GET", "/api/v4/maintenances/42")
    assert found is not None and found.route.function.logical_id == "MaintenancesFunction"
    assert found.path_parameters == {"maintenance_id": "42"}
    assert match_route(table, "PUT", "/api/v4/maintenances") is None
    assert match_route(table, "GET", "/api/v3/maintenances") is None


# -- the event and the response mapping -------------------------------------------------------


def test_http_event_is_payload_format_2() -> None:
    match = RouteMatch(routes("POST /m/{id}")[0], {"id": "5"})
    event = build_http_event(
        method="POST",
        target="/m/5?a=1&a=2&b=&c=x%20y",
        headers=[
            ("Host", "127.0.0.1:3000"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "s=1; t=2"),
            ("User-Agent", "tests"),
        ],
        body=b'{"k": "v"}',
        match=match,
        source_ip="127.0.0.9",
        server_port=3000,
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /m/{id}"
    assert event["rawPath"] == "/m/5"
    assert event["rawQueryString"] == "a=1&a=2&b=&c=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "", "c": "x y"}
    assert event["pathParameters"] == {"id": "5"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.9"
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/m/5",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.9",
        "userAgent": "tests",
    }
    assert context["stage"] == "$default" and context["domainName"] == "127.0.0.1"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert abs(context["timeEpoch"] - time.time() * 1000) < 5000
    assert {"accountId", "apiId", "requestId"} <= set(context)


def test_http_event_leaves_out_what_the_request_lacks_and_encodes_binary() -> None:
    match = RouteMatch(routes("GET /m")[0], {})
    bare = build_http_event(
        method="GET", target="/m", headers=[], body=b"", match=match, source_ip="1.2.3.4",
        server_port=1,
    )  # fmt: skip
    assert not {"cookies", "queryStringParameters", "pathParameters", "body"} & set(bare)
    binary = build_http_event(
        method="GET", target="/m", headers=[], body=b"\xff\x00", match=match,
        source_ip="1.2.3.4", server_port=1,
    )  # fmt: skip
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00"


def test_lambda_results_map_to_http_like_payload_format_2() -> None:
    structured = http_response_from_lambda(
        {
            "statusCode": 201,
            "headers": {"content-type": "text/plain"},
            "multiValueHeaders": {"x-many": ["1", "2"]},
            "cookies": ["a=1"],
            "body": base64.b64encode(b"\x01\x02").decode(),
            "isBase64Encoded": True,
        }
    )
    assert structured == HttpResponse(
        201,
        [("content-type", "text/plain"), ("x-many", "1"), ("x-many", "2"), ("set-cookie", "a=1")],
        b"\x01\x02",
    )
    json_type = [("content-type", "application/json")]
    assert http_response_from_lambda("hi") == HttpResponse(200, json_type, b"hi")
    assert http_response_from_lambda({"a": 1}) == HttpResponse(200, json_type, b'{"a": 1}')
    assert http_response_from_lambda({"statusCode": 204}) == HttpResponse(204, [], b"")
    with pytest.raises(MalformedLambdaResponse):
        http_response_from_lambda({"statusCode": "teapot"})
    with pytest.raises(MalformedLambdaResponse):
        http_response_from_lambda({"statusCode": 200, "body": {"not": "a string"}})


# -- the server over HTTP, with stand-in functions --------------------------------------------


def test_server_invokes_handlers_with_real_events(fake_stack: tuple[DevServer, Path]) -> None:
    server, _ = fake_stack
    status, headers, body = call(
        f"{server.url}/echo/a%20b?x=1&x=2", "POST", {"k": 1}, {"Cookie": "c=3"}
    )
    assert status == 200
    assert headers["set-cookie"] == "seen=1" and "apigw-requestid" in headers
    seen = json.loads(body)
    event = seen["event"]
    assert event["routeKey"] == "ANY /echo/{id}"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert json.loads(event["body"]) == {"k": 1}
    assert event["cookies"] == ["c=3"]
    assert event["requestContext"]["http"]["method"] == "POST"
    assert seen["env"] == {
        "TABLE_NAME": server.table_name,
        "GREETING": "hello",
        "FLAG": "true",
        # declared empty for sam local; the dev server's own endpoint wins
        "AWS_ENDPOINT_URL_DYNAMODB": server.endpoint,
    }
    assert seen["context"]["function_name"] == "EchoFunction"
    assert seen["context"]["memory_limit_in_mb"] == 256
    assert 0 < seen["context"]["remaining"] <= 5000
    assert "FLAG" not in os.environ  # a function's variables last only for its invocation


def test_server_maps_failures_and_misses_like_api_gateway(
    fake_stack: tuple[DevServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = fake_stack
    status, _, body = call(f"{server.url}/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert "RuntimeError: boom" in capsys.readouterr().err
    status, headers, body = call(f"{server.url}/plain")
    assert (status, headers["content-type"], body) == (200, "application/json", b"just text")
    status, _, body = call(f"{server.url}/nowhere")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    status, _, body = call(f"{server.url}/boom", "POST")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    for method in ("TRACE", "QUERY"):  # methods http.server would answer 501
        status, _, body = call(f"{server.url}/boom", method)
        assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_chunked_bodies_are_read_and_oversized_ones_refused(
    fake_stack: tuple[DevServer, Path],
) -> None:
    server, _ = fake_stack
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/echo/1", body=iter([b'{"a":', b" 1}"]), encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(json.loads(response.read())["event"]["body"]) == {"a": 1}
        connection.putrequest("POST", "/echo/1")
        connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (
            413,
            {"message": "Request Entity Too Large"},
        )
    finally:
        connection.close()


def test_schedule_functions_get_scheduled_events(fake_stack: tuple[DevServer, Path]) -> None:
    _, out = fake_stack
    ticks = out / "ticks.jsonl"

    def recorded() -> list[dict[str, Any]]:
        lines = ticks.read_text().splitlines() if ticks.exists() else []
        return [json.loads(line) for line in lines]

    deadline = time.monotonic() + 10
    while len(recorded()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = recorded()
    assert len(events) >= 2
    assert events[0]["detail-type"] == "Scheduled Event"
    assert events[0]["source"] == "aws.events"
    assert events[0]["detail"] == {}
    assert events[0]["resources"][0].endswith(":rule/maintenance-windows-local-TickFunctionTick")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", events[0]["time"])


def test_shutdown_stops_everything_and_restores_the_environment(
    tmp_path: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_fake_stack(tmp_path)
    server = serve(port=0, table_name=unique_table(), template_path=tmp_path / "template.yaml")
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == server.endpoint
    assert capsys.readouterr().out.splitlines()[-1] == f"API key: {server.api_key}"
    server.shutdown()
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
    assert "AWS_ENDPOINT_URL_EVENTBRIDGE" not in os.environ
    with pytest.raises(urllib.error.URLError):
        OPENER.open(server.url, timeout=5)
    with pytest.raises(urllib.error.URLError):
        OPENER.open(server.endpoint, timeout=5)


# -- the server with the real functions -------------------------------------------------------


@pytest.fixture
def real_stack(aws_env: None, capsys: pytest.CaptureFixture[str]) -> Iterator[DevServer]:
    server = serve(port=0, table_name=unique_table(), tick_seconds=3600)
    try:
        yield server
    finally:
        server.shutdown()


def test_maintenance_api_end_to_end(
    real_stack: DevServer, capsys: pytest.CaptureFixture[str]
) -> None:
    banner = capsys.readouterr().out
    assert "  Kener site:  http://localhost:3000 (PUBLIC_SITE_URL" in banner
    url = f"{real_stack.url}/api/v4/maintenances"
    status, _, body = call(url)
    assert status == 401, body
    assert json.loads(body)["error"]["code"] == "UNAUTHORIZED"
    assert set(json.loads(body)["error"]) == {"code", "message"}

    # A key made the way maintctl makes them, against the server's own DynamoDB.
    key = apikeys.create_api_key(Store(real_stack.table_name), "test")
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    maintenance = {
        "title": "t",
        "start_date_time": int(time.time()) + 3600,
        "rrule": "FREQ=DAILY;COUNT=1",
        "duration_seconds": 600,
    }
    status, _, body = call(url, "POST", maintenance, auth)
    assert status == 201, body
    created = json.loads(body)["maintenance"]
    # Without PUBLIC_SITE_URL, links point where a local Kener serves, as they would beside one.
    assert created["url"] == f"http://localhost:3000/maintenances/{created['id']}?type=maintenance"
    status, _, body = call(f"{url}/{created['id']}", headers=auth)
    assert status == 200, body
    assert json.loads(body) == {"maintenance": created}

    printed = {"Authorization": f"Bearer {real_stack.api_key}"}
    status, _, body = call(url, headers=printed)
    assert status == 200, body


def test_dev_api_key_is_stored_and_replaces_the_previous_one(aws_env: None) -> None:
    first, second = "kener_" + "a" * 64, "kener_" + "b" * 64
    with mock_aws():
        store.reset_clients()
        ensure_table(load_template().table, "keys-table")
        table = Store("keys-table")
        apikeys.install_api_key(table, first, "dev")
        apikeys.install_api_key(table, first, "dev")  # a restart with the same key
        assert apikeys.authenticate(table, f"Bearer {first}", "POST", 0).name == "dev"
        apikeys.install_api_key(table, second, "dev")
        assert apikeys.authenticate(table, f"Bearer {second}", "POST", 0).scope == "write"
        with pytest.raises(apikeys.UnauthorizedError):
            apikeys.authenticate(table, f"Bearer {first}", "GET", 0)
        assert [(k.name, k.status) for k in apikeys.list_api_keys(table)] == [("dev", "ACTIVE")]
        old = table.get(keys.api_key_key(apikeys.digest(first)))
        assert old is not None and old["status"] == "INACTIVE"
    store.reset_clients()


def test_parameter_overrides_are_checked_as_cloudformation_checks_them() -> None:
    functions = load_template(parameters={"LogLevel": "DEBUG", "Unknown": "x"}).functions
    assert functions["IndexerFunction"].environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert (
        load_template().functions["IndexerFunction"].environment["POWERTOOLS_LOG_LEVEL"] == "INFO"
    )
    with pytest.raises(TemplateError, match="LogLevel: 'LOUD' is not one of"):
        load_template(parameters={"LogLevel": "LOUD"})


def test_public_site_url_is_the_local_kener_unless_the_environment_sets_it_even_empty() -> None:
    assert devserver.public_site_url({}) == devserver.DEFAULT_PUBLIC_SITE_URL
    assert devserver.DEFAULT_PUBLIC_SITE_URL == "http://localhost:3000"
    site = "https://status.example.com"
    assert devserver.public_site_url({"PUBLIC_SITE_URL": f" {site} "}) == site
    assert devserver.public_site_url({"PUBLIC_SITE_URL": ""}) == ""


@pytest.mark.parametrize(
    ("site", "expected"),
    [("https://status.example.com/", "https://status.example.com/maintenances/1"), ("", None)],
)
def test_the_api_functions_get_the_public_site_url_given(
    aws_env: None, site: str, expected: str | None
) -> None:
    server = serve(port=0, table_name=unique_table(), tick_seconds=3600, public_site_url=site)
    try:
        auth = {"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"}
        body = {"title": "t", "start_date_time": int(time.time()) + 3600,
                "rrule": "FREQ=DAILY;COUNT=1", "duration_seconds": 600}  # fmt: skip
        status, _, raw = call(f"{server.url}/api/v4/maintenances", "POST", body, auth)
        assert status == 201, raw
        created = json.loads(raw)["maintenance"]
        url = created.get("url")
        assert (url.partition("?")[0] if url else None) == expected
        # Only the API functions declare it; the others run as they did.
        assert "PUBLIC_SITE_URL" not in os.environ
    finally:
        server.shutdown()


def test_a_public_site_url_the_template_would_refuse_stops_the_start(aws_env: None) -> None:
    with pytest.raises(TemplateError, match=r"PublicSiteUrl: 'status\.example\.com' does not"):
        serve(port=0, table_name=unique_table(), public_site_url="status.example.com")
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ


def test_bad_dev_api_key_is_refused_and_nothing_is_left_running(aws_env: None) -> None:
    with pytest.raises(devserver.DevServerError, match="DEV_API_KEY"):
        serve(port=0, table_name=unique_table(), dev_api_key="kener_short")
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ


def test_create_table_only_against_an_external_dynamodb(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devserver.main(["--create-table-only"]) == 2
    assert "AWS_ENDPOINT_URL_DYNAMODB" in capsys.readouterr().err
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://{host}:{port}")
        name = unique_table()
        monkeypatch.setenv("TABLE_NAME", name)
        store.reset_clients()
        assert devserver.main(["--create-table-only"]) == 0
        assert devserver.main(["--create-table-only"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"table {name} created at http://{host}:{port}",
            f"table {name} already exists at http://{host}:{port}",
        ]
        client = boto3.client("dynamodb")
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == "expires_at"
    finally:
        moto.stop()


@pytest.mark.slow
def test_make_dev_entry_point_prints_the_key_last_and_stops_on_sigterm(
    aws_env: None, tmp_path: Path
) -> None:
    dev_key = "kener_" + "c" * 64
    settings = {
        "DEV_API_KEY": dev_key,
        "DEV_TICK_SECONDS": "3600",
        "DEV_DATA_DIR": str(tmp_path / "data"),
    }
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        stack = start_child_stack(settings, stderr=stderr)
        try:
            assert stack.banner[-1] == f"API key: {dev_key}", errors.read_text()
            status, _, body = call(f"{stack.url}/no/such/route")
            assert (status, json.loads(body)) == (404, {"message": "Not Found"})
            assert stack.stop(timeout=20) == 0
        finally:
            stack.process.kill()
