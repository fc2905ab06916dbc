"""docs/openapi.json against template.yaml and the real handlers: drift fails here.

1. The document is a valid OpenAPI 3.1 document, and no PATCH request body schema
   carries a `default` (a PATCH field left out keeps its stored value).
2. Its (path, method) pairs are exactly the HttpApi routes of template.yaml.
3. Conformance: a realistic sequence and the error cases go through the real
   handlers (moto); every response's status must be declared for its operation
   and its body must validate against the declared schema (2020-12 dialect,
   OAS31Validator, $refs resolved in the document). Every operation, and every
   declared response but the few listed in UNREACHABLE, must be exercised. Request
   headers sent (Idempotency-Key, If-Match, If-None-Match) must be declared parameters
   of the operation, and the response headers the document declares (ETag,
   Idempotent-Replayed) must be the ones the handlers send.
"""

import json
import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import NOW, ROOT, ROUTES, Caller, Response, match_route, template, valid_body

DOC_PATH = ROOT / "docs" / "openapi.json"
DOC_URI = "urn:maintenance-windows:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
WRITE_METHODS = {"POST", "PATCH", "DELETE"}

MAINTENANCES = "/api/v4/maintenances"
MAINTENANCE = "/api/v4/maintenances/{maintenance_id}"
EVENTS = "/api/v4/maintenances/{maintenance_id}/events"
EVENT = "/api/v4/maintenances/{maintenance_id}/events/{event_id}"
FEED = "/api/v4/maintenances/events"
MONITOR = "/api/v4/monitors/{monitor_tag}/maintenance"
CALENDAR = "/api/v4/maintenances/calendar.ics"
PREVIEW = "/api/v4/maintenances/preview"
# A POST that stores nothing: no Idempotency-Key (nothing to replay), no lost race (409).
WRITES_NOTHING = {(PREVIEW, "POST")}
# Media types other than JSON a response may declare (the calendar feed's body).
TEXT_MEDIA = {"text/calendar"}

# Declared because every write may lose a race (docs/behaviour.md §2, 409 on writes), but no
# conditional write on these paths can fail today: a lost DELETE of a maintenance reads
# as already gone (404), an event delete is unconditional. Exercising one fails the test,
# so this list cannot go stale silently.
UNREACHABLE = {(MAINTENANCE, "DELETE", 409), (EVENT, "DELETE", 409)}

UNKNOWN_KEY = "kener_" + "0" * 64
# Request headers every operation takes without declaring them as parameters.
TRANSPORT_HEADERS = {"authorization", "content-type", "accept-encoding"}
# Response headers the document describes per response (components/headers).
DESCRIBED_HEADERS = {"etag", "idempotent-replayed"}
ONE_MIB = 1024 * 1024


# -- the document --------------------------------------------------------------------------


@cache
def _document_text() -> str:
    return DOC_PATH.read_text()


