"""Materialisation: stored events against dateutil, DST, and races (docs/behaviour.md §4)."""

import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localaws import MotoSandbox
from maintsvc.config import load_settings
from maintsvc.lifecycle.materialise import materialise_occurrences
from maintsvc.resources.maintenances import create_maintenance, update_maintenance
from maintsvc.storage import keys
from maintsvc.storage.store import Store
from tests.conftest import NOW, property_examples

DAY = 86400


def stored(store: Store, maintenance_id: int) -> list[dict[str, Any]]:
    return store.query(
        "PK = :pk", {":pk": keys.maintenance_pk(maintenance_id)}, index="LSI1", consistent=True
    )


def body(**fields: Any) -> dict[str, Any]:
    return {"title": "t", "start_date_time": NOW, "rrule": "FREQ=DAILY",
            "duration_seconds": 3600, **fields}  # fmt: skip


RULES = st.builds(
    lambda freq, interval, count, byhour: ";".join(
        part
        for part in (
            f"FREQ={freq}",
            f"INTERVAL={interval}",
            f"COUNT={count}" if count else "",
            f"BYHOUR={byhour}" if byhour is not None and freq != "HOURLY" else "",
        )
        if part
    ),
    st.sampled_from(["HOURLY", "DAILY", "WEEKLY", "MONTHLY"]),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 60)),
    st.one_of(st.none(), st.integers(0, 23)),
)


@pytest.mark.property
@settings(
    max_examples=property_examples(25), deadline=None, suppress_health_check=list(HealthCheck)
)
@given(
    rule=RULES,
    start_offset=st.integers(-90 * DAY, 40 * DAY).map(lambda s: s - s % 60),
    duration=st.integers(1, 3 * DAY),
    cap=st.integers(1, 60),
)
def test_stored_events_equal_dateutil_within_horizon_and_cap(
    aws: None, sandbox: MotoSandbox, rule: str, start_offset: int, duration: int, cap: int
) -> None:
    import os

    sandbox.reset()  # each example its own table: none grows with the examples before it
    os.environ["MAX_FUTURE_EVENTS"] = str(cap)
    try:
        store = Store(load_settings().table_name)
        config = load_settings()
        start = NOW + start_offset
        created = create_maintenance(
            store, config, body(rrule=rule, start_date_time=start, duration_seconds=duration), NOW
        )
    finally:
        del os.environ["MAX_FUTURE_EVENTS"]
    dtstart = datetime.fromtimestamp(start, UTC).replace(tzinfo=None)
    horizon = NOW + config.horizon_seconds
    expected: list[int] = []
    for moment in rrulestr(rule, dtstart=dtstart):
        ts = int(moment.replace(tzinfo=UTC).timestamp())
        if ts >= horizon or len(expected) == cap:
            break
        if ts + duration > NOW:
            expected.append(ts)
    events = stored(store, created["id"])
    assert [e["start_date_time"] for e in events] == expected
    assert all(e["end_date_time"] - e["start_date_time"] == duration for e in events)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


SUNDAYS_0200 = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0"


@pytest.mark.parametrize(
    ("zone", "first_local", "expected"),
    [
        # Europe/Berlin 2030: clocks go forward on 31 Mar (02:00 does not exist) and back
        # on 27 Oct (02:00 happens twice: the first, CEST, instant counts).
        ("Europe/Berlin", datetime(2030, 3, 24, 2),
         [utc(2030, 3, 24, 1), utc(2030, 3, 31, 1), utc(2030, 4, 7, 0)]),
        ("Europe/Berlin", datetime(2030, 10, 20, 2),
         [utc(2030, 10, 20, 0), utc(2030, 10, 27, 0), utc(2030, 11, 3, 1)]),
        # America/New_York 2030: forward on 10 Mar, back on 3 Nov (01:00-02:00 repeats).
        ("America/New_York", datetime(2030, 3, 3, 2),
         [utc(2030, 3, 3, 7), utc(2030, 3, 10, 7), utc(2030, 3, 17, 6)]),
        ("America/New_York", datetime(2030, 10, 27, 2),
         [utc(2030, 10, 27, 6), utc(2030, 11, 3, 7), utc(2030, 11, 10, 7)]),
    ],
)  # fmt: skip
def test_sundays_at_two_across_dst(
    store: Store, clock: Any, zone: str, first_local: datetime, expected: list[datetime]
) -> None:
    start = int(first_local.replace(tzinfo=ZoneInfo(zone)).timestamp())
    clock(start - 3600)
    m = create_maintenance(
        store, load_settings(), body(rrule=SUNDAYS_0200, start_date_time=start, timezone=zone),
        start - 3600,
    )  # fmt: skip
    starts = [datetime.fromtimestamp(e["start_date_time"], UTC) for e in stored(store, m["id"])]
    assert starts[:3] == expected


