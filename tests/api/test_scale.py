"""Read cost that does not grow with history (the Scale issue), counted in items DynamoDB reads."""

from typing import Any

from devtools.itemsread import ItemsRead
from tests.api.test_events_api import create, events_of
from tests.conftest import NOW, Caller


def page_two_cost(call: Caller, maintenance_id: int, recorder: ItemsRead) -> int:
    recorder.items = 0
    body = events_of(call, maintenance_id, page="2", limit="20")
    assert len(body["events"]) == 20
    return recorder.items - 1  # the API key look-up is cached after the first call


def test_an_events_page_reads_the_same_with_ten_times_the_events(
    call: Caller, clock: Any, items_read: ItemsRead
) -> None:
    small = create(
        call, start_date_time=NOW + 60, rrule="FREQ=HOURLY;COUNT=50", duration_seconds=60
    )
    large = create(call, start_date_time=NOW + 60, rrule="FREQ=HOURLY", duration_seconds=60)
    assert events_of(call, large["id"])["total"] == 500
    small_cost = page_two_cost(call, small["id"], items_read)
    large_cost = page_two_cost(call, large["id"], items_read)
    assert large_cost <= 1.5 * small_cost
    assert large_cost <= 41  # the maintenance + the 40 events up to the page's end


def test_the_events_total_follows_deletes_and_schedule_changes(call: Caller, clock: Any) -> None:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY", duration_seconds=600)
    first = events_of(call, m["id"])["events"][0]
    assert call("DELETE", f"/api/v4/maintenances/{m['id']}/events/{first['id']}").status == 200
    assert events_of(call, m["id"])["total"] == 29
    assert (
        call("PATCH", f"/api/v4/maintenances/{m['id']}", body={"duration_seconds": 900}).status
        == 200
    )
    body = events_of(call, m["id"], limit="100")
    assert body["total"] == len(body["events"]) == 30
    past_the_end = events_of(call, m["id"], page="99")
    assert (past_the_end["events"], past_the_end["total"]) == ([], 30)


def add_history(store: Any, maintenance_id: int, events: int, first_id: int) -> None:
    """`events` COMPLETED daily windows before NOW, with their markers: history that was
    there before the test, put into moto as a restore (no stream records to index)."""
    from moto.dynamodb.models import dynamodb_backends

    from devtools.localaws import load_items
    from devtools.template import ACCOUNT_ID
    from maintsvc.storage.items import event_item, marker_item
    from maintsvc.storage.store import to_item
    from tests.conftest import REGION, TABLE

    items = []
    for n in range(events):
        start = NOW - (n + 1) * 86_400
        event_id = first_id + n
        event = event_item(
            maintenance_id, event_id, start, start, start + 600, "COMPLETED", 1, "x", 300
        )
        items += [event, marker_item(maintenance_id, start, event_id, 1)]
    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(TABLE)
    assert load_items(table, [to_item(item) for item in items]) == 2 * events


def schedule_change_and_pause_cost(
    call: Caller, store: Any, items_read: ItemsRead, history: int
) -> list[int]:
    m = create(call, start_date_time=NOW + 3600, rrule="FREQ=DAILY", duration_seconds=600)
    add_history(store, m["id"], history, 1_000_000)
    path = f"/api/v4/maintenances/{m['id']}"
    costs = []
    for change in ({"duration_seconds": 900}, {"status": "INACTIVE"}, {"status": "ACTIVE"}):
        items_read.items = 0
        assert call("PATCH", path, body=change).status == 200
        costs.append(items_read.items)

    def feed_from(start: int) -> dict[str, Any]:
        query = {"maintenance_id": str(m["id"]), "event_start_date_time": str(start)}
        body: dict[str, Any] = call(
            "GET", "/api/v4/maintenances/events", query={**query, "limit": "50"}
        ).json
        return body

    for event_id in (1_000_000, 1_000_000 + history - 1):  # the history is there, untouched
        event = call("GET", f"{path}/events/{event_id}").json["event"]
        assert (event["status"], event["end_date_time"] - event["start_date_time"]) == (
            "COMPLETED",
            600,
        )
    future = feed_from(NOW)
    assert future["total"] == 30  # regenerated at the new duration
    assert all(
        e["event_end_date_time"] - e["event_start_date_time"] == 900 for e in future["events"]
    )
    return costs


def test_a_schedule_change_and_a_pause_read_the_same_with_ten_times_the_history(
    call: Caller, clock: Any, store: Any, items_read: ItemsRead
) -> None:
    """They read the open events and the markers a new plan can meet, never the history."""
    small = schedule_change_and_pause_cost(call, store, items_read, 40)
    large = schedule_change_and_pause_cost(call, store, items_read, 400)
    assert large == small, (small, large)
