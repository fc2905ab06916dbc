"""Every payload in events/ runs through its handler, so the samples stay true; and so do the
copies `maintctl samples` writes with today's times and a real key."""

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from devtools import maintctl
from devtools.samples import (
    CREATE_SAMPLE,
    GENERATED,
    PLACEHOLDER_KEY,
    SAMPLE_NOW,
    SAMPLE_START,
    STORY_SPAN_SECONDS,
    generated_samples,
    read_sample,
)
from tests.conftest import ROOT, LambdaContext, MotoSandbox, index_stream, load_function

SAMPLES = ROOT / "events"
REAL_KEY = "kener_" + "5a" * 32


def sample(name: str, key: str | None = None, directory: Path = SAMPLES) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((directory / name).read_text())
    if key is not None:
        event["headers"]["authorization"] = f"Bearer {key}"
    return event


def invoke(function: str, event: dict[str, Any]) -> Any:
    return load_function(function).lambda_handler(event, LambdaContext())


def body(response: dict[str, Any]) -> Any:
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def test_every_sample_is_covered() -> None:
    names = {p.name for p in Path(SAMPLES).glob("*.json")}
    assert names == {
        "list-maintenances.json", "create-maintenance.json", "get-maintenance.json",
        "list-events.json", "feed.json", "cancel-event.json", "scheduler-tick.json",
        "notifier-status-change.json", "monitor-maintenance.json", "indexer-stream.json",
        "transition-worker.json", "bus-maintenance-created.json", "bus-maintenance-updated.json",
        "bus-maintenance-deleted.json", "bus-event-status-changed.json",
    }  # fmt: skip


def test_api_samples_in_order(
    write_key: str, monkeypatch: pytest.MonkeyPatch, sandbox: MotoSandbox
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_767_225_600.0 - 86400)
    context = LambdaContext()
    created = invoke("maintenances", sample("create-maintenance.json", write_key))
    assert created["statusCode"] == 201, created
    assert json.loads(created["body"])["maintenance"]["start_date_time"] == SAMPLE_START
    for name, function in [
        ("get-maintenance.json", "maintenances"),
        ("list-maintenances.json", "maintenances"),
        ("list-events.json", "events"),
        ("feed.json", "events"),
        ("cancel-event.json", "events"),
    ]:
        response = invoke(function, sample(name, write_key))
        assert response["statusCode"] == 200, (name, response)
    cancelled = json.loads(response["body"])["event"]
    assert cancelled["status"] == "CANCELLED"
    index_stream(sandbox)  # the stream reaches the indexer, as it would on AWS
    monitors = load_function("monitors").lambda_handler
    status = monitors(sample("monitor-maintenance.json", write_key), context)
    assert status["statusCode"] == 200, status
    assert json.loads(status["body"])["in_maintenance"] is True


def test_scheduler_sample(store: Any) -> None:
    result = invoke("scheduler", sample("scheduler-tick.json"))
    assert result["transitions"] == 0 and result["stopped_early"] is False


def test_notifier_sample_publishes(store: Any) -> None:
    result = invoke("notifier", sample("notifier-status-change.json"))
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


