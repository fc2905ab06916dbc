"""The global feed at scale: pages that cost the same however many events match, and a
`total` from counters the stream keeps, exact after every kind of write."""

from collections.abc import Callable
from typing import Any

import pytest

from devtools.itemsread import ItemsRead
from devtools.seeding import seed_due_events
from tests.api.test_events_api import create
from tests.conftest import NOW, Caller, LambdaContext, load_function

FEED = "/api/v4/maintenances/events"
DAY = 86_400
STATUSES = ("SCHEDULED", "READY", "ONGOING", "COMPLETED", "CANCELLED")


def feed(call: Caller, **query: str) -> dict[str, Any]:
    response = call("GET", FEED, query=query or None)
    assert response.status == 200, response
    body: dict[str, Any] = response.json
    return body


def every_event(call: Caller) -> list[dict[str, Any]]:
    """Every stored event, read maintenance by maintenance (the ground truth)."""
    listed = call("GET", "/api/v4/maintenances").json["maintenances"]
    events: list[dict[str, Any]] = []
    for m in listed:
        page = 1
        while True:
            query = {"limit": "100", "page": str(page)}
            body = call("GET", f"/api/v4/maintenances/{m['id']}/events", query=query).json
            events += body["events"]
            if page * 100 >= body["total"]:
                break
            page += 1
    return events


def expected_feed(events: list[dict[str, Any]], start: int, status: str | None) -> list[int]:
    chosen = [
        e
        for e in events
        if e["start_date_time"] >= start and (status is None or e["status"] == status)
    ]
    return [e["id"] for e in sorted(chosen, key=lambda e: (e["start_date_time"], e["id"]))]


def feed_ids(call: Caller, start: int, status: str | None, limit: int) -> tuple[list[int], int]:
    """Every page of the feed from `start`, concatenated, and the total each page gave."""
    ids: list[int] = []
    totals = set()
    page = 1
    while True:
        query = {"event_start_date_time": str(start), "limit": str(limit), "page": str(page)}
        if status:
            query["event_status"] = status
        body = feed(call, **query)
        totals.add(body["total"])
        ids += [e["event_id"] for e in body["events"]]
        if not body["events"]:
            break
        page += 1
    assert len(totals) == 1, totals
    return ids, totals.pop()


def tick(at: int, clock: Callable[[int], None]) -> None:
    clock(at)
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    load_function("scheduler").lambda_handler(scheduled, LambdaContext())


def assert_feed_matches_the_events(call: Caller, starts: list[int]) -> None:
    events = every_event(call)
    for start in starts:
        for status in (None, *STATUSES):
            ids, total = feed_ids(call, start, status, limit=10)
            wanted = expected_feed(events, start, status)
            assert (ids, total) == (wanted, len(wanted)), (start, status)


def test_pages_and_totals_match_the_events_after_every_kind_of_write(
    call: Caller, clock: Callable[[int], None]
) -> None:
    hourly = create(
        call, start_date_time=NOW - 1800, rrule="FREQ=HOURLY;COUNT=40", duration_seconds=900
    )
    create(call, start_date_time=NOW + 120, rrule="FREQ=MINUTELY;COUNT=30", duration_seconds=30)
    # Far apart: counters of several top-level buckets (2^24 s, about 194 days) and years.
    yearly = create(
        call, start_date_time=NOW + 3600, rrule="FREQ=MONTHLY;COUNT=30", duration_seconds=60
    )
    doomed = create(call, start_date_time=NOW + 7200, rrule="FREQ=DAILY", duration_seconds=60)
    tick(NOW + 600, clock)  # READY, ONGOING and COMPLETED events appear
    events = call("GET", f"/api/v4/maintenances/{hourly['id']}/events").json["events"]
    path = f"/api/v4/maintenances/{hourly['id']}/events"
    assert call("PATCH", f"{path}/{events[3]['id']}", body={"status": "CANCELLED"}).status == 200
    moved = {"start_date_time": NOW + 400 * DAY, "end_date_time": NOW + 400 * DAY + 60}
    assert call("PATCH", f"{path}/{events[4]['id']}", body=moved).status == 200
    assert call("DELETE", f"{path}/{events[5]['id']}").status == 200
    assert call("PATCH", f"/api/v4/maintenances/{yearly['id']}", body={"duration_seconds": 120})
    assert call("DELETE", f"/api/v4/maintenances/{doomed['id']}").status == 200
    tick(NOW + 5400, clock)
    assert_feed_matches_the_events(call, [0, NOW + 3000, NOW + 200 * DAY, NOW + 399 * DAY])


def test_a_page_deep_in_the_feed_skips_whole_buckets_unread(
    call: Caller, clock: Callable[[int], None], items_read: ItemsRead
) -> None:
    create(call, start_date_time=NOW + 60, rrule="FREQ=HOURLY", duration_seconds=60)
    assert feed(call)["total"] == 500  # about seven 3-day feed buckets
    items_read.items = 0
    body = feed(call, page="20", limit="20")  # events 381-400
    assert [e["event_start_date_time"] for e in body["events"]] == [
        NOW + 60 + n * 3600 for n in range(380, 400)
    ]
    assert body["total"] == 500
    # Counters (at most one 4096 s bucket per hour of the first 3 days, and a few more),
    # the rest of the page's bucket and one maintenance: not the 400 events up to the page.
    assert items_read.items <= 160


