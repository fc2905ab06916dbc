"""For the systems that act on maintenance: `url`, safe retries (Idempotency-Key) and ETags.

docs/decisions.md ("Links to the status page", "Safe retries", "ETags and If-Match")
says what each does; these tests pin it, round trips included.
"""

from collections import Counter
from datetime import datetime
from typing import Any

import boto3
import pytest

from maintsvc.edge.apikeys import create_api_key
from maintsvc.storage import keys
from maintsvc.storage.store import Store, TransactionCancelled
from tests.conftest import NOW, TABLE, Caller, valid_body

MAINTENANCES = "/api/v4/maintenances"
SITE = "https://status.example.com"


def maintenance_path(maintenance_id: int) -> str:
    return f"{MAINTENANCES}/{maintenance_id}"


def event_path(maintenance_id: int, event_id: int) -> str:
    return f"{MAINTENANCES}/{maintenance_id}/events/{event_id}"


def create(call: Caller, **overrides: Any) -> dict[str, Any]:
    response = call("POST", MAINTENANCES, body=valid_body(**overrides))
    assert response.status == 201, response
    maintenance: dict[str, Any] = response.json["maintenance"]
    return maintenance


def first_event(call: Caller, maintenance_id: int) -> dict[str, Any]:
    response = call("GET", f"{MAINTENANCES}/{maintenance_id}/events")
    assert response.status == 200, response
    event: dict[str, Any] = response.json["events"][0]
    return event


def headers_of(response: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in (response.raw.get("headers") or {}).items()}


def etag_of(response: Any) -> str:
    return headers_of(response)["etag"]


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def maintenance_count(call: Caller) -> int:
    return len(call("GET", MAINTENANCES).json["maintenances"])


def idempotency_records() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [i for i in items if i["PK"]["S"].startswith(f"{keys.IDEMPOTENCY}#")]


def set_number(record: dict[str, Any], attribute: str, value: int) -> None:
    """Change one number of a stored idempotency record (time passing, for powertools)."""
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"PK": record["PK"], "SK": record["SK"]},
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )


# -- url (PUBLIC_SITE_URL) -----------------------------------------------------------------


