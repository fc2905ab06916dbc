"""API defects found by adversarial use (the Hardening issue), each pinned by a test."""

import base64
import gzip
import json
from typing import Any

import pytest

from maintsvc.config import load_settings
from maintsvc.lifecycle.scheduler import run_tick
from maintsvc.resources import events as events_module
from maintsvc.storage.store import Store
from tests.api.test_events_api import create, events_of
from tests.conftest import NOW, Caller, valid_body

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
HUGE = "9" * 5000


def lambda_payload_size(response: Any) -> int:
    """Bytes of the JSON the Lambda runtime sends back for this handler result."""
    return len(json.dumps(response.raw).encode())


def bad_request(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message}}


# -- 2. a write that took effect never answers 409 ----------------------------------------


def test_a_create_racing_a_top_up_answers_201_and_creates_each_event_once(
    call: Caller, clock: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_transact = Store.transact
    calls = {"n": 0}

    def tick_between_transactions(self: Store, actions: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the maintenance exists; a tick tops it up right now
            monkeypatch.setattr(Store, "transact", real_transact)
            run_tick(store, load_settings(), NOW)
            monkeypatch.setattr(Store, "transact", tick_between_transactions)
        real_transact(self, actions)

    monkeypatch.setattr(Store, "transact", tick_between_transactions)
    response = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(start_date_time=NOW + 60, rrule="FREQ=HOURLY", duration_seconds=60),
    )
    monkeypatch.setattr(Store, "transact", real_transact)
    assert response.status == 201, response
    listed = events_of(call, response.json["maintenance"]["id"], limit="100")
    assert listed["total"] == 500
    starts = [
        e["start_date_time"]
        for page in range(1, 6)
        for e in events_of(call, response.json["maintenance"]["id"], limit="100", page=str(page))[
            "events"
        ]
    ]
    assert starts == [NOW + 60 + i * 3600 for i in range(500)]


# -- 3. no ghost maintenance -----------------------------------------------------------------


def test_an_event_patch_racing_a_delete_leaves_no_ghost(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=1")
    event = events_of(call, m["id"])["events"][0]
    real_load = events_module.load_event

    def load_then_deleted(*args: Any) -> Any:
        loaded = real_load(*args)
        assert call("DELETE", f"/api/v4/maintenances/{m['id']}").status == 200
        return loaded

    monkeypatch.setattr(events_module, "load_event", load_then_deleted)
    next_year = NOW + 400 * 86400  # another feed year: the PATCH lists it on the maintenance
    patched = call(
        "PATCH",
        f"/api/v4/maintenances/{m['id']}/events/{event['id']}",
        body={"start_date_time": next_year, "end_date_time": next_year + 600},
    )
    monkeypatch.setattr(events_module, "load_event", real_load)
    assert patched.status == 404
    assert patched.json == {
        "error": {"code": "NOT_FOUND", "message": f"Maintenance with id '{m['id']}' not found"}
    }
    assert call("GET", f"/api/v4/maintenances/{m['id']}").status == 404
    assert call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"title": "x"}).status == 404
    feed = call("GET", "/api/v4/maintenances/events", query={"maintenance_id": str(m["id"])})
    assert (feed.status, feed.json["total"]) == (200, 0)


# -- 4. strings that are not Unicode text ----------------------------------------------------


@pytest.mark.parametrize("field", ["title", "description"])
def test_lone_surrogates_are_a_400_naming_the_field(call: Caller, clock: Any, field: str) -> None:
    body = json.dumps(valid_body()).replace('"Nightly Deploy"', '"x"')
    raw = body[:-1] + f', "{field}": "a\\ud800b"}}'
    response = call("POST", "/api/v4/maintenances", raw_body=raw)
    assert response.json == bad_request(f"{field} must be valid Unicode text")
    m = create(call)
    patched = call("PATCH", f"/api/v4/maintenances/{m['id']}", raw_body=f'{{"{field}": "\\udfff"}}')
    assert patched.json == bad_request(f"{field} must be valid Unicode text")