def test_half_past_two_on_the_spring_forward_day_moves_by_the_gap(store: Store, clock: Any) -> None:
    zone = ZoneInfo("Europe/Berlin")
    start = int(datetime(2030, 3, 30, 2, 30, tzinfo=zone).timestamp())
    clock(start - 3600)
    m = create_maintenance(
        store, load_settings(),
        body(rrule="FREQ=DAILY;COUNT=3", start_date_time=start, timezone="Europe/Berlin"),
        start - 3600,
    )  # fmt: skip
    starts = [e["start_date_time"] for e in stored(store, m["id"])]
    assert [datetime.fromtimestamp(s, UTC) for s in starts] == [
        datetime(2030, 3, 30, 1, 30, tzinfo=UTC),  # 02:30 CET
        datetime(2030, 3, 31, 1, 30, tzinfo=UTC),  # 02:30 does not exist: 03:30 CEST
        datetime(2030, 4, 1, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


def test_fall_back_takes_the_first_instant(store: Store, clock: Any) -> None:
    zone = ZoneInfo("America/New_York")
    start = int(datetime(2030, 11, 2, 1, 30, tzinfo=zone).timestamp())
    clock(start - 3600)
    m = create_maintenance(
        store, load_settings(),
        body(rrule="FREQ=DAILY;COUNT=2", start_date_time=start, timezone="America/New_York"),
        start - 3600,
    )  # fmt: skip
    second = stored(store, m["id"])[1]["start_date_time"]
    assert datetime.fromtimestamp(second, UTC) == datetime(2030, 11, 3, 5, 30, tzinfo=UTC)  # EDT


def test_two_materialisers_create_each_occurrence_once(
    store: Store, clock: Any, atomic_calls: None
) -> None:
    config = load_settings()
    m = create_maintenance(store, config, body(start_date_time=NOW + 600), NOW)
    item = store.get(keys.maintenance_key(m["id"]))
    assert item is not None
    later = NOW + 5 * DAY  # five new days to add, twice at once
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(
            materialise_occurrences(store, config, dict(item), later)))
        for _ in range(2)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 5
    starts = [e["start_date_time"] for e in stored(store, m["id"])]
    assert len(starts) == len(set(starts)) == 35


def test_patch_racing_a_materialisation_leaves_nothing_stale(
    store: Store, clock: Any, atomic_calls: None
) -> None:
    config = load_settings()
    m = create_maintenance(store, config, body(start_date_time=NOW + 600), NOW)
    stale = store.get(keys.maintenance_key(m["id"]))
    assert stale is not None
    errors: list[BaseException] = []

    def materialise() -> None:
        try:
            for offset in range(0, 10 * DAY, DAY):
                materialise_occurrences(store, config, dict(stale), NOW + offset)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=materialise)
    thread.start()
    update_maintenance(store, config, str(m["id"]), m["id"], {"duration_seconds": 600}, NOW)
    thread.join()
    assert not errors
    events = stored(store, m["id"])
    assert all(e["end_date_time"] - e["start_date_time"] == 600 for e in events)
    assert len(events) == 30
    assert len({e["start_date_time"] for e in events}) == 30


def test_schedule_changes_compare_normalised_values(store: Store, clock: Any) -> None:
    config = load_settings()
    m = create_maintenance(store, config, body(start_date_time=NOW + 600), NOW)
    before = stored(store, m["id"])
    same = {"rrule": " RRULE:FREQ=DAILY", "start_date_time": NOW + 659, "timezone": "UTC"}
    update_maintenance(store, config, str(m["id"]), m["id"], same, NOW)
    assert stored(store, m["id"]) == before