def test_indexer_sample_counts_its_event_and_files_its_window(
    write_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream sample is the create sample's first event and a change of its maintenance:
    indexed, the feed counts that event and the monitor route finds its window."""
    monkeypatch.setattr(time, "time", lambda: float(SAMPLE_NOW))
    assert invoke("maintenances", sample(CREATE_SAMPLE, write_key))["statusCode"] == 201
    # Nothing has read the stream yet (as under sam local).
    assert body(invoke("events", sample("feed.json", write_key)))["total"] == 0
    monitor = sample("monitor-maintenance.json", write_key)
    assert body(invoke("monitors", monitor))["in_maintenance"] is False

    invoke("indexer", sample("indexer-stream.json"))  # raises on failure: Lambda retries

    assert body(invoke("events", sample("feed.json", write_key)))["total"] == 1
    assert body(invoke("monitors", monitor))["in_maintenance"] is True


def test_transition_sample_makes_the_first_event_ready_at_its_second(
    write_key: str, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.storage import keys

    monkeypatch.setattr(time, "time", lambda: float(SAMPLE_NOW))
    assert invoke("maintenances", sample(CREATE_SAMPLE, write_key))["statusCode"] == 201
    message = sample("transition-worker.json")
    due = json.loads(message["Records"][0]["body"])["due"]
    monkeypatch.setattr(time, "time", lambda: float(due))
    assert invoke("transitions", message) == {"batchItemFailures": []}
    assert store.get(keys.event_key(1, 1))["status"] == "READY"


def test_the_generated_samples_are_what_the_service_makes_of_the_create_sample() -> None:
    """indexer-stream, notifier-status-change and transition-worker are the service's own
    writes: after a change to the items, `maintctl samples --refresh-templates`."""
    made = generated_samples(read_sample(CREATE_SAMPLE), SAMPLE_NOW)
    for name in GENERATED:
        assert made[name] == read_sample(name), f"{name}: run maintctl samples --refresh-templates"


# -- maintctl samples: the same story, from today -------------------------------------------


def story_times(value: Any) -> list[Any]:
    """Every number (or run of 10 or 13 digits in a string) that is a time of the committed
    story: seconds or milliseconds near SAMPLE_START."""
    found: list[Any] = []
    if isinstance(value, dict):
        for item in value.values():
            found += story_times(item)
    elif isinstance(value, list):
        for item in value:
            found += story_times(item)
    elif isinstance(value, str):
        runs = re.findall(r"(?<!\d)\d{10}(?:\d{3})?(?!\d)", value)
        found += [n for n in runs if story_times(int(n))]
        found += re.findall(r"2026-01-0\d|0\d/Jan/2026", value)
    elif isinstance(value, int) and not isinstance(value, bool):
        for seconds in (value, value // 1000):
            if abs(seconds - SAMPLE_START) <= STORY_SPAN_SECONDS:
                found.append(value)
    return found


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """`maintctl samples` run now: (its directory, the story's start, now)."""
    out = tmp_path_factory.mktemp("samples")
    now = int(time.time())
    start = now // 3600 * 3600 + 7200
    argv = ["samples", "--key", REAL_KEY, "--out", str(out), "--start", str(start)]
    assert maintctl.main(argv) == 0
    return out, start, now


def test_samples_moves_every_time_of_the_story_and_sends_the_key(
    today: tuple[Path, int, int],
) -> None:
    out, start, now = today
    assert sorted(p.name for p in out.glob("*.json")) == sorted(
        p.name for p in SAMPLES.glob("*.json")
    )
    for path in out.glob("*.json"):
        written = json.loads(path.read_text())
        assert story_times(written) == [], path.name
        assert PLACEHOLDER_KEY not in path.read_text(), path.name
        if "requestContext" in written:
            assert written["headers"]["authorization"] == f"Bearer {REAL_KEY}"
            assert abs(written["requestContext"]["timeEpoch"] / 1000 - now) < 60  # sent now
    create = json.loads(sample(CREATE_SAMPLE, directory=out)["body"])
    assert (create["start_date_time"], create["rrule"]) == (start, "FREQ=DAILY")
    monitor = sample("monitor-maintenance.json", directory=out)
    assert monitor["queryStringParameters"] == {"at": str(start)}
    assert monitor["rawQueryString"] == f"at={start}"


def test_the_samples_of_today_run_through_their_handlers_with_their_effects(
    today: tuple[Path, int, int], store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintsvc.edge.apikeys import install_api_key
    from maintsvc.storage import keys

    out, start, _ = today
    install_api_key(store, REAL_KEY, "sam-local")

    def run(function: str, name: str) -> Any:
        return invoke(function, sample(name, directory=out))

    created = run("maintenances", CREATE_SAMPLE)
    assert created["statusCode"] == 201, created
    for name, function in [
        ("get-maintenance.json", "maintenances"),
        ("list-maintenances.json", "maintenances"),
        ("list-events.json", "events"),
        ("cancel-event.json", "events"),
    ]:
        assert run(function, name)["statusCode"] == 200, name
    assert body(run("monitors", "monitor-maintenance.json"))["in_maintenance"] is False
    run("indexer", "indexer-stream.json")
    assert body(run("events", "feed.json"))["total"] == 1
    status = body(run("monitors", "monitor-maintenance.json"))
    assert (status["at"], status["in_maintenance"]) == (start, True)
    assert run("scheduler", "scheduler-tick.json")["stopped_early"] is False
    assert run("notifier", "notifier-status-change.json") == {"batchItemFailures": []}
    message = sample("transition-worker.json", directory=out)
    monkeypatch.setattr(
        time, "time", lambda: float(json.loads(message["Records"][0]["body"])["due"])
    )
    assert invoke("transitions", message) == {"batchItemFailures": []}
    assert store.get(keys.event_key(1, 1))["status"] == "READY"


def test_samples_refuses_a_start_too_close_to_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["samples", "--key", REAL_KEY, "--out", str(tmp_path), "--start", str(int(time.time()))]
    assert maintctl.main(argv) == 1
    assert "less than 6 minutes after now" in capsys.readouterr().err
    assert maintctl.main(["samples", "--out", str(tmp_path)]) == 2  # no key