def test_descriptions_are_limited_in_bytes_too(call: Caller, clock: Any) -> None:
    assert create(call, description="\u00e9" * 5000)["description"] == "\u00e9" * 5000
    response = call("POST", "/api/v4/maintenances", body=valid_body(description="\u00e9" * 5001))
    assert response.json == bad_request("description must be at most 10000 bytes of UTF-8")
    emoji = call("POST", "/api/v4/maintenances", body=valid_body(description="\U0001f600" * 10000))
    assert emoji.json == bad_request("description must be at most 10000 bytes of UTF-8")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": "\x01" * 255}, "title must not contain control characters"),
        ({"title": "a\x7fb"}, "title must not contain control characters"),
        ({"title": "line\nbreak"}, "title must not contain control characters"),
        ({"description": "a\x00b"}, "description must not contain control characters"),
        ({"description": "\x1b[31mred"}, "description must not contain control characters"),
    ],
)
def test_control_characters_are_refused(
    call: Caller, clock: Any, overrides: dict[str, Any], message: str
) -> None:
    response = call("POST", "/api/v4/maintenances", body=valid_body(**overrides))
    assert (response.status, response.json) == (400, bad_request(message))


def test_tabs_and_line_breaks_are_fine_in_a_description(call: Caller, clock: Any) -> None:
    m = create(call, description="Steps:\n\t1. drain\r\n\t2. upgrade")
    assert m["description"] == "Steps:\n\t1. drain\r\n\t2. upgrade"


# -- 5. numbers too long for int() -------------------------------------------------------------


def test_paging_values_of_thousands_of_digits_are_clamped(call: Caller, clock: Any) -> None:
    m = create(call)
    for path in ("/api/v4/maintenances/events", f"/api/v4/maintenances/{m['id']}/events"):
        response = call("GET", path, query={"limit": HUGE, "page": "1"})
        assert (response.status, response.json["limit"]) == (200, 100)
        response = call("GET", path, query={"page": HUGE})
        assert response.status == 200 and response.json["events"] == []
        assert response.json["page"] == 1_000_000_000


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("event_start_date_time", "event_start_date_time must be a valid timestamp (UTC seconds)"),
        ("maintenance_id", "maintenance_id must be a positive integer"),
    ],
)
def test_feed_filters_of_thousands_of_digits_are_a_400(
    call: Caller, clock: Any, parameter: str, message: str
) -> None:
    response = call("GET", "/api/v4/maintenances/events", query={parameter: HUGE})
    assert (response.status, response.json) == (400, bad_request(message))


# -- 6. no accepted maintenance makes a read too large for Lambda -----------------------------


@pytest.fixture
def without_window_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """The indexer keeps the feed's counters but files no monitor windows: the largest
    maintenance names 100 tags, so its 500 events are 50,000 windows (docs/data-model.md,
    "Monitor windows"), minutes of moto calls that these payload tests do not need."""
    from tests.conftest import load_function

    monkeypatch.setattr(load_function("indexer"), "index_stream_batch", lambda *args: 0)


def largest_maintenance(**overrides: Any) -> dict[str, Any]:
    """The most bytes the API accepts: every field at its limit, in its costliest characters."""
    return valid_body(
        title="\U0001f600" * 255,  # astral: 4 bytes of UTF-8, 12 as a JSON escape
        description='"' * 5000 + "\\" * 5000,  # 1 byte each, 2 in JSON, 4 in JSON in JSON
        monitors=[{"monitor_tag": f"{n:02d}" + "x" * 98, "impact": "DEGRADED"} for n in range(100)],
        **overrides,
    )


def test_the_feed_of_the_largest_maintenance_fits_a_lambda_response(
    call: Caller, clock: Any, without_window_index: None
) -> None:
    longest_hourly_rule = "FREQ=HOURLY;BYMINUTE=" + ",".join(["1"] * 2037)  # 4094 characters
    body = largest_maintenance(
        start_date_time=NOW + 60, rrule=longest_hourly_rule, duration_seconds=60
    )
    assert call("POST", "/api/v4/maintenances", body=body).status == 201
    response = call("GET", "/api/v4/maintenances/events", query={"limit": "100"})
    assert response.status == 200
    assert len(response.json["events"]) == 100
    assert response.json["events"][0]["maintenance_description"] == body["description"]
    assert lambda_payload_size(response) < LAMBDA_RESPONSE_LIMIT


