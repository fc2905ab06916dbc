"""GET /api/v4/monitors/{monitor_tag}/maintenance: is a monitor in maintenance at a second?

The answer comes from the monitor-window index the indexer keeps from the
stream (the `call` fixture runs it before each request), computed from the
windows' times: exact at the second whatever the scheduler has stored.
"""

import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maintsvc.storage import keys
from tests.conftest import NOW, Caller, valid_body

MAINTENANCES = "/api/v4/maintenances"
START = NOW + 3600
DURATION = 1800


@pytest.fixture(autouse=True)
def at_now(clock: Any) -> None:
    """The service's clock at NOW: START is within the horizon."""


def status(call: Caller, tag: str, at: int | str | None = None, **kwargs: Any) -> Any:
    query = None if at is None else {"at": str(at)}
    return call("GET", f"/api/v4/monitors/{tag}/maintenance", query=query, **kwargs)


def state(call: Caller, tag: str, at: int | None = None) -> dict[str, Any]:
    response = status(call, tag, at)
    assert response.status == 200, response
    body: dict[str, Any] = response.json
    return body


def create(call: Caller, monitors: list[dict[str, str]], **overrides: Any) -> dict[str, Any]:
    body = valid_body(
        **{"start_date_time": START, "duration_seconds": DURATION, **overrides},
        monitors=monitors,
    )
    response = call("POST", MAINTENANCES, body=body)
    assert response.status == 201, response
    maintenance: dict[str, Any] = response.json["maintenance"]
    return maintenance


