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