def unpaged_listing_too_large(call: Caller, store: Store, copies: int, limit: int) -> None:
    """`copies` of the largest maintenance: unpaged is a 400, paged and gzip fit."""
    from maintsvc.storage import keys
    from maintsvc.storage.items import maintenance_index_attributes

    assert call("POST", "/api/v4/maintenances", body=largest_maintenance()).status == 201
    stored = store.get(keys.maintenance_key(1))
    assert stored is not None
    clones = [{**stored, "id": n} for n in range(2, copies + 1)]  # as the API stored it
    store.batch_write(puts=[{**c, **maintenance_index_attributes(c)} for c in clones])
    response = call("GET", "/api/v4/maintenances")
    assert (response.status, response.json) == (
        400,
        bad_request(
            "The listing is too large for one response: use the page and limit query parameters"
        ),
    )
    paged = call("GET", "/api/v4/maintenances", query={"page": "2", "limit": str(limit)})
    assert paged.status == 200
    assert [m["id"] for m in paged.json["maintenances"]] == list(range(copies - limit, 0, -1))
    assert (paged.json["page"], paged.json["limit"], paged.json["total"]) == (2, limit, copies)
    assert lambda_payload_size(paged) < LAMBDA_RESPONSE_LIMIT
    # A client that accepts gzip gets the whole listing in one compressed response.
    zipped = call("GET", "/api/v4/maintenances", headers={"accept-encoding": "gzip, deflate"})
    assert zipped.status == 200
    assert zipped.raw["headers"]["Content-Encoding"] == "gzip"
    listing = json.loads(gzip.decompress(base64.b64decode(zipped.raw["body"])))
    assert len(listing["maintenances"]) == copies
    assert lambda_payload_size(zipped) < LAMBDA_RESPONSE_LIMIT


@pytest.mark.slow
def test_an_unpaged_listing_too_large_for_lambda_is_a_400_naming_the_paging_parameters(
    call: Caller, clock: Any, store: Store, without_window_index: None
) -> None:
    """At full size: 130 of the largest maintenance are more than Lambda can return."""
    unpaged_listing_too_large(call, store, 130, 100)


def test_an_unpaged_listing_over_the_limit_is_a_400_at_a_tenth_of_the_size(
    call: Caller,
    clock: Any,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    without_window_index: None,
) -> None:
    """The same rule, quick: moto takes ~30 s to serialise the full-size listing."""
    from maintsvc.edge import http

    monkeypatch.setattr(http, "MAX_PAYLOAD_BYTES", http.MAX_PAYLOAD_BYTES // 10)
    monkeypatch.setattr(http, "PLAIN_BODY_LIMIT", http.PLAIN_BODY_LIMIT // 10)
    unpaged_listing_too_large(call, store, 13, 10)


def test_the_listing_without_paging_keeps_kener_s_shape(call: Caller, clock: Any) -> None:
    create(call)
    assert set(call("GET", "/api/v4/maintenances").json) == {"maintenances"}


# -- audit: every write names the key that made it --------------------------------------------


def test_every_write_logs_the_api_key_name_not_the_key(
    call: Caller, clock: Any, write_key: str
) -> None:
    import logging

    from maintsvc.observability import logger

    lines: list[dict[str, Any]] = []

    class Rendered(logging.Handler):
        """What CloudWatch receives: each record as the service's JSON formatter renders it."""

        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(logger.registered_formatter.format(record)))

    handler = Rendered()
    logger.addHandler(handler)
    level = logger._logger.level
    logger._logger.setLevel(logging.INFO)  # the tests run at WARNING; deployed, INFO
    try:
        m = create(call)
        call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"title": "renamed"})
        call("GET", f"/api/v4/maintenances/{m['id']}")
    finally:
        logger._logger.setLevel(level)
        logger._logger.removeHandler(handler)
    writes = [
        (x["method"], x["status"], x["api_key_name"]) for x in lines if x["message"] == "write"
    ]
    assert writes == [("POST", 201, "writer"), ("PATCH", 200, "writer")]
    assert all(write_key not in json.dumps(x) for x in lines)
