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


# -- 3b. what stops a window from starting leaves no trace in the API ------------------------


def test_a_pause_holds_the_events_without_changing_them_or_their_etags(
    call: Caller, clock: Any, store: Store
) -> None:
    from tests.api.test_consumer_api import etag_of

    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    path = f"/api/v4/maintenances/{m['id']}"
    event_paths = [f"{path}/events/{e['id']}" for e in events_of(call, m["id"])["events"]]
    before = [call("GET", p) for p in event_paths]
    assert call("PATCH", path, body={"status": "INACTIVE"}).status == 200
    stored = store.query("PK = :pk AND begins_with(SK, :e)", {":pk": f"M#{m['id']}", ":e": "E#"})
    assert [e["hold"] for e in stored] == ["INACTIVE", "INACTIVE"]
    after = [call("GET", p) for p in event_paths]
    assert [r.json for r in after] == [r.json for r in before]
    assert [etag_of(r) for r in after] == [etag_of(r) for r in before]
    assert all("hold" not in e for e in events_of(call, m["id"])["events"])
    feed = call("GET", "/api/v4/maintenances/events", query={"maintenance_id": str(m["id"])})
    assert feed.json["total"] == 2 and all("hold" not in e for e in feed.json["events"])


def test_a_delete_answers_only_once_its_open_events_are_gone(
    call: Caller, clock: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No time left to purge: the history and markers wait for the scheduler, the open events
    (which a tick holding an older view could still start) do not."""
    from tests.conftest import load_function

    m = create(call, start_date_time=NOW - 600, rrule="FREQ=DAILY;COUNT=3", duration_seconds=3600)
    run_tick(store, load_settings(), NOW)  # the first window is ONGOING
    monkeypatch.setattr(load_function("maintenances"), "DELETE_RESERVE_MILLIS", 10**9)
    assert call("DELETE", f"/api/v4/maintenances/{m['id']}").status == 200
    left = store.query("PK = :pk", {":pk": f"M#{m['id']}"})
    assert sorted(i["SK"][:2] for i in left) == ["ME", "O#", "O#", "O#"]


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


# The contract's limit is 10,000 characters, whatever their bytes (a byte limit used to
# refuse these): 3 bytes of UTF-8 each, 4 each, 1 each.
CJK_4000 = "\u7dad\u8b77\u6642\u9593" * 1000
EMOJI_10000 = "\U0001f600" * 10000
LONG_DESCRIPTIONS = {"cjk-4000": CJK_4000, "emoji-10000": EMOJI_10000, "ascii-10000": "x" * 10000}


@pytest.mark.parametrize("description", LONG_DESCRIPTIONS.values(), ids=LONG_DESCRIPTIONS.keys())
def test_descriptions_are_limited_in_characters_not_bytes(
    call: Caller, clock: Any, store: Store, description: str
) -> None:
    from maintsvc.storage import keys

    created = call("POST", "/api/v4/maintenances", body=valid_body(description=description))
    assert created.status == 201
    m = created.json["maintenance"]
    assert m["description"] == description
    got = call("GET", f"/api/v4/maintenances/{m['id']}")
    assert (got.status, got.json["maintenance"]["description"]) == (200, description)
    stored = store.get(keys.maintenance_key(m["id"]))
    assert stored is not None and stored["description"] == description
    changed = "\u05e9" + description[1:]  # still 10,000 characters at most
    patched = call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"description": changed})
    assert (patched.status, patched.json["maintenance"]["description"]) == (200, changed)
    feed = call("GET", "/api/v4/maintenances/events", query={"event_start_date_time": "0"})
    assert feed.status == 200
    assert feed.json["events"][0]["maintenance_description"] == changed


@pytest.mark.parametrize("character", ["x", "\u7dad", "\U0001f600"])
def test_a_description_of_10001_characters_is_the_contract_s_400(
    call: Caller, clock: Any, character: str
) -> None:
    message = bad_request("description must be at most 10000 characters")
    too_long = valid_body(description=character * 10001)
    response = call("POST", "/api/v4/maintenances", body=too_long)
    assert (response.status, response.json) == (400, message)
    m = create(call)
    patched = call(
        "PATCH", f"/api/v4/maintenances/{m['id']}", body={"description": character * 10001}
    )
    assert (patched.status, patched.json) == (400, message)


def test_the_largest_description_is_stored_for_an_idempotent_replay(
    call: Caller, clock: Any
) -> None:
    """The stored response (powertools escapes it to ASCII: 12 bytes an emoji) fits an item."""
    retry = {"Idempotency-Key": "largest"}
    body = largest_maintenance()
    first = call("POST", "/api/v4/maintenances", body=body, headers=retry)
    assert first.status == 201
    replayed = call("POST", "/api/v4/maintenances", body=body, headers=retry)
    assert (replayed.status, replayed.json) == (201, first.json)
    assert replayed.raw["headers"]["Idempotent-Replayed"] == "true"
    assert replayed.json["maintenance"]["description"] == EMOJI_10000


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


# Bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069), each end of
# both ranges; their neighbours and right-to-left text itself are ordinary text.
BIDI_CONTROLS = ["\u202a", "\u202e", "\u2066", "\u2069"]
NOT_BIDI_CONTROLS = ["\u2029", "\u202f", "\u2065", "\u206a"]
RIGHT_TO_LEFT = [
    "\u05ea\u05d7\u05d6\u05d5\u05e7\u05d4 \u05de\u05ea\u05d5\u05db\u05e0\u05e0\u05ea",  # Hebrew
    "\u0635\u064a\u0627\u0646\u0629 \u0645\u062c\u062f\u0648\u0644\u0629",  # Arabic
]


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_controls_are_a_400_naming_the_field(
    call: Caller, clock: Any, store: Store, field: str, control: str
) -> None:
    from maintsvc.storage import keys

    message = bad_request(f"{field} must not contain bidirectional control characters")
    text = f"db {control}1.2 gnikrow"
    response = call("POST", "/api/v4/maintenances", body=valid_body(**{field: text}))
    assert (response.status, response.json) == (400, message)
    m = create(call)
    patched = call("PATCH", f"/api/v4/maintenances/{m['id']}", body={field: control})
    assert (patched.status, patched.json) == (400, message)
    stored = store.get(keys.maintenance_key(m["id"]))
    assert stored is not None and stored["title"] == "Nightly Deploy"
    assert stored.get("description") is None


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize(
    "text",
    [f"a{c}b" for c in NOT_BIDI_CONTROLS] + RIGHT_TO_LEFT,
    ids=[f"U+{ord(c):04X}" for c in NOT_BIDI_CONTROLS] + ["hebrew", "arabic"],
)
def test_neighbours_of_the_bidi_controls_and_right_to_left_text_are_accepted(
    call: Caller, clock: Any, field: str, text: str
) -> None:
    created = create(call, **{field: text})
    assert created[field] == text
    patched = call("PATCH", f"/api/v4/maintenances/{created['id']}", body={field: text + "!"})
    assert (patched.status, patched.json["maintenance"][field]) == (200, text + "!")


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


PAGE_TOO_LARGE = "The page is too large for one response: use a smaller limit"
LISTING_TOO_LARGE = (
    "The listing is too large for one response: use the page and limit query parameters"
)
LONGEST_HOURLY_RULE = "FREQ=HOURLY;BYMINUTE=" + ",".join(["1"] * 2037)  # 4094 characters
# Items of the largest maintenance a page of any route always has room for.
ALWAYS_FITS = 70


def largest_maintenance(**overrides: Any) -> dict[str, Any]:
    """The most bytes the API accepts: every field at its limit, in its costliest characters
    (astral: 4 bytes of UTF-8, 5.3 as base64, 12 as a JSON escape; a quote or backslash
    costs 2 bytes in JSON, 4 in JSON in JSON)."""
    largest = {
        "title": "\U0001f600" * 255,
        "description": EMOJI_10000,
        "monitors": [
            {"monitor_tag": f"{n:02d}" + "x" * 98, "impact": "DEGRADED"} for n in range(100)
        ],
    }
    return valid_body(**{**largest, **overrides})


def test_a_feed_of_the_largest_maintenances_fits_or_is_a_400_naming_limit(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch, without_window_index: None
) -> None:
    """100 feed items of the largest maintenance are ~5.9 MB of JSON: more than Lambda
    returns as base64. The page is the documented 400, never a 5xx; a smaller limit or gzip
    gets it."""
    monkeypatch.setenv("MAX_FUTURE_EVENTS", "60")  # 120 events: more than a page of 100
    descriptions = [EMOJI_10000, "\U0001f601" * 10000]
    for description in descriptions:
        body = largest_maintenance(
            start_date_time=NOW + 60,
            rrule=LONGEST_HOURLY_RULE,
            duration_seconds=60,
            description=description,
        )
        assert call("POST", "/api/v4/maintenances", body=body).status == 201
    feed = "/api/v4/maintenances/events"
    too_large = call("GET", feed, query={"limit": "100"})
    assert (too_large.status, too_large.json) == (400, bad_request(PAGE_TOO_LARGE))
    fits = call("GET", feed, query={"limit": str(ALWAYS_FITS)})
    assert fits.status == 200
    assert (fits.json["page"], fits.json["limit"], fits.json["total"]) == (1, ALWAYS_FITS, 120)
    assert len(fits.json["events"]) == ALWAYS_FITS
    assert {e["maintenance_description"] for e in fits.json["events"]} == set(descriptions)
    assert lambda_payload_size(fits) < LAMBDA_RESPONSE_LIMIT
    zipped = call("GET", feed, query={"limit": "100"}, headers={"accept-encoding": "gzip"})
    assert zipped.status == 200
    assert len(json.loads(gzip.decompress(base64.b64decode(zipped.raw["body"])))["events"]) == 100
    assert lambda_payload_size(zipped) < LAMBDA_RESPONSE_LIMIT


def test_the_largest_maintenance_fits_every_single_resource_answer(
    call: Caller, clock: Any
) -> None:
    body = largest_maintenance(rrule=LONGEST_HOURLY_RULE.replace("HOURLY", "YEARLY"))
    created = call("POST", "/api/v4/maintenances", body=body)
    assert created.status == 201
    path = f"/api/v4/maintenances/{created.json['maintenance']['id']}"
    patched = call("PATCH", path, body={"title": "\U0001f601" * 255})
    for response in (created, call("GET", path), patched):
        assert response.status in (200, 201)
        assert response.json["maintenance"]["description"] == EMOJI_10000
        # Sent as text (under 1 MB), where each emoji is a 12-byte escape: still far below.
        assert lambda_payload_size(response) < LAMBDA_RESPONSE_LIMIT / 20


def test_an_answer_too_large_for_lambda_is_a_400_not_a_5xx(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every route's answer is measured (the monitor route's `events` are unpaged); one that
    Lambda would refuse, failing the invocation, is a 400 instead."""
    from maintsvc.edge import http

    m = create(call, description=EMOJI_10000)
    monkeypatch.setattr(http, "MAX_PAYLOAD_BYTES", 10_000)
    response = call("GET", f"/api/v4/maintenances/{m['id']}")
    assert (response.status, response.json) == (
        400,
        bad_request("The answer is too large for one response"),
    )


def unpaged_listing_too_large(call: Caller, store: Store, copies: int, limit: int) -> None:
    """`copies` of the largest maintenance: unpaged is a 400, so is a full page of `limit`;
    the last page and gzip fit."""
    from maintsvc.storage import keys
    from maintsvc.storage.items import maintenance_index_attributes

    assert call("POST", "/api/v4/maintenances", body=largest_maintenance()).status == 201
    stored = store.get(keys.maintenance_key(1))
    assert stored is not None
    clones = [{**stored, "id": n} for n in range(2, copies + 1)]  # as the API stored it
    store.batch_write(puts=[{**c, **maintenance_index_attributes(c)} for c in clones])
    response = call("GET", "/api/v4/maintenances")
    assert (response.status, response.json) == (400, bad_request(LISTING_TOO_LARGE))
    full_page = call("GET", "/api/v4/maintenances", query={"page": "1", "limit": str(limit)})
    assert (full_page.status, full_page.json) == (400, bad_request(PAGE_TOO_LARGE))
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


@pytest.mark.slow
def test_a_crowded_tag_of_the_largest_maintenances_answers_within_the_limit(
    call: Caller,
    clock: Any,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    without_window_index: None,
) -> None:
    """110 overlapping windows of the largest accepted maintenance on one tag were ~6.4 MB:
    a Lambda ResponseSizeTooLarge, a 500 at the gateway. The route lists the 50 most severe
    (~3 MB) with events_total and truncated; were a response still too large, the one size
    guard answers a 400, never a 5xx."""
    from maintsvc.derived import monitor_windows
    from maintsvc.storage.access import window_items

    tag = "00" + "x" * 98
    for _ in range(110):
        body = largest_maintenance(
            start_date_time=NOW + 60, rrule=LONGEST_HOURLY_RULE.replace("HOURLY", "DAILY"),
            duration_seconds=3600,
        )  # fmt: skip
        created = call("POST", "/api/v4/maintenances", body=body)
        assert created.status == 201
        mid = created.json["maintenance"]["id"]
        event = call("GET", f"/api/v4/maintenances/{mid}/events", query={"limit": "1"}).json
        first = event["events"][0]
        window = window_items.window(
            mid, first["id"], first["start_date_time"], first["end_date_time"]
        )
        assert window_items.file_in_bucket(store, tag, window)
    at = NOW + 600
    answer = call("GET", f"/api/v4/monitors/{tag}/maintenance", query={"at": str(at)})
    assert answer.status == 200
    assert (answer.json["events_total"], answer.json["truncated"]) == (110, True)
    assert len(answer.json["events"]) == 50
    assert len(answer.text.encode()) < 3_500_000
    monkeypatch.setattr(monitor_windows, "MAX_LISTED_EVENTS", 1000)
    uncapped = call("GET", f"/api/v4/monitors/{tag}/maintenance", query={"at": str(at)})
    assert (uncapped.status, uncapped.json) == (
        400,
        {"error": {"code": "BAD_REQUEST", "message": "The answer is too large for one response"}},
    )