def page_one(call: Caller, items_read: ItemsRead, query: dict[str, str]) -> tuple[int, int]:
    """Items one feed page read, and how many maintenances its events belong to."""
    feed(call, **query)  # the stream reaches the indexer before this is counted
    items_read.items = 0
    body = feed(call, **query)
    assert len(body["events"]) == 20
    return items_read.items, len({e["maintenance_id"] for e in body["events"]})


def feed_page_costs(
    call: Caller, store: Any, items_read: ItemsRead, query: dict[str, str], scales: list[int]
) -> list[tuple[int, int]]:
    costs = []
    for maintenances in scales:
        seed_due_events(store, maintenances, 30, NOW + 60)  # the same times, more events
        assert feed(call, **query)["total"] == maintenances * 30
        costs.append(page_one(call, items_read, query))
    return costs


@pytest.mark.parametrize("query", [{}, {"event_status": "SCHEDULED"}])
def test_a_feed_page_reads_the_same_with_ten_times_the_matches(
    call: Caller, store: Any, items_read: ItemsRead, query: dict[str, str]
) -> None:
    """Counters and events read are the same at every scale; only the page's own maintenances
    (one item each, at most one per event shown) differ: 3 at 1x, 20 at 10x."""
    (small, small_ms), (large, large_ms) = feed_page_costs(call, store, items_read, query, [3, 30])
    assert (small_ms, large_ms) == (3, 20)
    assert large - large_ms == small - small_ms  # counters + the page's 20 events
    assert small - small_ms <= 30


@pytest.mark.slow
def test_a_feed_page_reads_the_same_with_a_hundred_times_the_matches(
    call: Caller, store: Any, items_read: ItemsRead
) -> None:
    (_, _), (large, large_ms), (huge, huge_ms) = feed_page_costs(
        call, store, items_read, {}, [3, 30, 300]
    )
    assert (huge, huge_ms) == (large, large_ms)


def test_a_retried_stream_batch_is_counted_once(
    call: Caller, clock: Callable[[int], None], store: Any, sandbox: Any
) -> None:
    from maintsvc.derived.feed_counters import count_stream_batch

    create(call, start_date_time=NOW + 60, rrule="FREQ=MINUTELY;COUNT=200", duration_seconds=30)
    assert feed(call)["total"] == 200
    records = [
        r for r in _stream_as_lambda(sandbox) if r["dynamodb"]["Keys"]["SK"]["S"].startswith("E#")
    ]
    assert len(records) == 200
    # The same batch again (Lambda's retry): every chunk's marker exists, nothing is added.
    assert count_stream_batch(store, records, NOW) == 0
    assert feed(call)["total"] == 200


def _stream_as_lambda(sandbox: Any) -> list[dict[str, Any]]:
    """Every stream record of the test so far, as the indexer received them."""
    from moto.dynamodb.models import dynamodb_backends

    from devtools.template import ACCOUNT_ID
    from devtools.triggers import lambda_record
    from tests.conftest import REGION, TABLE

    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(TABLE)
    return [lambda_record(r.to_json(), "arn") for r in table.stream_shard.items]


def test_a_batch_that_failed_part_way_is_counted_once_when_retried(
    call: Caller, clock: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 events touch more counters than one transaction holds; the second transaction
    fails once, Lambda retries the batch, and the chunk already written is not re-added."""
    from maintsvc.derived import feed_counters

    real = feed_counters._count_once
    calls = []

    def fail_second(store: Any, records: Any, expires_at: int) -> int:
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("throttled")
        return real(store, records, expires_at)

    monkeypatch.setattr(feed_counters, "_count_once", fail_second)
    create(call, start_date_time=NOW + 60, rrule="FREQ=MINUTELY;COUNT=200", duration_seconds=30)
    feed(call)  # the batch failed on its way to this request: the request read what was there
    assert feed(call)["total"] == 200  # delivered again before this one
    chunks = len(calls) - 2  # the first chunk was offered twice, the failed one too
    assert chunks >= 3
    body = feed(call, event_start_date_time=str(NOW + 60 + 100 * 60), limit="100")
    assert body["total"] == 100
    assert body["events"][0]["event_start_date_time"] == NOW + 60 + 100 * 60


def test_maintctl_recount_feed_repairs_counters_that_missed_records(
    call: Caller, clock: Callable[[int], None], store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from devtools import maintctl
    from maintsvc.storage import keys
    from maintsvc.storage.access import feed_items

    create(call, start_date_time=NOW - 1800, rrule="FREQ=HOURLY;COUNT=30", duration_seconds=900)
    doomed = create(call, start_date_time=NOW + 60, rrule="FREQ=DAILY", duration_seconds=60)
    tick(NOW + 600, clock)
    feed(call)  # counted
    # Lost records: one counter too high, a whole level-3 counter gone; a purge half done.
    store.transact([feed_items.add_to_counter(keys.count_key(0, NOW + 3600), {"READY": 5})])
    store.delete(keys.count_key(3, NOW))
    assert call("DELETE", f"/api/v4/maintenances/{doomed['id']}").status == 200
    feed(call)  # quiet: the indexer has caught up with the stream
    assert maintctl.main(["recount-feed", "--settle", "0"]) == 0
    fixed = capsys.readouterr().out
    assert fixed.endswith(" counter items rewritten in table maintenance-windows-test\n")
    assert not fixed.startswith("0 ")
    assert_feed_matches_the_events(call, [0, NOW + 3000])
    assert maintctl.main(["recount-feed", "--settle", "0"]) == 0
    assert capsys.readouterr().out.startswith("0 counter items rewritten")  # nothing left