def document() -> dict[str, Any]:
    """A fresh copy of docs/openapi.json (tests may not alter each other's)."""
    doc: dict[str, Any] = json.loads(_document_text())
    return doc


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def lookup(doc: dict[str, Any], pointer: str) -> Any:
    node: Any = doc
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def follow(doc: dict[str, Any], pointer: str) -> tuple[Any, str]:
    """The object at `pointer` after its $ref chain (responses, parameters, bodies)."""
    node = lookup(doc, pointer)
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        assert ref not in seen, f"reference cycle at {ref}"
        seen.add(ref)
        pointer = ref[1:]
        node = lookup(doc, pointer)
    return node, pointer


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(path, METHOD) -> operation object."""
    return {
        (path, method.upper()): item[method]
        for path, item in doc["paths"].items()
        for method in HTTP_METHODS
        if method in item
    }


def operation_pointer(path: str, method: str) -> str:
    return f"/paths/{escape(path)}/{method.lower()}"


def template_routes() -> set[tuple[str, str]]:
    """Every HttpApi event of every function in template.yaml, as (path, METHOD)."""
    routes: set[tuple[str, str]] = set()
    for resource in template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                props = event["Properties"]
                routes.add((props["Path"], props["Method"].upper()))
    return routes


def declared_parameters(doc: dict[str, Any], path: str, method: str, where: str) -> set[str]:
    """Names of the `where` (query, header) parameters an operation declares (path item and
    operation level); header names in lower case, as HTTP compares them."""
    names = set()
    for level in (f"/paths/{escape(path)}", operation_pointer(path, method)):
        for index in range(len(lookup(doc, level).get("parameters", []))):
            parameter, _ = follow(doc, f"{level}/parameters/{index}")
            if parameter["in"] == where:
                name = parameter["name"]
                names.add(name.lower() if where == "header" else name)
    return names


def query_parameters(doc: dict[str, Any], path: str, method: str) -> set[str]:
    """Declared query parameters, and the query names of the operation's apiKey schemes
    (the calendar's `token`)."""
    names = declared_parameters(doc, path, method, "query")
    schemes = doc["components"]["securitySchemes"]
    for requirement in lookup(doc, operation_pointer(path, method)).get("security", []):
        for name in requirement:
            if schemes[name]["type"] == "apiKey" and schemes[name]["in"] == "query":
                names.add(schemes[name]["name"])
    return names


def response_headers(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, bool]:
    """Lower-case name -> required, of the headers a response declares."""
    response, pointer = follow(doc, f"{operation_pointer(path, method)}/responses/{status}")
    headers = {}
    for name in response.get("headers", {}):
        header, _ = follow(doc, f"{pointer}/headers/{escape(name)}")
        headers[name.lower()] = bool(header.get("required"))
    return headers


class SchemaChecker:
    """Validates instances against schemas found at JSON pointers inside the document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        resource = Resource(contents=doc, specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self._validators: dict[str, Any] = {}

    def validator(self, pointer: str) -> Any:
        if pointer not in self._validators:
            lookup(self.doc, pointer)  # a KeyError here names a missing schema
            self._validators[pointer] = OAS31Validator(
                {"$ref": f"{DOC_URI}#{pointer}"},
                registry=self.registry,
                format_checker=OAS31Validator.FORMAT_CHECKER,
            )
        return self._validators[pointer]

    def error(self, pointer: str, instance: Any) -> str | None:
        found = best_match(self.validator(pointer).iter_errors(instance))
        if found is None:
            return None
        where = "/".join(str(p) for p in found.absolute_path)
        return f"{found.message} (at /{where}; schema {pointer})"

    def response_schema(
        self, path: str, method: str, status: int, media: str = "application/json"
    ) -> str | None:
        """Pointer of the schema declared for this response in `media` (asserts it is
        declared); None for a response declared without a body (304)."""
        op_pointer = operation_pointer(path, method)
        responses = lookup(self.doc, op_pointer)["responses"]
        assert str(status) in responses, (
            f"{method} {path} answered {status}, which the document does not declare "
            f"(declared: {sorted(responses)})"
        )
        response, pointer = follow(self.doc, f"{op_pointer}/responses/{status}")
        content = response.get("content") or {}
        if not content and status == 304:
            return None
        assert list(content) == [media], (method, path, status, list(content))
        return f"{pointer}/content/{escape(media)}/schema"

    def request_schema(self, path: str, method: str) -> str | None:
        op_pointer = operation_pointer(path, method)
        if "requestBody" not in lookup(self.doc, op_pointer):
            return None
        body, pointer = follow(self.doc, f"{op_pointer}/requestBody")
        assert list(body["content"]) == ["application/json"], (method, path)
        return f"{pointer}/content/application~1json/schema"


# -- the conformance driver ----------------------------------------------------------------


class Conformance:
    """Calls the handlers and checks every response against the document."""

    def __init__(self, call: Caller, doc: dict[str, Any]) -> None:
        self.call = call
        self.doc = doc
        self.schemas = SchemaChecker(doc)
        self.operations = operations(doc)
        self.seen: Counter[tuple[str, str, int]] = Counter()

    def __call__(
        self, method: str, path: str, expect: int, body_valid: bool | None = None, **kwargs: Any
    ) -> Response:
        """One request; `expect` is the status this case is about.

        `body_valid` states what the document says of the JSON body sent: True (a
        valid request, the default for 2xx answers), False (the schema itself rejects
        it) or None (the schema cannot tell: a rule only the server checks).
        """
        _, route, _ = match_route(method, path)
        assert (route, method) in self.operations, f"{method} {route} is not documented"
        response = self.call(method, path, **kwargs)
        assert response.status == expect, f"{method} {path} {kwargs}: {response!r}"

        headers = {k.lower(): v for k, v in (response.raw.get("headers") or {}).items()}
        media = headers.get("content-type", "").split(";")[0]
        text_body = media in TEXT_MEDIA
        pointer = self.schemas.response_schema(
            route, method, response.status, media if text_body else "application/json"
        )
        if pointer is None:
            assert response.text == "" and "content-type" not in headers, response.raw
        elif text_body:
            assert headers["content-type"] == f"{media}; charset=utf-8", headers
            problem = self.schemas.error(pointer, response.text)
            assert problem is None, f"{method} {path} -> {response.status}: {problem}"
        else:
            assert headers.get("content-type", "").split(";")[0] == "application/json", headers
            problem = self.schemas.error(pointer, response.json)
            assert problem is None, f"{method} {path} -> {response.status}: {problem}\n{response!r}"
        self._check_headers(route, method, response, headers, kwargs)

        unknown = set(kwargs.get("query") or {}) - query_parameters(self.doc, route, method)
        assert not unknown, f"{method} {route}: undocumented query parameters {unknown}"
        self._check_request_body(route, method, response.status, body_valid, kwargs)
        self.seen[(route, method, response.status)] += 1
        return response

    def _check_headers(
        self,
        route: str,
        method: str,
        response: Response,
        headers: dict[str, str],
        kwargs: dict[str, Any],
    ) -> None:
        """Request headers are declared parameters; described response headers are declared
        for this response (a replay's marker: for any status of an operation taking the key),
        required ones are sent, and each value matches its schema."""
        sent = {name.lower() for name in kwargs.get("headers") or {}} - TRANSPORT_HEADERS
        unknown = sent - declared_parameters(self.doc, route, method, "header")
        assert not unknown, f"{method} {route}: undocumented request headers {unknown}"
        declared = response_headers(self.doc, route, method, response.status)
        for name in DESCRIBED_HEADERS & set(headers):
            if name == "idempotent-replayed":
                takes_key = declared_parameters(self.doc, route, method, "header")
                assert "idempotency-key" in takes_key, (method, route)
                assert headers[name] == "true"
                continue
            assert name in declared, f"{method} {route} -> {response.status}: undeclared {name}"
        for name, required in declared.items():
            assert name in headers or not required, f"{method} {route}: no {name} header"
        if "etag" in headers:
            pattern = lookup(self.doc, "/components/headers/ETag/schema/pattern")
            assert re.fullmatch(pattern, headers["etag"]), headers["etag"]

    def _check_request_body(
        self, route: str, method: str, status: int, valid: bool | None, kwargs: dict[str, Any]
    ) -> None:
        pointer = self.schemas.request_schema(route, method)
        if pointer is None or kwargs.get("body") is None:
            return
        if valid is None and 200 <= status < 300:
            valid = True
        if valid is None:
            return
        problem = self.schemas.error(pointer, kwargs["body"])
        if valid:
            assert problem is None, (
                f"{method} {route} accepted a body the document rejects: {problem}"
            )
        else:
            assert problem is not None, (
                f"{method} {route}: the document accepts {kwargs['body']!r}, "
                f"which the server answers {status}"
            )

    @property
    def validated(self) -> int:
        return sum(self.seen.values())

    def exercised_operations(self, statuses: Callable[[int], bool]) -> set[tuple[str, str]]:
        return {(path, method) for path, method, status in self.seen if statuses(status)}


@pytest.fixture
def api(call: Caller, clock: Any) -> Conformance:
    return Conformance(call, document())


def fill(
    route: str, maintenance_id: object = 1, event_id: object = 1, monitor_tag: str = "database"
) -> str:
    return (
        route.replace("{maintenance_id}", str(maintenance_id))
        .replace("{event_id}", str(event_id))
        .replace("{monitor_tag}", monitor_tag)
    )


# -- 1. a valid OpenAPI 3.1 document ---------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc, cls=OpenAPIV31SpecValidator)


def test_every_schema_in_the_document_is_a_valid_2020_12_schema() -> None:
    doc = document()
    for name in doc["components"]["schemas"]:
        OAS31Validator.check_schema(doc["components"]["schemas"][name])


def test_validation_catches_drift() -> None:
    """The checks the conformance test relies on can fail: drifted bodies are rejected."""
    checker = SchemaChecker(document())
    maintenance = {
        "id": 1,
        "title": "Weekly Database Backup",
        "description": None,
        "start_date_time": 1737010800,
        "timezone": "UTC",
        "rrule": "FREQ=WEEKLY;BYDAY=SU",
        "duration_seconds": 3600,
        "status": "ACTIVE",
        "monitors": [{"monitor_tag": "database", "impact": "MAINTENANCE"}],
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    created = checker.response_schema(MAINTENANCES, "POST", 201)
    assert created is not None
    assert checker.error(created, {"maintenance": maintenance}) is None
    linked = {**maintenance, "url": "https://status.example.com/maintenances/1?type=maintenance"}
    assert checker.error(created, {"maintenance": linked}) is None
    without_zone = {k: v for k, v in maintenance.items() if k != "timezone"}
    drifted = [
        {**maintenance, "revision": 3},  # an internal attribute leaking out
        {**maintenance, "url": None},  # absent without PUBLIC_SITE_URL, never null
        {**maintenance, "url": "/maintenances/1"},  # not a link into the site
        without_zone,
        {**maintenance, "status": "PAUSED"},
        {**maintenance, "start_date_time": 1737010801},  # not truncated to the minute
        {**maintenance, "rrule": "RRULE:FREQ=DAILY"},  # prefix not stripped
        {**maintenance, "monitors": [{"monitor_tag": "db"}]},
        {**maintenance, "created_at": "2026-01-01T00:00:00Z"},
    ]
    for body in drifted:
        assert checker.error(created, {"maintenance": body}) is not None, body
    with pytest.raises(AssertionError, match="does not declare"):
        checker.response_schema(MAINTENANCES, "GET", 404)
    not_found = {"error": {"code": "NOT_FOUND", "message": "Maintenance with id '9' not found"}}

    def schema(path: str, method: str, status: int) -> str:
        pointer = checker.response_schema(path, method, status)
        assert pointer is not None
        return pointer

    assert checker.error(schema(MAINTENANCE, "GET", 404), not_found) is None
    assert checker.error(schema(MAINTENANCE, "PATCH", 400), not_found)
    assert checker.error(schema(EVENTS, "GET", 200), {"events": []})
    in_progress = {"error": {"code": "IDEMPOTENCY_IN_PROGRESS", "message": "later"}}
    assert checker.error(schema(MAINTENANCES, "POST", 409), in_progress) is None
    assert checker.error(schema(MAINTENANCE, "DELETE", 409), in_progress)  # no key on DELETE
    changed = {"error": {"code": "PRECONDITION_FAILED", "message": "x"}}
    assert checker.error(schema(EVENT, "PATCH", 412), changed)  # the exact message
    assert checker.response_schema(EVENT, "GET", 304) is None
    feed = schema(FEED, "GET", 200)
    assert checker.error(feed, {"events": [], "page": 1, "limit": 20, "total": 0}) is None
    assert checker.error(feed, {"events": [], "page": 1, "limit": 200, "total": 0})


def test_examples_match_their_schemas() -> None:
    doc = document()
    checker = SchemaChecker(doc)
    media: list[str] = []
    for (path, method), op in operations(doc).items():
        pointer = operation_pointer(path, method)
        if "requestBody" in op:
            media.append(f"{pointer}/requestBody/content/application~1json")
        media += [f"{pointer}/responses/{s}/content/application~1json" for s in op["responses"]]
    media += [
        f"/components/responses/{name}/content/application~1json"
        for name in doc["components"]["responses"]
    ]
    checked = 0
    for pointer in media:
        response, parent = follow(doc, pointer.rsplit("/content/", 1)[0])
        if "content" not in response:  # 304: no body
            continue
        for media_type in response["content"]:  # JSON, or the calendar's text
            where = f"{parent}/content/{escape(media_type)}"
            content = lookup(doc, where)
            examples = [content["example"]] if "example" in content else []
            examples += [e["value"] for e in content.get("examples", {}).values()]
            for example in examples:
                problem = checker.error(f"{where}/schema", example)
                assert problem is None, f"example at {where}: {problem}"
                checked += 1
    assert checked >= 20


def wanted_statuses(doc: dict[str, Any], path: str, method: str) -> set[str]:
    """The statuses an operation must declare, checking the headers that go with them."""
    op = lookup(doc, operation_pointer(path, method))
    declared = set(op["responses"])
    headers = declared_parameters(doc, path, method, "header")
    wanted = {"401", "500"}
    stores = (path, method) not in WRITES_NOTHING
    if method in WRITE_METHODS:
        wanted |= {"403", "409"} if stores else {"403"}
    if "requestBody" in op:
        assert op["requestBody"].get("required") is True, (method, path)
        wanted |= {"400", "413"}
    if "{maintenance_id}" in path:
        wanted.add("404")
    # Safe retries on POST and PATCH that store something; ETags on a single maintenance
    # or event, and on the calendar.
    if method in {"POST", "PATCH"} and stores:
        assert "idempotency-key" in headers, (method, path)
        wanted.add("422")
    elif not stores:
        assert "idempotency-key" not in headers and not declared & {"409", "422"}
    if path in (MAINTENANCE, EVENT):
        wanted |= {"304"} if method == "GET" else {"412"}
        assert ("if-none-match" if method == "GET" else "if-match") in headers, (method, path)
    elif path == CALENDAR:
        wanted |= {"304", "403"}  # 403: a write key as ?token=
        assert headers & {"if-match", "if-none-match"} == {"if-none-match"}
    else:
        assert not headers & {"if-match", "if-none-match"}, (method, path)
    return wanted


def test_every_operation_declares_its_errors() -> None:
    doc = document()
    assert doc["security"] == [{"bearerAuth": []}]
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    codes = lookup(doc, "/components/schemas/Error/properties/error/properties/code")["enum"]
    ids = []
    for (path, method), op in operations(doc).items():
        ids.append(op["operationId"])
        # Only the calendar also takes a read-only key in the query (calendar apps).
        token = [{"calendarToken": []}] if path == CALENDAR else []
        assert op.get("security", doc["security"]) == [{"bearerAuth": []}, *token], path
        assert op.get("description"), (method, path)
        declared = set(op["responses"])
        wanted = wanted_statuses(doc, path, method)
        assert wanted <= declared, (method, path, wanted - declared)
        assert sum(1 for s in declared if s.startswith("2")) == 1, (method, path)
        success = next(s for s in declared if s.startswith("2"))
        tagged = "etag" in response_headers(doc, path, method, int(success))
        one_resource = path in (MAINTENANCE, EVENT, CALENDAR) and method != "DELETE"
        assert tagged == (one_resource or (path, method) == (MAINTENANCES, "POST")), (method, path)
        for status in declared - {"200", "201", "304"}:
            response, _ = follow(doc, f"{operation_pointer(path, method)}/responses/{status}")
            schema = response["content"]["application/json"]["schema"]
            assert {"$ref": "#/components/schemas/Error"} in schema["allOf"], (path, status)
            code = schema["allOf"][1]["properties"]["error"]["properties"]["code"]
            for one in code.get("enum", [code.get("const")]):
                assert one in codes, (method, path, status, one)
        if "304" in declared:
            response, _ = follow(doc, f"{operation_pointer(path, method)}/responses/304")
            assert "content" not in response and "etag" in response_headers(doc, path, method, 304)
    assert len(ids) == len(set(ids)), "operationIds must be unique"


# Keywords whose value is one subschema, a list of them, or a map of name -> subschema
# (JSON Schema 2020-12 applicators); `default`, `examples`, `const`, `enum` hold instances.
_ONE_SUBSCHEMA = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_LIST_OF_SUBSCHEMAS = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP_OF_SUBSCHEMAS = ("properties", "patternProperties", "dependentSchemas", "$defs")


def subschema_pointers(schema: dict[str, Any], where: str) -> list[str]:
    """Pointers of the schemas directly inside `schema` (at `where`), its $ref included."""
    inside: list[str] = []
    if "$ref" in schema:
        assert schema["$ref"].startswith("#/"), f"only local references: {schema['$ref']}"
        inside.append(schema["$ref"][1:])
    inside += [f"{where}/{keyword}" for keyword in _ONE_SUBSCHEMA if keyword in schema]
    inside += [
        f"{where}/{keyword}/{index}"
        for keyword in _LIST_OF_SUBSCHEMAS
        for index in range(len(schema.get(keyword, [])))
    ]
    inside += [
        f"{where}/{keyword}/{escape(name)}"
        for keyword in _MAP_OF_SUBSCHEMAS
        for name in schema.get(keyword, {})
    ]
    return inside


def defaults_in_schema(doc: dict[str, Any], pointer: str) -> list[str]:
    """Pointers of every `default` in the schema at `pointer`, $refs and subschemas followed."""
    found: list[str] = []
    visited: set[str] = set()
    pending = [pointer]
    while pending:
        where = pending.pop()
        if where in visited:
            continue
        visited.add(where)
        schema = lookup(doc, where)
        if not isinstance(schema, dict):
            continue  # a boolean schema
        if "default" in schema:
            found.append(where)
        pending += subschema_pointers(schema, where)
    return sorted(found)


def patch_request_schemas(doc: dict[str, Any]) -> dict[str, str]:
    """PATCH path -> pointer of its JSON request body schema."""
    checker = SchemaChecker(doc)
    schemas: dict[str, str] = {}
    for path, method in operations(doc):
        if method == "PATCH":
            pointer = checker.request_schema(path, method)
            assert pointer is not None, f"PATCH {path} declares no request body"
            schemas[path] = pointer
    return schemas


def test_patch_bodies_declare_no_defaults() -> None:
    """A PATCH field left out keeps its value, so no PATCH body schema may carry a `default`:
    a client generator that fills defaults in would re-activate maintenances, reset zones."""
    doc = document()
    schemas = patch_request_schemas(doc)
    assert set(schemas) == {MAINTENANCE, EVENT}
    for path, pointer in schemas.items():
        assert not defaults_in_schema(doc, pointer), (
            f"PATCH {path}: remove `default` from its request body schema (describe the "
            f"POST default in prose instead): {defaults_in_schema(doc, pointer)}"
        )


def test_default_check_sees_through_refs_and_combinators() -> None:
    """The check above can fail: a default planted anywhere a PATCH body reaches is found."""
    plants = [
        "/components/schemas/MaintenanceUpdate/properties/status",
        "/components/schemas/MonitorInput/properties/impact",  # via monitors -> items -> $ref
        "/components/schemas/EventStatusChange/properties/status",  # via oneOf -> $ref
        "/components/schemas/EventReschedule",
    ]
    for plant in plants:
        doc = document()
        lookup(doc, plant)["default"] = "x"
        found = [
            p for ptr in patch_request_schemas(doc).values() for p in defaults_in_schema(doc, ptr)
        ]
        assert plant in found, plant
    # The POST body keeps its defaults (status ACTIVE, timezone UTC): there they are real.
    assert defaults_in_schema(document(), "/components/schemas/MaintenanceCreate")


# -- 2. the same routes as template.yaml -----------------------------------------------------


def test_document_routes_are_the_template_routes() -> None:
    documented = set(operations(document()))
    deployed = template_routes()
    assert len(deployed) == 13
    assert documented == deployed, {
        "in template.yaml only": deployed - documented,
        "in the document only": documented - deployed,
    }
    # The conformance test maps requests to documented paths through the test router.
    assert {(route, method) for _, method, route in ROUTES} == documented


# -- 3. conformance: the handlers answer what the document says ---------------------------


def test_conformance_realistic_sequence(api: Conformance, read_key: str) -> None:
    assert api("GET", MAINTENANCES, 200).json == {"maintenances": []}

    a = api(
        "POST",
        MAINTENANCES,
        201,
        body=valid_body(
            title="  Weekly Database Backup ",
            start_date_time=NOW + 3600 + 59.5,
            timezone="Europe/Berlin",
            rrule="RRULE:FREQ=DAILY;COUNT=5",
            duration_seconds=1800.0,
            description="Expect slowdowns",
            monitors=[
                {"monitor_tag": "database", "impact": "DEGRADED"},
                {"monitor_tag": "api-gateway"},
            ],
            unknown_field="ignored",
        ),
    ).json["maintenance"]
    b = api(
        "POST",
        MAINTENANCES,
        201,
        body=valid_body(
            title="Paused",
            start_date_time=NOW + 600,
            rrule="FREQ=DAILY;COUNT=3",
            status="INACTIVE",
            description="",
            monitors=[{"monitor_tag": "web", "impact": None}],
        ),
    ).json["maintenance"]
    c = api(
        "POST",
        MAINTENANCES,
        201,
        body=valid_body(
            start_date_time=NOW - 600, rrule="FREQ=HOURLY;COUNT=3", duration_seconds=1200
        ),
    ).json["maintenance"]
    d = api(
        "POST",
        MAINTENANCES,
        201,
        body=valid_body(
            start_date_time=NOW + 240, rrule="FREQ=DAILY;COUNT=2", duration_seconds=600
        ),
    ).json["maintenance"]
    assert (a["timezone"], c["timezone"], b["status"], b["description"]) == (
        "Europe/Berlin",
        "UTC",
        "INACTIVE",
        None,
    )

    in_window = api("GET", fill(MONITOR), 200, query={"at": str(NOW + 3600)}).json
    assert (in_window["impact"], in_window["events"][0]["maintenance_id"]) == ("DEGRADED", a["id"])
    assert api("GET", fill(MONITOR), 200, key=read_key).json["next"]["maintenance_id"] == a["id"]
    api("GET", fill(MONITOR, monitor_tag="nobody"), 200, query={"at": ""})
    assert api("GET", fill(MAINTENANCE, a["id"]), 200).json == {"maintenance": a}
    api("GET", fill(MAINTENANCE, b["id"]), 200, key=read_key)
    listed = api("GET", MAINTENANCES, 200).json["maintenances"]
    assert [m["id"] for m in listed] == [d["id"], c["id"], b["id"], a["id"]]
    api("GET", MAINTENANCES, 200, query={"status": "ACTIVE"})
    api("GET", MAINTENANCES, 200, query={"status": "INACTIVE"}, key=read_key)
    api("GET", MAINTENANCES, 200, query={"monitor_tag": "database"})
    api("GET", MAINTENANCES, 200, query={"status": "ACTIVE", "monitor_tag": "web"})

    a_path = fill(MAINTENANCE, a["id"])
    api("PATCH", a_path, 200, body={})
    api("PATCH", a_path, 200, body={"title": "Renamed", "description": None, "monitors": []})
    api(
        "PATCH",
        a_path,
        200,
        body={"duration_seconds": 900, "timezone": "UTC", "monitors": [{"monitor_tag": "db"}]},
    )
    api("PATCH", fill(MAINTENANCE, b["id"]), 200, body={"status": "ACTIVE"})

    api("GET", fill(EVENTS, a["id"]), 200)
    api("GET", fill(EVENTS, a["id"]), 200, query={"page": "2", "limit": "2"}, key=read_key)
    api("GET", fill(EVENTS, a["id"]), 200, query={"page": "abc", "limit": "1000"})
    c_events = api("GET", fill(EVENTS, c["id"]), 200).json["events"]
    d_events = api("GET", fill(EVENTS, d["id"]), 200).json["events"]
    assert [e["status"] for e in c_events] == ["ONGOING", "SCHEDULED", "SCHEDULED"]
    assert d_events[0]["status"] == "READY"
    ongoing, moved, cancelled = (fill(EVENT, c["id"], e["id"]) for e in c_events)

    api("GET", ongoing, 200)
    api("GET", moved, 200, key=read_key)
    rescheduled = api(
        "PATCH", moved, 200, body={"start_date_time": NOW + 7230, "end_date_time": NOW + 9000}
    ).json["event"]
    assert (rescheduled["start_date_time"], rescheduled["status"]) == (NOW + 7200, "SCHEDULED")
    api("PATCH", cancelled, 200, body={"status": "CANCELLED"})
    api("PATCH", ongoing, 200, body={"status": "COMPLETED", "start_date_time": None})
    api("PATCH", fill(EVENT, d["id"], d_events[0]["id"]), 200, body={"status": "CANCELLED"})
    api("DELETE", moved, 200)

    api("PATCH", fill(MAINTENANCE, b["id"]), 200, body={"status": "INACTIVE"})
    feed = api("GET", FEED, 200).json
    assert "INACTIVE" in {item["maintenance_status"] for item in feed["events"]}
    api("GET", FEED, 200, query={"event_start_date_time": "0"}, key=read_key)
    api("GET", FEED, 200, query={"event_start_date_time": "0", "event_status": "completed"})
    api("GET", FEED, 200, query={"event_status": "SCHEDULED", "monitors": " db , web"})
    api("GET", FEED, 200, query={"maintenance_id": str(c["id"]), "event_start_date_time": "0"})
    api("GET", FEED, 200, query={"maintenance_id": "999"})
    api("GET", FEED, 200, query={"page": "2", "limit": "2", "event_start_date_time": ""})

    calendar = api("GET", CALENDAR, 200)
    assert calendar.text.count("BEGIN:VEVENT") > len(api("GET", FEED, 200).json["events"])
    tagged = api("GET", CALENDAR, 200, key=None, query={"monitors": "db, web", "token": read_key})
    assert 0 < tagged.text.count("BEGIN:VEVENT") < calendar.text.count("BEGIN:VEVENT")
    api("GET", CALENDAR, 304, headers={"If-None-Match": calendar.raw["headers"]["ETag"]})
    preview = api("POST", PREVIEW, 200, body=valid_body(rrule="FREQ=DAILY", count=3)).json
    assert (len(preview["occurrences"]), preview["truncated"]) == (3, True)
    api("POST", PREVIEW, 200, body=valid_body(count=None, timezone="Europe/Berlin"))

    api("DELETE", fill(MAINTENANCE, d["id"]), 200)
    assert api("GET", MAINTENANCES, 200).json["maintenances"][0]["id"] == c["id"]

    documented = set(api.operations)
    assert api.exercised_operations(lambda status: status < 300) == documented
    assert api.validated >= 38


def test_conformance_for_the_systems_that_act_on_maintenance(
    api: Conformance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`url` (with PUBLIC_SITE_URL), Idempotency-Key, ETag, If-Match and If-None-Match."""
    monkeypatch.setenv("PUBLIC_SITE_URL", "https://status.example.com/")
    retry = {"Idempotency-Key": "create-once"}
    body = valid_body(start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=3")
    created = api("POST", MAINTENANCES, 201, body=body, headers=retry)
    replayed = api("POST", MAINTENANCES, 201, body=body, headers=retry)
    assert replayed.json == created.json and "url" in created.json["maintenance"]
    m_id = created.json["maintenance"]["id"]
    path = fill(MAINTENANCE, m_id)
    tag = api("GET", path, 200).raw["headers"]["ETag"]
    api("GET", path, 304, headers={"If-None-Match": tag})
    api("GET", MAINTENANCES, 200)
    api("GET", MAINTENANCES, 200, query={"page": "1", "limit": "5"})
    rename = {"If-Match": tag, "Idempotency-Key": "rename"}
    renamed = api("PATCH", path, 200, body={"title": "x"}, headers=rename)
    api("PATCH", path, 200, body={"title": "y"}, headers={"If-Match": "*"})
    assert renamed.raw["headers"]["ETag"] != tag

    events = api("GET", fill(EVENTS, m_id), 200).json["events"]
    api("GET", FEED, 200, query={"maintenance_id": str(m_id)})
    first, second = (fill(EVENT, m_id, e["id"]) for e in events[:2])
    e_tag = api("GET", first, 200).raw["headers"]["ETag"]
    api("GET", first, 304, headers={"If-None-Match": f"W/{e_tag}"})
    cancel = {"status": "CANCELLED"}
    cancel_once = {"If-Match": e_tag, "Idempotency-Key": "cancel"}
    done = api("PATCH", first, 200, body=cancel, headers=cancel_once)
    again = api("PATCH", first, 200, body=cancel, headers=cancel_once)
    assert again.raw["headers"]["Idempotent-Replayed"] == "true"
    api("DELETE", first, 200, headers={"If-Match": done.raw["headers"]["ETag"]})
    api("DELETE", second, 200, headers={"If-Match": "*"})
    current = api("GET", path, 200).raw["headers"]["ETag"]
    api("DELETE", path, 200, headers={"If-Match": current})


def _unauthorised_and_forbidden(
    api: Conformance, read_key: str, concrete: Callable[[str], str], bodies: dict[str, Any]
) -> None:
    """401 on every operation, 403 for a read-only key on every write."""
    for route, method in api.operations:
        body = bodies.get(route) if method in {"POST", "PATCH"} else None
        api(method, concrete(route), 401, key=None, body=body)
        api(method, concrete(route), 401, headers={"authorization": "Basic abc"}, body=body)
        api(method, concrete(route), 401, key=UNKNOWN_KEY, body=body)
        if method in WRITE_METHODS:
            api(method, concrete(route), 403, key=read_key, body=body)


def _not_found(api: Conformance, e_mid: int, e_ids: list[int], other_id: int) -> None:
    """404: unknown and malformed ids, events of another maintenance."""
    for raw in ("999", "abc", "0"):
        api("GET", fill(MAINTENANCE, raw), 404)
        api("PATCH", fill(MAINTENANCE, raw), 404, body={"title": "x"})
        api("DELETE", fill(MAINTENANCE, raw), 404)
        api("GET", fill(EVENTS, raw), 404)
        api("GET", fill(EVENT, raw, e_ids[0]), 404)
        api("GET", fill(EVENT, e_mid, raw), 404)
    api("PATCH", fill(EVENT, e_mid, 999), 404, body={"status": "CANCELLED"})
    api("DELETE", fill(EVENT, e_mid, "-1"), 404)
    for method in ("GET", "PATCH", "DELETE"):
        api(method, fill(EVENT, other_id, e_ids[0]), 404, body={"status": "CANCELLED"})


CREATE_CASES: list[tuple[dict[str, Any], bool | None]] = [
    ({"title": "   "}, False),
    ({"title": "x" * 256}, False),
    ({"title": None}, False),
    ({"start_date_time": "1900000000"}, False),
    ({"start_date_time": True}, False),
    ({"start_date_time": -1}, False),
    ({"timezone": ""}, False),
    ({"timezone": None}, False),
    ({"timezone": "Mars/Base"}, None),
    ({"rrule": "  "}, False),
    ({"rrule": "FREQ=SECONDLY"}, None),
    ({"duration_seconds": 1.5}, False),
    ({"duration_seconds": 31536001}, False),
    ({"status": "active"}, False),
    ({"description": 5}, False),
    ({"monitors": {}}, False),
    ({"monitors": [{"monitor_tag": "a,b"}]}, False),
    ({"monitors": [{"monitor_tag": "db", "impact": "down"}]}, False),
    ({"monitors": [{"monitor_tag": "db"}, {"monitor_tag": "db"}]}, None),
]

EVENT_CASES: list[tuple[dict[str, Any], bool | None]] = [
    ({"status": "CANCELLED", "start_date_time": NOW}, False),
    ({}, False),
    ({"start_date_time": NOW}, False),
    ({"start_date_time": "x", "end_date_time": NOW}, False),
    ({"start_date_time": NOW, "end_date_time": NOW + 59}, None),
    ({"status": "ONGOING"}, False),
    ({"status": "COMPLETED"}, None),  # only from ONGOING
]


def _invalid_bodies(api: Conformance, m_id: int, e_mid: int, e_ids: list[int]) -> None:
    """400: create, update and event validation (body_valid: does the document reject it?)."""
    for overrides, body_valid in CREATE_CASES:
        api("POST", MAINTENANCES, 400, body=valid_body(**overrides), body_valid=body_valid)
        api("PATCH", fill(MAINTENANCE, m_id), 400, body=overrides, body_valid=body_valid)
    missing = valid_body()
    del missing["rrule"]
    api("POST", MAINTENANCES, 400, body=missing, body_valid=False)
    api("PATCH", fill(MAINTENANCE, m_id), 400, body={"rrule": None}, body_valid=False)

    event = fill(EVENT, e_mid, e_ids[0])
    for body, body_valid in EVENT_CASES:
        api("PATCH", event, 400, body=body, body_valid=body_valid)
    done = fill(EVENT, e_mid, e_ids[1])
    api("PATCH", done, 200, body={"status": "CANCELLED"})
    api("PATCH", done, 400, body={"start_date_time": NOW, "end_date_time": NOW + 600})


def _malformed_bodies_and_queries(
    api: Conformance, concrete: Callable[[str], str], bodies: dict[str, Any]
) -> None:
    """400 for bodies that are not JSON objects and bad query values, 413 past 1 MiB."""
    for route in (MAINTENANCES, PREVIEW, MAINTENANCE, EVENT):
        method = "POST" if route in (MAINTENANCES, PREVIEW) else "PATCH"
        api(method, concrete(route), 400, raw_body="{nope")
        api(method, concrete(route), 400, raw_body="[1, 2]")
        api(method, fill(route, 999, 999), 400, raw_body="null")  # body read before lookup
        big = '{"title": "' + "x" * ONE_MIB + '"}'
        api(method, concrete(route), 413, raw_body=big)

    # 304, 412 and 422: ETags and Idempotency-Key (docs/decisions.md).
    stale = {"If-Match": '"stale"'}
    for route in (MAINTENANCE, EVENT):
        tag = api("GET", concrete(route), 200).raw["headers"]["ETag"]
        api("GET", concrete(route), 304, headers={"If-None-Match": tag})
        api("PATCH", concrete(route), 412, body=bodies[route], headers=stale)
        api("DELETE", concrete(route), 412, headers=stale)
    once = {"Idempotency-Key": "used-once"}
    api("POST", MAINTENANCES, 201, body=valid_body(), headers=once)
    api("POST", MAINTENANCES, 422, body=valid_body(title="Another"), headers=once)
    for route in (MAINTENANCE, EVENT):
        api("PATCH", concrete(route), 422, body=bodies[route], headers=once)
    api("POST", MAINTENANCES, 400, body=valid_body(), headers={"Idempotency-Key": "x" * 256})

    api("GET", MAINTENANCES, 400, query={"status": "paused"})
    for query in (
        {"event_start_date_time": "soon"},
        {"event_status": "DONE"},
        {"maintenance_id": "0"},
        {"monitors": "db", "maintenance_id": "x"},
    ):
        api("GET", FEED, 400, query=query)
    api("GET", fill(MONITOR, monitor_tag="-db"), 400)
    api("GET", fill(MONITOR), 400, query={"at": "-1"})


def _calendar_and_preview(
    api: Conformance, write_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calendar's own credential (`?token=`, read-only keys only) and size limit; the
    preview's 400s (a create's, then `count`)."""
    api("GET", CALENDAR, 401, key=None, query={"token": UNKNOWN_KEY})
    api("GET", CALENDAR, 401, query={"token": "not-a-key"})  # the token decides, not the header
    api("GET", CALENDAR, 403, key=None, query={"token": write_key})
    tag = api("GET", CALENDAR, 200).raw["headers"]["ETag"]
    api("GET", CALENDAR, 304, headers={"If-None-Match": tag})
    with monkeypatch.context() as patch:
        patch.setattr("maintsvc.edge.http.MAX_PAYLOAD_BYTES", 200)
        api("GET", CALENDAR, 400)
    for overrides, body_valid in CREATE_CASES:
        api("POST", PREVIEW, 400, body=valid_body(**overrides), body_valid=body_valid)
    for count in (0, 101, 2.5, "5", True):
        api("POST", PREVIEW, 400, body=valid_body(count=count), body_valid=False)


def _conflicts(
    api: Conformance, monkeypatch: pytest.MonkeyPatch, concrete: Callable[[str], str]
) -> None:
    """409: every conditional write loses its race (the server retries, then gives up)."""
    from maintsvc.storage.store import ConditionFailed, Store, TransactionCancelled

    def losing_update(self: Store, *args: Any, condition: str | None = None, **kw: Any) -> Any:
        if condition:
            raise ConditionFailed("lost a race")
        return real_update(self, *args, **kw)

    def losing_transact(self: Store, actions: Any) -> None:
        raise TransactionCancelled(["ConditionalCheckFailed"])

    real_update = Store.update
    with monkeypatch.context() as patch:
        patch.setattr(Store, "update", losing_update)
        patch.setattr(Store, "transact", losing_transact)
        api("POST", MAINTENANCES, 409, body=valid_body())
        api("PATCH", concrete(MAINTENANCE), 409, body={"title": "Renamed"})
        api("PATCH", concrete(EVENT), 409, body={"status": "CANCELLED"})
        api("DELETE", concrete(MAINTENANCE), 404)  # a lost delete reads as already gone

    # 409 IDEMPOTENCY_IN_PROGRESS: the same key arrives while the first request runs.
    from maintsvc.resources import maintenances

    real_create = maintenances.create_maintenance
    racing = {"Idempotency-Key": "racing"}

    def duplicate_arrives(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(maintenances, "create_maintenance", real_create)
        api("POST", MAINTENANCES, 409, body=valid_body(), headers=racing)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(maintenances, "create_maintenance", duplicate_arrives)
    api("POST", MAINTENANCES, 201, body=valid_body(), headers=racing)


def _server_errors(
    api: Conformance,
    monkeypatch: pytest.MonkeyPatch,
    concrete: Callable[[str], str],
    bodies: dict[str, Any],
) -> None:
    """500 from every operation: the key is cached, then DynamoDB breaks."""
    from maintsvc.storage.store import Store

    def broken(self: Store) -> Any:
        raise RuntimeError("secret internals")

    def broken_rules(*args: Any) -> Any:  # the preview reads no table: its rule engine fails
        raise RuntimeError("secret internals")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "_ddb", property(broken))
        patch.setattr("maintsvc.rrules.parse_schedule", broken_rules)
        for route, method in api.operations:
            body = bodies.get(route) if method in {"POST", "PATCH"} else None
            response = api(method, concrete(route), 500, body=body)
            assert "secret" not in response.text


def test_conformance_error_cases(
    api: Conformance, read_key: str, write_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = api("POST", MAINTENANCES, 201, body=valid_body(start_date_time=NOW + 3600))
    m_id = m.json["maintenance"]["id"]
    longest = valid_body(title=" " + "x" * 255 + " ")  # 255 characters once trimmed
    other_id = api("POST", MAINTENANCES, 201, body=longest).json["maintenance"]["id"]
    events = api(
        "POST",
        MAINTENANCES,
        201,
        body=valid_body(start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=3"),
    )
    e_mid = events.json["maintenance"]["id"]
    e_ids = [e["id"] for e in api("GET", fill(EVENTS, e_mid), 200).json["events"]]
    ids = {MAINTENANCE: (m_id, 1), EVENTS: (m_id, 1), EVENT: (e_mid, e_ids[0])}
    bodies = {
        MAINTENANCES: valid_body(),
        PREVIEW: valid_body(),
        MAINTENANCE: {"title": "x"},
        EVENT: {"status": "CANCELLED"},
    }

    def concrete(route: str) -> str:
        return fill(route, *ids.get(route, (1, 1)))

    _unauthorised_and_forbidden(api, read_key, concrete, bodies)
    _not_found(api, e_mid, e_ids, other_id)
    _invalid_bodies(api, m_id, e_mid, e_ids)
    _malformed_bodies_and_queries(api, concrete, bodies)
    _calendar_and_preview(api, write_key, monkeypatch)
    _conflicts(api, monkeypatch, concrete)
    _server_errors(api, monkeypatch, concrete, bodies)

    declared = {
        (path, method, int(status))
        for (path, method), op in api.operations.items()
        for status in op["responses"]
        if not status.startswith("2")
    }
    exercised = {key for key in api.seen if key[2] >= 300}
    assert exercised <= declared  # (already checked per call)
    assert not exercised & UNREACHABLE, "reachable now: remove it from UNREACHABLE"
    assert declared - UNREACHABLE == exercised, {
        "declared, never exercised": declared - UNREACHABLE - exercised
    }
    assert api.validated >= 142
