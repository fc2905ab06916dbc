"""Security checks over every route template.yaml declares (found by reading it)."""

import re
from typing import Any

import pytest

from tests.conftest import ROUTES, Caller, valid_body

WRITES = {"POST", "PATCH", "DELETE"}


def concrete(route: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", route)


def test_the_template_declares_every_route() -> None:
    assert len(ROUTES) == 13
    assert {(m, r) for _, m, r in ROUTES} >= {
        ("GET", "/api/v4/maintenances/events"),
        ("DELETE", "/api/v4/maintenances/{maintenance_id}/events/{event_id}"),
        ("GET", "/api/v4/maintenances/calendar.ics"),
        ("POST", "/api/v4/maintenances/preview"),
    }


@pytest.mark.parametrize(("function", "method", "route"), ROUTES)
def test_every_route_needs_a_key(call: Caller, function: str, method: str, route: str) -> None:
    missing = call(method, concrete(route), body={}, key=None)
    assert missing.status == 401
    assert missing.json["error"]["message"] == "Missing or invalid authorization header"
    bad = call(method, concrete(route), body={}, key="kener_" + "f" * 64)
    assert bad.status == 401
    assert bad.json["error"]["message"] == "Invalid API key"


@pytest.mark.parametrize(("function", "method", "route"), [r for r in ROUTES if r[1] in WRITES])
def test_read_only_keys_cannot_write(
    call: Caller, read_key: str, function: str, method: str, route: str
) -> None:
    response = call(method, concrete(route), body=valid_body(), key=read_key)
    assert response.status == 403
    assert response.json == {"error": {"code": "FORBIDDEN", "message": "This API key is read-only"}}


@pytest.mark.parametrize(("function", "method", "route"), [r for r in ROUTES if r[1] == "GET"])
def test_read_only_keys_can_read(
    call: Caller, read_key: str, function: str, method: str, route: str
) -> None:
    """A read-only key passes on every GET route (a 404 for the id 1 no maintenance has)."""
    response = call(method, concrete(route), key=read_key)
    assert response.status in (200, 404), response
    if "{maintenance_id}" not in route:
        assert response.status == 200, response


@pytest.mark.parametrize(
    ("function", "method", "route"), [r for r in ROUTES if r[1] in WRITES - {"DELETE"}]
)
def test_bodies_over_a_mebibyte_are_refused(
    call: Caller, function: str, method: str, route: str
) -> None:
    response = call(method, concrete(route), raw_body="[" + "1," * 600_000 + "1]")
    assert response.status == 413
    assert response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(("function", "method", "route"), ROUTES)
def test_no_stack_trace_ever(
    call: Caller, monkeypatch: pytest.MonkeyPatch, function: str, method: str, route: str
) -> None:
    """Whatever breaks inside, the body is the bare 500 envelope."""
    from maintsvc.storage import store

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Traceback (most recent call last): secret table name")

    call("GET", "/api/v4/maintenances")  # the key is cached; the store then fails
    for name in ("get", "query", "update", "batch_get", "transact", "delete", "put"):
        monkeypatch.setattr(store.Store, name, explode)
    monkeypatch.setattr("maintsvc.rrules.parse_schedule", explode)  # the preview reads no table
    response = call(method, concrete(route), body=valid_body())
    assert response.status in (400, 500)
    assert "Traceback" not in response.text and "secret" not in response.text
    if response.status == 500:
        assert response.json == {
            "error": {"code": "INTERNAL_ERROR", "message": "Internal server error"}
        }


CALENDAR = ("GET", "/api/v4/maintenances/calendar.ics")


@pytest.mark.parametrize(("function", "method", "route"), ROUTES)
def test_only_the_calendar_takes_a_key_in_the_query(
    call: Caller, read_key: str, write_key: str, function: str, method: str, route: str
) -> None:
    """`?token=` is a credential on the calendar route alone, and only for a read-only key:
    elsewhere it is an unknown query parameter, so the request has no credential."""
    as_read = call(method, concrete(route), body={}, key=None, query={"token": read_key})
    as_write = call(method, concrete(route), body={}, key=None, query={"token": write_key})
    if (method, route) == CALENDAR:
        assert as_read.status == 200, as_read
        assert as_write.status == 403
        assert as_write.json == {
            "error": {
                "code": "FORBIDDEN",
                "message": "A write key must not be sent in the query string: "
                "use a read-only key as token",
            }
        }
        return
    for response in (as_read, as_write):
        assert response.status == 401
        assert response.json == {
            "error": {"code": "UNAUTHORIZED", "message": "Missing or invalid authorization header"}
        }