def test_url_is_present_on_every_resource_with_public_site_url(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_SITE_URL", f" {SITE}/ ")  # trimmed, trailing slash dropped
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    m_url = f"{SITE}/maintenances/{m['id']}?type=maintenance"
    assert m["url"] == m_url
    assert call("GET", maintenance_path(m["id"])).json["maintenance"]["url"] == m_url
    assert call("GET", MAINTENANCES).json["maintenances"][0]["url"] == m_url
    paged = call("GET", MAINTENANCES, query={"page": "1"}).json["maintenances"]
    assert paged[0]["url"] == m_url
    patched = call("PATCH", maintenance_path(m["id"]), body={"title": "Renamed"})
    assert patched.json["maintenance"]["url"] == m_url

    listed = call("GET", f"{MAINTENANCES}/{m['id']}/events").json["events"]
    assert [e["url"] for e in listed] == [f"{SITE}/maintenances/{e['id']}" for e in listed]
    event = listed[0]
    got = call("GET", event_path(m["id"], event["id"])).json["event"]
    assert got["url"] == f"{SITE}/maintenances/{event['id']}"
    cancelled = call("PATCH", event_path(m["id"], event["id"]), body={"status": "CANCELLED"})
    assert cancelled.json["event"]["url"] == got["url"]
    feed = call("GET", f"{MAINTENANCES}/events").json["events"]
    assert [f["url"] for f in feed] == [f"{SITE}/maintenances/{f['event_id']}" for f in feed]
    assert feed


def test_url_is_absent_without_public_site_url(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    event = first_event(call, m["id"])
    bodies = [
        m,
        call("GET", maintenance_path(m["id"])).json["maintenance"],
        *call("GET", MAINTENANCES).json["maintenances"],
        event,
        call("GET", event_path(m["id"], event["id"])).json["event"],
        *call("GET", f"{MAINTENANCES}/events").json["events"],
    ]
    assert not [b for b in bodies if "url" in b]


# -- Idempotency-Key -----------------------------------------------------------------------


def test_a_retried_post_returns_the_same_201_and_creates_one_maintenance(
    call: Caller, clock: Any, trips: Any
) -> None:
    retry = {"Idempotency-Key": "3f6c0e0e-create-weekly-backup"}
    with trips() as first_trips:
        first = call("POST", MAINTENANCES, body=valid_body(), headers=retry)
    clock(NOW + 5)
    with trips() as second_trips:
        second = call("POST", MAINTENANCES, body=valid_body(), headers=retry)
    assert first.status == second.status == 201
    assert second.json == first.json
    assert etag_of(second) == etag_of(first)
    assert "idempotent-replayed" not in headers_of(first)
    assert headers_of(second)["idempotent-replayed"] == "true"
    assert maintenance_count(call) == 1
    # Claim the key, create (2 round trips), store the response; a replay writes nothing.
    assert first_trips == Counter(PutItem=1, UpdateItem=2, TransactWriteItems=1)
    assert second_trips == Counter(PutItem=1)


def test_the_same_key_with_a_different_request_is_422(call: Caller, clock: Any) -> None:
    key = {"Idempotency-Key": "k-1"}
    m = call("POST", MAINTENANCES, body=valid_body(), headers=key).json["maintenance"]
    reused = error(
        "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with a different request"
    )
    other_body = call("POST", MAINTENANCES, body=valid_body(title="Other"), headers=key)
    assert (other_body.status, other_body.json) == (422, reused)
    other_route = call("PATCH", maintenance_path(m["id"]), body={"title": "x"}, headers=key)
    assert (other_route.status, other_route.json) == (422, reused)
    other_precondition = call(
        "POST", MAINTENANCES, body=valid_body(), headers={**key, "If-Match": '"x"'}
    )
    assert other_precondition.status == 422
    # The same JSON value, spelt differently, is the same request.
    spelt = '{ "duration_seconds": 1800, "rrule": "FREQ=DAILY;COUNT=1",\n'
    spelt += f'"start_date_time": {valid_body()["start_date_time"]}, "title": "Nightly Deploy"}}'
    again = call("POST", MAINTENANCES, raw_body=spelt, headers=key)
    assert (again.status, again.json) == (201, {"maintenance": m})
    assert maintenance_count(call) == 1


def test_a_duplicate_while_the_first_still_runs_is_409(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.resources import maintenances

    key = {"Idempotency-Key": "slow-create"}
    real_create = maintenances.create_maintenance
    duplicates: list[Any] = []

    def create_while_a_duplicate_arrives(*args: Any, **kwargs: Any) -> Any:
        if not duplicates:
            duplicates.append(call("POST", MAINTENANCES, body=valid_body(), headers=key))
        return real_create(*args, **kwargs)

    monkeypatch.setattr(maintenances, "create_maintenance", create_while_a_duplicate_arrives)
    first = call("POST", MAINTENANCES, body=valid_body(), headers=key)
    assert first.status == 201
    (duplicate,) = duplicates
    assert (duplicate.status, duplicate.json) == (
        409,
        error(
            "IDEMPOTENCY_IN_PROGRESS",
            "A request with this Idempotency-Key is still in progress; retry it later",
        ),
    )
    after = call("POST", MAINTENANCES, body=valid_body(), headers=key)
    assert (after.status, after.json) == (201, first.json)
    assert maintenance_count(call) == 1


class FunctionDied(BaseException):
    """Lambda stopping the function mid-request: nothing after this point runs."""


def test_a_request_whose_function_died_runs_again_once_its_time_is_up(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.resources import maintenances

    key = {"Idempotency-Key": "dies"}

    def die(*args: Any, **kwargs: Any) -> Any:
        raise FunctionDied

    with monkeypatch.context() as patch:
        patch.setattr(maintenances, "create_maintenance", die)
        with pytest.raises(FunctionDied):
            call("POST", MAINTENANCES, body=valid_body(), headers=key)
    (record,) = idempotency_records()
    assert record["status"]["S"] == "INPROGRESS"
    # It holds the key for the Lambda time the invocation had left (29 s here).
    real_now_ms = datetime.now().timestamp() * 1000
    assert 25_000 < int(record["in_progress_expires_at_ms"]["N"]) - real_now_ms <= 29_000
    assert call("POST", MAINTENANCES, body=valid_body(), headers=key).status == 409
    set_number(record, "in_progress_expires_at_ms", int(real_now_ms) - 1)  # that time is over
    retried = call("POST", MAINTENANCES, body=valid_body(), headers=key)
    assert retried.status == 201 and "idempotent-replayed" not in headers_of(retried)
    assert maintenance_count(call) == 1


def test_keys_are_scoped_to_the_api_key_that_sent_them(
    call: Caller, clock: Any, store: Store
) -> None:
    other = create_api_key(store, "other-writer")
    key = {"Idempotency-Key": "shared-name"}
    mine = call("POST", MAINTENANCES, body=valid_body(), headers=key)
    theirs = call("POST", MAINTENANCES, body=valid_body(title="Theirs"), headers=key, key=other)
    assert (mine.status, theirs.status) == (201, 201)
    assert mine.json["maintenance"]["id"] != theirs.json["maintenance"]["id"]
    assert "idempotent-replayed" not in headers_of(theirs)
    assert maintenance_count(call) == 2
    assert len({r["PK"]["S"] for r in idempotency_records()}) == 2  # a partition per API key


def test_patch_retries_replay_and_write_nothing(call: Caller, clock: Any, trips: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    key = {"Idempotency-Key": "rename-1"}
    first = call("PATCH", maintenance_path(m["id"]), body={"title": "Renamed"}, headers=key)
    tag = etag_of(call("GET", maintenance_path(m["id"])))
    clock(NOW + 60)
    with trips() as replay_trips:
        second = call("PATCH", maintenance_path(m["id"]), body={"title": "Renamed"}, headers=key)
    assert (second.status, second.json) == (200, first.json)
    assert replay_trips == Counter(PutItem=1)
    assert etag_of(call("GET", maintenance_path(m["id"]))) == tag

    event = first_event(call, m["id"])
    cancel = {"status": "CANCELLED"}
    path = event_path(m["id"], event["id"])
    done = call("PATCH", path, body=cancel, headers={"Idempotency-Key": "cancel-1"})
    assert done.status == 200
    # Without the key, cancelling a CANCELLED event is a 400; the retry gets the first answer.
    again = call("PATCH", path, body=cancel, headers={"Idempotency-Key": "cancel-1"})
    assert (again.status, again.json) == (200, done.json)
    assert call("PATCH", path, body=cancel).status == 400


def test_client_errors_are_replayed_but_not_lost_races_or_server_errors(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch, trips: Any
) -> None:
    key = {"Idempotency-Key": "bad-then-same"}
    bad = valid_body(duration_seconds=0)
    first = call("POST", MAINTENANCES, body=bad, headers=key)
    second = call("POST", MAINTENANCES, body=bad, headers=key)
    assert (first.status, second.status, second.json) == (400, 400, first.json)
    assert headers_of(second)["idempotent-replayed"] == "true"

    def lose(self: Store, actions: Any) -> None:
        raise TransactionCancelled(["ConditionalCheckFailed"])

    def explode(self: Store, actions: Any) -> None:
        raise RuntimeError("DynamoDB is down")

    for failure, status in ((lose, 409), (explode, 500)):
        retry = {"Idempotency-Key": f"fails-{status}"}
        with monkeypatch.context() as patch:
            patch.setattr(Store, "transact", failure)
            with trips() as failing_trips:
                failed = call("POST", MAINTENANCES, body=valid_body(), headers=retry)
        assert failed.status == status
        # The claim is dropped again: PutItem, the route's own requests, DeleteItem.
        assert (failing_trips["PutItem"], failing_trips["DeleteItem"]) == (1, 1)
        retried = call("POST", MAINTENANCES, body=valid_body(), headers=retry)
        assert retried.status == 201 and "idempotent-replayed" not in headers_of(retried)


def test_a_replay_is_decoded_for_a_client_that_does_not_accept_gzip(
    call: Caller, clock: Any
) -> None:
    key = {"Idempotency-Key": "big"}
    body = valid_body(description="x" * 5000)
    zipped = call("POST", MAINTENANCES, body=body, headers={**key, "Accept-Encoding": "gzip"})
    assert headers_of(zipped)["content-encoding"] == "gzip"
    plain = call("POST", MAINTENANCES, body=body, headers=key)
    assert "content-encoding" not in headers_of(plain) and not plain.raw["isBase64Encoded"]
    assert plain.json == zipped.json
    assert maintenance_count(call) == 1


def test_records_expire_after_24_hours(call: Caller, clock: Any) -> None:
    key = {"Idempotency-Key": "a-day"}
    call("POST", MAINTENANCES, body=valid_body(), headers=key)
    (record,) = idempotency_records()
    # The table's TTL attribute, in seconds of the real clock (powertools reads datetime).
    real_now = datetime.now().timestamp()
    assert abs(int(record["expires_at"]["N"]) - (real_now + 24 * 3600)) < 120
    set_number(record, "expires_at", int(real_now) - 1)
    later = call("POST", MAINTENANCES, body=valid_body(), headers=key)
    assert later.status == 201 and "idempotent-replayed" not in headers_of(later)
    assert maintenance_count(call) == 2


def test_without_the_header_nothing_changes(call: Caller, clock: Any, trips: Any) -> None:
    with trips() as plain_trips:
        call("POST", MAINTENANCES, body=valid_body())
    assert plain_trips == Counter(UpdateItem=1, TransactWriteItems=1)
    assert not idempotency_records()
    assert "idempotent-replayed" not in headers_of(call("POST", MAINTENANCES, body=valid_body()))


def test_the_header_is_ignored_on_get_and_delete(call: Caller, clock: Any) -> None:
    m = create(call)
    key = {"Idempotency-Key": "reads"}
    assert call("GET", maintenance_path(m["id"]), headers=key).status == 200
    assert call("DELETE", maintenance_path(m["id"]), headers=key).status == 200
    assert call("DELETE", maintenance_path(m["id"]), headers=key).status == 404
    assert not idempotency_records()


@pytest.mark.parametrize("value", ["", "   ", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_400(call: Caller, clock: Any, value: str) -> None:
    response = call("POST", MAINTENANCES, body=valid_body(), headers={"Idempotency-Key": value})
    assert (response.status, response.json) == (
        400,
        error("BAD_REQUEST", "Idempotency-Key must be 1 to 255 printable ASCII characters"),
    )
    assert maintenance_count(call) == 0


def test_authentication_comes_before_the_key(call: Caller, read_key: str) -> None:
    key = {"Idempotency-Key": "k"}
    assert call("POST", MAINTENANCES, body=valid_body(), headers=key, key=None).status == 401
    assert call("POST", MAINTENANCES, body=valid_body(), headers=key, key=read_key).status == 403
    assert not idempotency_records()


# -- ETags ---------------------------------------------------------------------------------


def test_get_returns_an_etag_and_if_none_match_gets_304(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    event = first_event(call, m["id"])
    for path in (maintenance_path(m["id"]), event_path(m["id"], event["id"])):
        got = call("GET", path)
        tag = etag_of(got)
        assert tag.startswith('"') and tag.endswith('"') and len(tag) == 24
        for same in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            cached = call("GET", path, headers={"If-None-Match": same})
            assert cached.status == 304, same
            assert cached.raw["body"] == "" and cached.json is None
            assert etag_of(cached) == tag
        fresh = call("GET", path, headers={"If-None-Match": '"stale"'})
        assert (fresh.status, fresh.json) == (200, got.json)


def test_the_etag_changes_whenever_the_resource_does(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = call("POST", MAINTENANCES, body=valid_body(start_date_time=NOW + 3600))
    m = created.json["maintenance"]
    path = maintenance_path(m["id"])
    tag = etag_of(call("GET", path))
    assert etag_of(created) == tag
    assert etag_of(call("PATCH", path, body={"title": m["title"]})) == tag  # no change
    clock(NOW + 1)
    renamed = call("PATCH", path, body={"title": "Renamed"})
    assert etag_of(renamed) == etag_of(call("GET", path)) != tag
    monkeypatch.setenv("PUBLIC_SITE_URL", SITE)  # the body shows a url now: another tag
    assert etag_of(call("GET", path)) != etag_of(renamed)

    event = first_event(call, m["id"])
    e_path = event_path(m["id"], event["id"])
    e_tag = etag_of(call("GET", e_path))
    clock(NOW + 2)
    cancelled = call("PATCH", e_path, body={"status": "CANCELLED"})
    assert etag_of(cancelled) == etag_of(call("GET", e_path)) != e_tag


def test_if_match_prevents_a_lost_update_of_a_maintenance(call: Caller, clock: Any) -> None:
    m = create(call)
    path = maintenance_path(m["id"])
    alice_tag = etag_of(call("GET", path))
    bob_tag = etag_of(call("GET", path))
    assert alice_tag == bob_tag
    clock(NOW + 1)
    alice = call("PATCH", path, body={"title": "Alice"}, headers={"If-Match": alice_tag})
    assert alice.status == 200
    bob = call("PATCH", path, body={"title": "Bob"}, headers={"If-Match": bob_tag})
    assert (bob.status, bob.json) == (
        412,
        error("PRECONDITION_FAILED", "The maintenance does not match If-Match: it has changed"),
    )
    assert call("GET", path).json["maintenance"]["title"] == "Alice"
    # With the tag Alice's answer carried, Bob's next attempt goes through.
    bob = call("PATCH", path, body={"title": "Bob"}, headers={"If-Match": etag_of(alice)})
    assert bob.status == 200 and bob.json["maintenance"]["title"] == "Bob"


def test_if_match_prevents_a_lost_update_of_an_event(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    path = event_path(m["id"], first_event(call, m["id"])["id"])
    tag = etag_of(call("GET", path))
    clock(NOW + 1)
    moved = {"start_date_time": NOW + 7200, "end_date_time": NOW + 9000}
    assert call("PATCH", path, body=moved, headers={"If-Match": tag}).status == 200
    late = call("PATCH", path, body={"status": "CANCELLED"}, headers={"If-Match": tag})
    assert (late.status, late.json) == (
        412,
        error("PRECONDITION_FAILED", "The event does not match If-Match: it has changed"),
    )
    assert call("GET", path).json["event"]["status"] == "SCHEDULED"


def test_if_match_is_checked_with_the_write_not_before_it(
    call: Caller, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change landing between the PATCH's read (which matched) and its write is a 412."""
    from maintsvc.lifecycle import status_changes
    from maintsvc.resources import maintenances

    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    path = maintenance_path(m["id"])
    tag = etag_of(call("GET", path))
    real_write = maintenances._write_changes

    def someone_else_first(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(maintenances, "_write_changes", real_write)
        clock(NOW + 1)
        assert call("PATCH", path, body={"description": "theirs"}).status == 200
        return real_write(*args, **kwargs)

    monkeypatch.setattr(maintenances, "_write_changes", someone_else_first)
    mine = call("PATCH", path, body={"title": "Mine"}, headers={"If-Match": tag})
    assert mine.status == 412
    assert call("GET", path).json["maintenance"]["title"] == m["title"]

    # An event: the other write only touches updated_at (the same times again).
    event = first_event(call, m["id"])
    e_path = event_path(m["id"], event["id"])
    e_tag = etag_of(call("GET", e_path))
    real_cancel = status_changes.cancel_or_complete  # imported by the PATCH when it runs
    same_times = {
        "start_date_time": event["start_date_time"],
        "end_date_time": event["end_date_time"],
    }

    def touched_first(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(status_changes, "cancel_or_complete", real_cancel)
        clock(NOW + 2)
        assert call("PATCH", e_path, body=same_times).status == 200
        return real_cancel(*args, **kwargs)

    monkeypatch.setattr(status_changes, "cancel_or_complete", touched_first)
    late = call("PATCH", e_path, body={"status": "CANCELLED"}, headers={"If-Match": e_tag})
    assert late.status == 412
    assert call("GET", e_path).json["event"]["status"] == "SCHEDULED"


def test_if_match_on_delete(call: Caller, clock: Any, trips: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    path = maintenance_path(m["id"])
    event = first_event(call, m["id"])
    e_path = event_path(m["id"], event["id"])
    e_tag = etag_of(call("GET", e_path))
    tag = etag_of(call("GET", path))
    clock(NOW + 1)
    call("PATCH", e_path, body={"status": "CANCELLED"})
    call("PATCH", path, body={"title": "Changed"})

    stale = {"If-Match": tag}
    assert call("DELETE", path, headers=stale).status == 412
    assert call("DELETE", e_path, headers={"If-Match": e_tag}).status == 412
    assert call("GET", e_path).status == 200
    current = {"If-Match": etag_of(call("GET", e_path))}
    with trips() as event_trips:
        assert call("DELETE", e_path, headers=current).status == 200
    assert event_trips == Counter(BatchGetItem=1, TransactWriteItems=1)  # as without If-Match
    assert call("GET", e_path).status == 404
    current = {"If-Match": etag_of(call("GET", path))}
    with trips() as delete_trips:
        assert call("DELETE", path, headers=current).status == 200
    # One GetItem more than without If-Match: the state the tag is compared with.
    assert delete_trips["GetItem"] == 1 and delete_trips["UpdateItem"] == 1
    assert call("DELETE", path, headers={"If-Match": "*"}).status == 404  # gone stays 404


def test_if_match_star_and_weak_tags(call: Caller, clock: Any) -> None:
    m = create(call)
    path = maintenance_path(m["id"])
    tag = etag_of(call("GET", path))
    assert call("PATCH", path, body={"title": "Any"}, headers={"If-Match": "*"}).status == 200
    assert (
        call("PATCH", "/api/v4/maintenances/99", body={}, headers={"If-Match": "*"}).status == 404
    )
    clock(NOW + 1)
    current = etag_of(call("GET", path))
    weak = call("PATCH", path, body={"title": "Weak"}, headers={"If-Match": f"W/{current}"})
    assert weak.status == 412  # If-Match compares strongly
    listed = call(
        "PATCH", path, body={"title": "Listed"}, headers={"If-Match": f"{tag}, {current}"}
    )
    assert listed.status == 200
    bare = current.strip('"')  # a tag sent without its quotes is read leniently
    assert call("PATCH", path, body={}, headers={"If-Match": bare}).status == 412  # changed since


def test_if_match_comes_before_body_validation_and_after_404(call: Caller, clock: Any) -> None:
    m = create(call)
    stale = {"If-Match": '"stale"'}
    path = maintenance_path(m["id"])
    assert call("PATCH", path, body={"duration_seconds": 0}, headers=stale).status == 412
    assert call("PATCH", maintenance_path(99), body={"title": "x"}, headers=stale).status == 404
    assert call("PATCH", path, raw_body="{nope", headers=stale).status == 400


def test_conditional_requests_cost_no_extra_round_trip_but_a_checked_delete(
    call: Caller, clock: Any, trips: Any
) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2")
    path = maintenance_path(m["id"])
    e_path = event_path(m["id"], first_event(call, m["id"])["id"])
    tag, e_tag = etag_of(call("GET", path)), etag_of(call("GET", e_path))
    with trips() as get_trips:
        call("GET", path, headers={"If-None-Match": tag})
    with trips() as patch_trips:
        call("PATCH", path, body={"title": "x"}, headers={"If-Match": tag})
    with trips() as event_trips:
        call("PATCH", e_path, body={"status": "CANCELLED"}, headers={"If-Match": e_tag})
    assert get_trips == Counter(GetItem=1)
    assert patch_trips == Counter(GetItem=1, UpdateItem=1)
    assert event_trips == Counter(BatchGetItem=1, UpdateItem=1)