def events_of(call: Caller, maintenance_id: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = call("GET", f"{MAINTENANCES}/{maintenance_id}/events").json[
        "events"
    ]
    return events


def ids(body: dict[str, Any]) -> list[int]:
    return [e["event_id"] for e in body["events"]]


def test_edges_of_a_window(call: Caller) -> None:
    m = create(call, [{"monitor_tag": "db", "impact": "DOWN"}])
    (event,) = events_of(call, m["id"])
    before = state(call, "db")  # `at` defaults to the current second
    assert before["at"] == NOW
    assert (before["in_maintenance"], before["impact"], before["events"]) == (False, None, [])
    assert before["next"]["event_id"] == event["id"]
    assert before["next"]["event_status"] == "SCHEDULED"
    assert state(call, "db", START - 1)["next"]["event_status"] == "READY"
    for at in (START, START + DURATION - 1):
        inside = state(call, "db", at)
        assert (inside["in_maintenance"], inside["impact"]) == (True, "DOWN")
        assert ids(inside) == [event["id"]] and inside["next"] is None
        assert inside["events"][0]["event_status"] == "ONGOING"  # the scheduler has not run
        assert inside["monitor_tag"] == "db" and inside["at"] == at
    after = state(call, "db", START + DURATION)
    assert (after["in_maintenance"], after["impact"], after["events"], after["next"]) == (
        False,
        None,
        [],
        None,
    )
    # The same feed item as the global feed's, but for the status computed at `at`.
    feed = call("GET", f"{MAINTENANCES}/events", query={"maintenance_id": str(m["id"])}).json
    inside = state(call, "db", START)["events"][0]
    assert {**feed["events"][0], "event_status": "ONGOING"} == inside


def test_overlapping_windows_combine_impacts_in_a_fixed_order(call: Caller) -> None:
    hour = 3600
    degraded = create(
        call, [{"monitor_tag": "api", "impact": "DEGRADED"}], duration_seconds=4 * hour
    )
    down = create(
        call,
        [{"monitor_tag": "api", "impact": "DOWN"}],
        start_date_time=START + 600,
        duration_seconds=2 * hour,
    )
    maintenance = create(
        call,
        [{"monitor_tag": "api"}],  # the impact defaults to MAINTENANCE
        start_date_time=START + 1200,
        duration_seconds=600,
    )
    create(call, [{"monitor_tag": "api", "impact": "UP"}], duration_seconds=5 * hour)
    all_three = state(call, "api", START + 1200)
    assert (all_three["in_maintenance"], all_three["impact"]) == (True, "MAINTENANCE")
    assert [e["maintenance_id"] for e in all_three["events"]] == [
        degraded["id"],
        down["id"],
        maintenance["id"],
    ]
    assert state(call, "api", START + 1800)["impact"] == "DOWN"
    assert state(call, "api", START + 3 * hour)["impact"] == "DEGRADED"
    only_up = state(call, "api", START + 4 * hour + 60)  # the UP window alone
    assert (only_up["in_maintenance"], only_up["impact"], only_up["next"]) == (False, None, None)


def test_inactive_maintenance_is_excluded_until_resumed(call: Caller) -> None:
    m = create(call, [{"monitor_tag": "db"}], rrule="FREQ=DAILY;COUNT=3")
    path = f"{MAINTENANCES}/{m['id']}"
    assert state(call, "db", START)["in_maintenance"] is True
    assert call("PATCH", path, body={"status": "INACTIVE"}).status == 200
    paused = state(call, "db", START)
    assert (paused["in_maintenance"], paused["next"]) == (False, None)
    assert call("PATCH", path, body={"status": "ACTIVE"}).status == 200
    resumed = state(call, "db", START)
    assert resumed["in_maintenance"] is True
    assert resumed["next"]["event_start_date_time"] == START + 86400


def test_cancelled_and_moved_events(call: Caller) -> None:
    m = create(call, [{"monitor_tag": "db"}], rrule="FREQ=DAILY;COUNT=3")
    first, second, third = events_of(call, m["id"])
    path = f"{MAINTENANCES}/{m['id']}/events"
    cancel = call("PATCH", f"{path}/{first['id']}", body={"status": "CANCELLED"})
    assert cancel.status == 200
    cancelled = state(call, "db", START)
    assert cancelled["in_maintenance"] is False
    assert cancelled["next"]["event_id"] == second["id"]
    moved_to = START + 10 * 86400
    moved = call(
        "PATCH",
        f"{path}/{second['id']}",
        body={"start_date_time": moved_to, "end_date_time": moved_to + 60},
    )
    assert moved.status == 200
    assert state(call, "db", START + 86400)["in_maintenance"] is False
    assert state(call, "db", START)["next"]["event_id"] == third["id"]
    at_new = state(call, "db", moved_to + 59)
    assert ids(at_new) == [second["id"]]
    assert state(call, "db", moved_to + 60)["in_maintenance"] is False


def test_tags_and_impacts_changed_then_maintenance_deleted(call: Caller) -> None:
    m = create(call, [{"monitor_tag": "db", "impact": "DOWN"}])
    path = f"{MAINTENANCES}/{m['id']}"
    retagged = {"monitors": [{"monitor_tag": "cache", "impact": "DEGRADED"}]}
    assert call("PATCH", path, body=retagged).status == 200
    assert state(call, "db", START)["in_maintenance"] is False
    assert state(call, "cache", START)["impact"] == "DEGRADED"
    assert call("PATCH", path, body={"title": "Renamed"}).status == 200
    assert state(call, "cache", START)["events"][0]["maintenance_title"] == "Renamed"
    up = {"monitors": [{"monitor_tag": "cache", "impact": "UP"}]}
    assert call("PATCH", path, body=up).status == 200
    assert state(call, "cache", START)["in_maintenance"] is False
    back = {"monitors": [{"monitor_tag": "cache", "impact": "MAINTENANCE"}]}
    assert call("PATCH", path, body=back).status == 200
    assert state(call, "cache", START)["impact"] == "MAINTENANCE"
    assert call("DELETE", path).status == 200
    deleted = state(call, "cache", START)
    assert (deleted["in_maintenance"], deleted["next"]) == (False, None)


def test_a_time_zone_rule_at_its_utc_second(call: Caller) -> None:
    """03:00 in Berlin is 02:00 UTC before the DST change of 2030-03-31, 01:00 after it."""
    berlin = ZoneInfo("Europe/Berlin")
    create(
        call,
        [{"monitor_tag": "db"}],
        start_date_time=START,
        timezone="Europe/Berlin",
        rrule="FREQ=DAILY;BYHOUR=3;BYMINUTE=0;COUNT=20",
        duration_seconds=600,
    )
    for day in (18, 31):
        local = int(datetime(2030, 3, day, 3, 0, tzinfo=berlin).timestamp())
        assert state(call, "db", local)["in_maintenance"] is True
        assert state(call, "db", local - 1)["in_maintenance"] is False
        assert state(call, "db", local - 1)["next"]["event_start_date_time"] == local
    after_dst = int(datetime(2030, 4, 1, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp())
    assert state(call, "db", after_dst)["in_maintenance"] is True


def test_a_tag_with_a_slash_is_sent_percent_encoded(call: Caller) -> None:
    create(call, [{"monitor_tag": "eu/db:primary"}])
    body = state(call, "eu%2Fdb%3Aprimary", START)
    assert (body["monitor_tag"], body["in_maintenance"]) == ("eu/db:primary", True)


def test_unknown_tag_is_not_an_error(call: Caller) -> None:
    assert state(call, "nobody") == {
        "monitor_tag": "nobody",
        "at": NOW,
        "in_maintenance": False,
        "impact": None,
        "events": [],
        "events_total": 0,
        "truncated": False,
        "next": None,
    }


@pytest.mark.parametrize("tag", ["-db", "a" * 101, "db%23x", "d%20b"])
def test_bad_tag_is_a_400_naming_monitor_tag(call: Caller, tag: str) -> None:
    response = status(call, tag)
    assert response.status == 400
    assert response.json == {
        "error": {"code": "BAD_REQUEST", "message": "monitor_tag must be a valid monitor tag"}
    }


@pytest.mark.parametrize("at", ["-1", "1.5", "1e9", "abc", "253402300800", "9" * 5000, "0x10"])
def test_bad_at_is_a_400_naming_at(call: Caller, at: str) -> None:
    response = status(call, "db", at)
    assert response.status == 400
    assert response.json == {
        "error": {"code": "BAD_REQUEST", "message": "at must be a valid timestamp (UTC seconds)"}
    }


def test_edge_values_of_at(call: Caller) -> None:
    assert state(call, "db", 0)["at"] == 0
    assert status(call, "db", "253402300799").json["at"] == 253402300799
    assert status(call, "db", "00042").json["at"] == 42


def test_keys(call: Caller, read_key: str) -> None:
    assert status(call, "db", key=read_key).status == 200
    assert status(call, "db", key=None).status == 401


def test_url_with_public_site_url(call: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_SITE_URL", "https://status.example.com")
    create(call, [{"monitor_tag": "db"}], rrule="FREQ=DAILY;COUNT=2")
    body = state(call, "db", START)
    for item in (body["events"][0], body["next"]):
        assert item["url"] == f"https://status.example.com/maintenances/{item['event_id']}"


def test_two_rounds_of_round_trips_whatever_the_number_of_maintenances(
    call: Caller, trips: Any
) -> None:
    """Round one: the buckets (BatchGetItem) and the next windows (Query), at once; round
    two, only when something was found: the windows confirmed against their items."""

    def measured(at: int) -> dict[str, int]:
        with trips() as calls:
            assert status(call, "db", at).status == 200
        return dict(calls)

    assert measured(START) == {"BatchGetItem": 1, "Query": 1}
    for n in range(6):
        create(
            call,
            [{"monitor_tag": "db", "impact": "DOWN"}, {"monitor_tag": f"other{n}"}],
            start_date_time=START + n * 60,
            rrule="FREQ=HOURLY;COUNT=5",
        )
    assert measured(START + 400) == {"BatchGetItem": 2, "Query": 1}
    assert measured(START + 7200) == {"BatchGetItem": 2, "Query": 1}
    assert len(state(call, "db", START + 400)["events"]) == 6


def test_every_window_containing_a_second_is_in_one_of_its_buckets() -> None:
    """The stabbing query's premise, for windows of every scale: one BatchGetItem finds it."""
    rng = random.Random(11)
    for _ in range(2000):
        start = rng.randrange(0, 2**36)
        end = start + rng.choice([1, 2, 3, 60, 1800, 86400, 31_536_000, rng.randrange(1, 2**37)])
        at = rng.randrange(start, end)
        stabbed = keys.stabbing_keys("t", at)
        assert keys.filed_bucket_key("t", start, end) in stabbed
        assert len(stabbed) <= 100  # one BatchGetItem


def file_stale(store: Any, tag: str, mid: int, eid: int, start: int, end: int) -> None:
    """A window the index holds although it is not true (records given up, a bug): filed
    by hand in its bucket and the tag's start order."""
    from maintsvc.storage.access import window_items

    window = window_items.window(mid, eid, start, end)
    assert window_items.file_in_bucket(store, tag, window)
    window_items.write_start_order(store, [(tag, window)], [])


def test_a_window_the_index_holds_is_reported_only_while_it_is_true(
    call: Caller, store: Any
) -> None:
    """Whatever the index holds, the route confirms each window against its event and
    maintenance: cancelled, moved, paused, tag removed, deleted and unknown windows are
    left out, in `events` and in `next`."""
    m = create(call, [{"monitor_tag": "db", "impact": "DOWN"}], rrule="FREQ=DAILY;COUNT=3")
    first, second, third = events_of(call, m["id"])
    path = f"{MAINTENANCES}/{m['id']}"
    assert state(call, "db", START)["in_maintenance"] is True
    # Cancelled, but the index kept it (its stream record was given up).
    call("PATCH", f"{path}/events/{first['id']}", body={"status": "CANCELLED"})
    file_stale(store, "db", m["id"], first["id"], START, START + DURATION)
    body = state(call, "db", START)
    assert (body["in_maintenance"], body["events"], body["events_total"]) == (False, [], 0)
    assert body["next"]["event_id"] == second["id"]
    # Moved an hour later, the old place still filed: only the new place counts.
    moved = START + 86400 + 3600
    call(
        "PATCH",
        f"{path}/events/{second['id']}",
        body={"start_date_time": moved, "end_date_time": moved + DURATION},
    )
    file_stale(store, "db", m["id"], second["id"], START + 86400, START + 86400 + DURATION)
    assert state(call, "db", START + 86400)["in_maintenance"] is False
    assert state(call, "db", START + 86400)["next"]["event_start_date_time"] == moved
    assert ids(state(call, "db", moved)) == [second["id"]]
    # A window of an event that never existed, and one of a maintenance that never existed.
    file_stale(store, "db", m["id"], 999_999, START + 100, START + 200)
    file_stale(store, "db", 888_888, 999_998, START + 100, START + 200)
    assert state(call, "db", START + 150)["in_maintenance"] is False
    # Tag removed: the windows left under "db" are not reported there.
    third_at = third["start_date_time"]
    call("PATCH", path, body={"monitors": [{"monitor_tag": "web", "impact": "DOWN"}]})
    file_stale(store, "db", m["id"], third["id"], third_at, third_at + DURATION)
    assert state(call, "db", third_at)["in_maintenance"] is False
    assert state(call, "web", third_at)["in_maintenance"] is True
    # Paused, then deleted, with the window still filed under "web".
    call("PATCH", path, body={"status": "INACTIVE"})
    file_stale(store, "web", m["id"], third["id"], third_at, third_at + DURATION)
    assert state(call, "web", third_at)["in_maintenance"] is False
    assert state(call, "web", NOW)["next"] is None
    call("PATCH", path, body={"status": "ACTIVE"})
    assert state(call, "web", third_at)["in_maintenance"] is True
    assert call("DELETE", path).status == 200
    file_stale(store, "web", m["id"], third["id"], third_at, third_at + DURATION)
    assert state(call, "web", third_at)["in_maintenance"] is False
    assert state(call, "web", NOW)["next"] is None


def test_events_are_capped_at_fifty_most_severe_kept(call: Caller) -> None:
    """60 overlapping windows on one tag: the 50 listed are the most severe (DOWN before
    DEGRADED, then the earliest), in start order; `events_total` counts all 60, `truncated`
    says some were left out."""

    def overlapping(impact: str, minute: int) -> dict[str, Any]:
        return create(
            call,
            [{"monitor_tag": "db", "impact": impact}],
            start_date_time=START + 60 * minute,
            duration_seconds=7200,
        )

    degraded = [overlapping("DEGRADED", i) for i in range(20)]
    down = [overlapping("DOWN", 20 + i) for i in range(40)]
    body = state(call, "db", START + 3600)
    assert (body["in_maintenance"], body["impact"]) == (True, "DOWN")
    assert (body["events_total"], body["truncated"], len(body["events"])) == (60, True, 50)
    listed = [e["maintenance_id"] for e in body["events"]]
    # Every DOWN window, then the earliest DEGRADED ones; listed in start order.
    assert listed == [m["id"] for m in degraded[:10] + down]
    assert [e["event_start_date_time"] for e in body["events"]] == sorted(
        e["event_start_date_time"] for e in body["events"]
    )
    small = state(call, "db", START + 600)  # 11 windows started: nothing left out
    assert (small["events_total"], small["truncated"], len(small["events"])) == (11, False, 11)


def test_a_retried_stream_batch_changes_nothing(call: Caller, store: Any) -> None:
    """Lambda retries a batch after a failure: applying the same records again, after all
    that followed, leaves the index as it was."""
    from maintsvc.derived.monitor_windows import index_stream_batch
    from tests.test_least_privilege import all_stream_records

    m = create(call, [{"monitor_tag": "db"}], rrule="FREQ=DAILY;COUNT=3")
    first, second, _ = events_of(call, m["id"])
    path = f"{MAINTENANCES}/{m['id']}"
    moved_to = START + 10 * 86400
    call(
        "PATCH",
        f"{path}/events/{second['id']}",
        body={"start_date_time": moved_to, "end_date_time": moved_to + 60},
    )
    call("PATCH", f"{path}/events/{first['id']}", body={"status": "CANCELLED"})
    call("PATCH", path, body={"status": "INACTIVE"})
    call("PATCH", path, body={"status": "ACTIVE", "monitors": [{"monitor_tag": "web"}]})
    seconds = (START, START + 86400, START + 2 * 86400, moved_to)
    before = {(tag, at): state(call, tag, at) for tag in ("db", "web") for at in seconds}
    records = all_stream_records()
    for start in range(0, len(records), 7):  # in other batches than the first time
        index_stream_batch(store, records[start : start + 7])
    assert {(tag, at): state(call, tag, at) for tag in ("db", "web") for at in seconds} == before
    assert before[("web", moved_to)]["in_maintenance"] is True
    assert before[("db", moved_to)]["in_maintenance"] is False


def test_maintctl_files_what_was_written_before_the_index(
    call: Caller, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devtools import maintctl
    from tests.conftest import load_function

    with monkeypatch.context() as patch:  # an indexer that kept only the feed's counters
        patch.setattr(load_function("indexer"), "index_stream_batch", lambda *args: 0)
        create(call, [{"monitor_tag": "db", "impact": "DOWN"}], rrule="FREQ=DAILY;COUNT=2")
        create(call, [{"monitor_tag": "db"}], status="INACTIVE")
        assert state(call, "db", START)["in_maintenance"] is False
    assert maintctl.main(["index-monitors"]) == 0
    assert "Filed 2 and removed 0 monitor windows" in capsys.readouterr().out
    body = state(call, "db", START)
    assert (body["impact"], body["next"]["event_start_date_time"]) == ("DOWN", START + 86400)


def expected_state(call: Caller, tag: str, at: int) -> tuple[list[int], str | None, int | None]:
    """The answer worked out from the API's own resources: (event ids, impact, next id)."""
    windows: list[tuple[int, int, str]] = []
    for m in call("GET", MAINTENANCES).json["maintenances"]:
        impact = next((x["impact"] for x in m["monitors"] if x["monitor_tag"] == tag), None)
        if m["status"] != "ACTIVE" or impact in (None, "UP"):
            continue
        listed = call("GET", f"{MAINTENANCES}/{m['id']}/events", query={"limit": "100"}).json
        for e in listed["events"]:
            if e["status"] != "CANCELLED":
                windows.append((e["start_date_time"], e["id"], impact))
                windows.append((e["end_date_time"], -e["id"], impact))
    starts = {(s, i): imp for s, i, imp in windows if i > 0}
    ends = {-i: s for s, i, _ in windows if i < 0}
    inside = sorted((s, i) for (s, i) in starts if s <= at < ends[i])
    impacts = {starts[w] for w in inside}
    later = sorted((s, i) for (s, i) in starts if s > at)
    order = ("MAINTENANCE", "DOWN", "DEGRADED")
    return (
        [i for _, i in inside],
        next((x for x in order if x in impacts), None),
        later[0][1] if later else None,
    )


SEED = 7


def change_an_event(call: Caller, rng: random.Random, mid: int, action: str) -> None:
    """Cancel or move one of the maintenance's events (if any is left)."""
    events = [e for e in events_of(call, mid) if e["status"] != "CANCELLED"]
    if not events:
        return
    event = f"{MAINTENANCES}/{mid}/events/{rng.choice(events)['id']}"
    if action == "cancel":
        call("PATCH", event, body={"status": "CANCELLED"})
        return
    moved = START + rng.randrange(0, 4 * 3600, 60)
    length = rng.choice([60, 1800, 7200])
    call("PATCH", event, body={"start_date_time": moved, "end_date_time": moved + length})


def test_random_changes_keep_the_index_exact(call: Caller) -> None:
    """Creates, tag and impact changes, pauses, moves, cancels and deletes in a seeded
    random order; after each, the route agrees with the resources at several seconds."""
    rng = random.Random(SEED)
    tags, impacts = ("db", "web"), ("UP", "DOWN", "DEGRADED", "MAINTENANCE")

    def monitors() -> list[dict[str, str]]:
        chosen = rng.sample(tags, rng.randint(1, 2))
        return [{"monitor_tag": t, "impact": rng.choice(impacts)} for t in chosen]

    made = [
        create(
            call,
            monitors(),
            start_date_time=START + rng.randrange(0, 7200, 60),
            duration_seconds=rng.choice([600, 3600, 5400]),
            rrule="FREQ=HOURLY;COUNT=4",
        )["id"]
        for _ in range(4)
    ]
    for step in range(12):
        mid = rng.choice(made)
        path = f"{MAINTENANCES}/{mid}"
        action = rng.choice(["monitors", "status", "move", "cancel", "title"])
        if action == "monitors":
            call("PATCH", path, body={"monitors": monitors()})
        elif action == "status":
            call("PATCH", path, body={"status": rng.choice(["ACTIVE", "INACTIVE"])})
        elif action == "title":
            call("PATCH", path, body={"title": f"step {step}"})
        else:
            change_an_event(call, rng, mid, action)
        if step == 8:
            call("DELETE", f"{MAINTENANCES}/{made.pop()}")
        for at in (START, START + rng.randrange(0, 5 * 3600)):
            for tag in tags:
                body = state(call, tag, at)
                got = (ids(body), body["impact"], body["next"] and body["next"]["event_id"])
                assert got == expected_state(call, tag, at), (step, action, tag, at)
