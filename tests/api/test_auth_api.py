"""docs/behaviour.md §1-§2: authentication, the error envelope, bodies."""

import base64
import json
from typing import Any

import pytest

from tests.conftest import Caller, valid_body


def envelope(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


MISSING = envelope("UNAUTHORIZED", "Missing or invalid authorization header")
INVALID = envelope("UNAUTHORIZED", "Invalid API key")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer a b"},
        {"authorization": "Token kener_" + "0" * 64},
    ],
)
def test_missing_or_malformed_header_is_401(call: Caller, headers: dict[str, str]) -> None:
    response = call("GET", "/api/v4/maintenances", key=None, headers=headers)
    assert response.status == 401
    assert response.json == MISSING


def test_scheme_word_is_case_insensitive(call: Caller, write_key: str) -> None:
    response = call("GET", "/api/v4/maintenances", headers={"authorization": f"bEaReR {write_key}"})
    assert response.status == 200
    assert response.json == {"maintenances": []}


@pytest.mark.parametrize("key", ["kener_" + "0" * 64, "nonsense", "kener_ABC"])
def test_unknown_key_is_401(call: Caller, key: str) -> None:
    response = call("GET", "/api/v4/maintenances", key=key)
    assert response.status == 401
    assert response.json == INVALID


def test_revoked_key_is_401(call: Caller, store: Any, write_key: str) -> None:
    from maintsvc.edge import apikeys

    apikeys.revoke_api_key(store, "writer")
    apikeys.clear_cache()  # a warm function may cache for API_KEY_CACHE_SECONDS
    response = call("GET", "/api/v4/maintenances")
    assert response.status == 401
    assert response.json == INVALID


def test_cached_key_expires_after_ttl(
    call: Caller, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.edge import apikeys

    assert call("GET", "/api/v4/maintenances").status == 200
    apikeys.revoke_api_key(store, "writer")
    assert call("GET", "/api/v4/maintenances").status == 200  # still cached
    real = apikeys.time.monotonic
    monkeypatch.setattr(apikeys.time, "monotonic", lambda: real() + 31)
    assert call("GET", "/api/v4/maintenances").status == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v4/maintenances"),
        ("PATCH", "/api/v4/maintenances/1"),
        ("DELETE", "/api/v4/maintenances/1"),
    ],
)
def test_read_only_key_cannot_write(call: Caller, read_key: str, method: str, path: str) -> None:
    response = call(method, path, body=valid_body(), key=read_key)
    assert response.status == 403
    assert response.json == envelope("FORBIDDEN", "This API key is read-only")


def test_read_only_key_can_read(call: Caller, read_key: str) -> None:
    assert call("GET", "/api/v4/maintenances", key=read_key).status == 200


def test_auth_comes_before_404_and_validation(call: Caller) -> None:
    assert call("GET", "/api/v4/maintenances/999", key=None).json == MISSING
    response = call("POST", "/api/v4/maintenances", raw_body="{nope", key="kener_" + "1" * 64)
    assert response.json == INVALID


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{nope", "Invalid JSON body"),
        ("", "Invalid JSON body"),
        ('{"title": NaN}', "Invalid JSON body"),
        ("null", "Request body must be a JSON object"),
        ("[1, 2]", "Request body must be a JSON object"),
        ('"text"', "Request body must be a JSON object"),
        ("42", "Request body must be a JSON object"),
    ],
)
def test_bad_bodies_are_400(call: Caller, raw: str, message: str) -> None:
    response = call("POST", "/api/v4/maintenances", raw_body=raw)
    assert response.status == 400
    assert response.json == envelope("BAD_REQUEST", message)


def test_base64_body_is_decoded(call: Caller) -> None:
    encoded = base64.b64encode(json.dumps(valid_body()).encode()).decode()
    response = call("POST", "/api/v4/maintenances", raw_body=encoded, base64_body=True)
    assert response.status == 201
    assert response.json["maintenance"]["title"] == "Nightly Deploy"


def test_body_over_one_mebibyte_is_refused(call: Caller) -> None:
    big = '{"title": "' + "x" * (1024 * 1024) + '"}'
    response = call("POST", "/api/v4/maintenances", raw_body=big)
    assert response.status == 413
    assert response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_unexpected_error_is_a_bare_500(call: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    from maintsvc.resources import maintenances

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(maintenances, "list_maintenances", boom)
    response = call("GET", "/api/v4/maintenances")
    assert response.status == 500
    assert response.json == envelope("INTERNAL_ERROR", "Internal server error")
    assert "secret" not in response.text
