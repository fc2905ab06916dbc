"""An event's `sequence`: how many writes moved it, ended it early or cancelled it.

It is kept by the write that makes the change (an `ADD` in the same conditional
UpdateItem), whoever makes it; writes that change nothing a calendar shows leave it.
"""

from typing import Any

from tests.conftest import NOW, Caller, LambdaContext, load_function, valid_body

DAY = 86400


def stored(store: Any, maintenance_id: int, event_id: int) -> dict[str, Any]:
    from maintsvc.storage import keys

    item = store.get(keys.event_key(maintenance_id, event_id))
    assert item is not None
    return dict(item)


def tick(clock: Any, at: int) -> None:
    clock(at)
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    load_function("scheduler").lambda_handler(scheduled, LambdaContext())


def test_moves_and_cancellations_count_status_changes_do_not(
    call: Caller, clock: Any, store: Any
) -> None:
    created = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(start_date_time=NOW + 3600, rrule="FREQ=DAILY;COUNT=2"),
    ).json["maintenance"]
    first, second = call("GET", f"/api/v4/maintenances/{created['id']}/events").json["events"]
    path = f"/api/v4/maintenances/{created['id']}/events/{first['id']}"
    assert "sequence" not in stored(store, created["id"], first["id"])  # created: none yet

    move = {"start_date_time": NOW + 7200, "end_date_time": NOW + 9000}
    assert call("PATCH", path, body=move).status == 200
    assert stored(store, created["id"], first["id"])["sequence"] == 1
    assert call("PATCH", path, body=move).status == 200  # the same times: nothing written
    assert stored(store, created["id"], first["id"])["sequence"] == 1
    # READY, ONGOING and COMPLETED at the planned end: the scheduler's, not counted.
    for at in (NOW + 7200 - 300, NOW + 7200, NOW + 9000):
        tick(clock, at)
    item = stored(store, created["id"], first["id"])
    assert (item["status"], item["sequence"]) == ("COMPLETED", 1)

    other = f"/api/v4/maintenances/{created['id']}/events/{second['id']}"
    assert call("PATCH", other, body={"status": "CANCELLED"}).status == 200
    assert stored(store, created["id"], second["id"])["sequence"] == 1
    # The answer and the ETag show the resource only: the counter stays internal.
    shown = call("GET", other)
    assert "sequence" not in shown.json["event"]


def test_an_early_end_counts(call: Caller, clock: Any, store: Any) -> None:
    created = call(
        "POST",
        "/api/v4/maintenances",
        body=valid_body(
            start_date_time=NOW - 600, rrule="FREQ=DAILY;COUNT=1", duration_seconds=3600
        ),
    ).json["maintenance"]
    (event,) = call("GET", f"/api/v4/maintenances/{created['id']}/events").json["events"]
    path = f"/api/v4/maintenances/{created['id']}/events/{event['id']}"
    assert call("PATCH", path, body={"status": "COMPLETED"}).status == 200
    item = stored(store, created["id"], event["id"])
    assert (item["status"], item["end_date_time"], item["sequence"]) == ("COMPLETED", NOW, 1)
