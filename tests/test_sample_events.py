"""Every payload in events/ runs through its handler, so the samples stay true."""

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, LambdaContext, MotoSandbox, index_stream, load_function

SAMPLES = ROOT / "events"


def sample(name: str, key: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    if key is not None:
        event["headers"]["authorization"] = f"Bearer {key}"
    return event


def test_every_sample_is_covered() -> None:
    names = {p.name for p in Path(SAMPLES).glob("*.json")}
    assert names == {
        "list-maintenances.json", "create-maintenance.json", "get-maintenance.json",
        "list-events.json", "feed.json", "cancel-event.json", "scheduler-tick.json",
        "notifier-status-change.json", "monitor-maintenance.json",
        "bus-maintenance-created.json", "bus-maintenance-updated.json",
        "bus-maintenance-deleted.json", "bus-event-status-changed.json",
    }  # fmt: skip


def test_api_samples_in_order(
    write_key: str, monkeypatch: pytest.MonkeyPatch, sandbox: MotoSandbox
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_767_225_600.0 - 86400)
    maintenances = load_function("maintenances").lambda_handler
    events = load_function("events").lambda_handler
    context = LambdaContext()
    created = maintenances(sample("create-maintenance.json", write_key), context)
    assert created["statusCode"] == 201, created
    for name, handler in [
        ("get-maintenance.json", maintenances),
        ("list-maintenances.json", maintenances),
        ("list-events.json", events),
        ("feed.json", events),
        ("cancel-event.json", events),
    ]:
        response = handler(sample(name, write_key), context)
        assert response["statusCode"] == 200, (name, response)
    cancelled = json.loads(response["body"])["event"]
    assert cancelled["status"] == "CANCELLED"
    index_stream(sandbox)  # the stream reaches the indexer, as it would on AWS
    monitors = load_function("monitors").lambda_handler
    status = monitors(sample("monitor-maintenance.json", write_key), context)
    assert status["statusCode"] == 200, status
    assert json.loads(status["body"])["in_maintenance"] is True


def test_scheduler_sample(store: Any) -> None:
    result = load_function("scheduler").lambda_handler(
        sample("scheduler-tick.json"), LambdaContext()
    )
    assert result["transitions"] == 0 and result["stopped_early"] is False


def test_notifier_sample_publishes(store: Any) -> None:
    result = load_function("notifier").lambda_handler(
        sample("notifier-status-change.json"), LambdaContext()
    )
    assert result == {"batchItemFailures": []}


# -- what subscribers receive: one sample EventBridge event per detail-type ---------------

BUS_SAMPLES = {
    "Maintenance Created": "bus-maintenance-created.json",
    "Maintenance Event Status Changed": "bus-event-status-changed.json",
    "Maintenance Updated": "bus-maintenance-updated.json",
    "Maintenance Deleted": "bus-maintenance-deleted.json",
}


def published_by_the_samples(
    write_key: str, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """The PutEvents entries the notifier sends for the API samples' story: the create
    sample, the cancel sample, a PATCH of the title, the DELETE (Lambda's filters applied)."""
    from devtools.triggers import pattern_matches
    from maintsvc.config import load_settings
    from maintsvc.resources.maintenances import delete_maintenance, update_maintenance
    from maintsvc.storage.store import Store
    from tests.conftest import TEMPLATE
    from tests.scheduler.test_notifications import stream_records

    now = 1_767_225_600 - 86400
    monkeypatch.setattr(time, "time", lambda: float(now))
    context = LambdaContext()
    maintenances = load_function("maintenances").lambda_handler
    assert maintenances(sample("create-maintenance.json", write_key), context)["statusCode"] == 201
    events = load_function("events").lambda_handler
    assert events(sample("cancel-event.json", write_key), context)["statusCode"] == 200
    store = Store(load_settings().table_name)
    monkeypatch.setattr(time, "time", lambda: float(now + 3600))
    body = {"title": "Nightly Deploy (API)"}
    update_maintenance(store, load_settings(), "1", 1, body, now + 3600)
    monkeypatch.setattr(time, "time", lambda: float(now + 7200))
    delete_maintenance(store, "1", 1, now + 7200)
    (notifier,) = [s for s in TEMPLATE.streams if s.function.logical_id == "NotifierFunction"]
    records = [r for r in stream_records() if any(pattern_matches(f, r) for f in notifier.filters)]
    sent: list[dict[str, Any]] = []

    def capture(self: Store, entries: list[Any]) -> list[bool]:
        sent.extend(entries)
        return [True] * len(entries)

    monkeypatch.setattr(Store, "put_events", capture)
    assert load_function("notifier").lambda_handler({"Records": records}, context) == {
        "batchItemFailures": []
    }
    return sent


def test_bus_samples_are_what_the_notifier_publishes(
    write_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = published_by_the_samples(write_key, monkeypatch)
    assert [e["DetailType"] for e in sent] == [
        "Maintenance Created",
        "Maintenance Event Status Changed",
        "Maintenance Updated",
        "Maintenance Deleted",
    ]
    for entry in sent:
        event = sample(BUS_SAMPLES[entry["DetailType"]])
        assert event["source"] == entry["Source"] == "maintenance-windows"
        assert event["detail-type"] == entry["DetailType"]
        assert event["detail"] == json.loads(entry["Detail"])
