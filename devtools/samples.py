"""The sample payloads of events/, and copies of them with today's times and a real key.

The committed samples describe one story at fixed times: a maintenance
whose first window starts at SAMPLE_START (2026-01-01 02:00 Berlin time),
created an hour before (SAMPLE_NOW), and what follows from it. By now those
times are in the past, so `maintctl samples --key KEY` writes copies in
which the story starts at a time ahead (by default in one to two hours, on
a whole hour) and the API samples carry KEY instead of the placeholder.

Two kinds of sample, two ways to get there:

* HTTP API events and the scheduled event carry times only in a few plain
  places: the create body's start and the monitor route's `at` belong to
  the story, and `shift_times` moves every time near SAMPLE_START by the
  same amount, whatever its form (seconds, milliseconds, ISO 8601, API
  Gateway's request time); the request times say when a sample is sent,
  which is now (`sent_at`).
* The stream records (indexer, notifier) and the transition queue's message
  are whole table items and what the service derives from them: times
  inside keys, buckets computed from times. Rather than patch those, they
  are made again by the service's own code (`generated_samples`), in an
  in-process moto: the create sample through MaintenancesFunction, a PATCH
  of the description (the META MODIFY), the tick at the READY time (the
  status change the notifier announces), and the message the tick's
  look-ahead sends for it. The committed ones are what this makes at
  SAMPLE_START (`--refresh-templates` writes them; the tests compare).
"""

import contextlib
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from devtools.template import ACCOUNT_ID, DEFAULT_TEMPLATE

SAMPLES_DIR = DEFAULT_TEMPLATE.parent / "events"
DEFAULT_OUT = DEFAULT_TEMPLATE.parent / ".local-data" / "events"
# The committed samples' story: the first window's start, and when the requests are made.
SAMPLE_START = 1_767_229_200  # 2026-01-01T01:00:00Z, 02:00 in Berlin
SAMPLE_NOW = SAMPLE_START - 3600
PLACEHOLDER_KEY = "kener_" + "0" * 64
# A time this close to SAMPLE_START is one of the story's times, and moves with it.
STORY_SPAN_SECONDS = 60 * 86400
# The stream table and the queue the generated samples name (a deployed stack's).
SAMPLE_TABLE = "maintenance-windows"
SAMPLE_QUEUE = "maintenance-windows-TransitionQueue"
SAMPLE_REGION = "us-east-1"
INDEXER_SAMPLE = "indexer-stream.json"
NOTIFIER_SAMPLE = "notifier-status-change.json"
TRANSITION_SAMPLE = "transition-worker.json"
CREATE_SAMPLE = "create-maintenance.json"
GENERATED = (INDEXER_SAMPLE, NOTIFIER_SAMPLE, TRANSITION_SAMPLE)
SAMPLE_DESCRIPTION = "Rolling restart of the API gateway"

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?Z")
_APIGW = re.compile(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000")
_APIGW_FORMAT = "%d/%b/%Y:%H:%M:%S +0000"
_NUMBER = re.compile(r"(?<![\d.])\d{10}(?:\d{3})?(?![\d.])")


class SampleError(Exception):
    """The samples cannot be written as asked; the message says why."""


def _in_story(seconds: int) -> bool:
    return abs(seconds - SAMPLE_START) <= STORY_SPAN_SECONDS


def _shift_number(value: int, shift: int) -> int:
    """Seconds or milliseconds near SAMPLE_START, moved; any other number as it is."""
    if _in_story(value):
        return value + shift
    if value % 1000 == 0 and _in_story(value // 1000):
        return value + shift * 1000
    return value


def _shift_iso(match: re.Match[str], shift: int) -> str:
    text = match.group(0)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if not _in_story(int(moment.timestamp())):
        return text
    moved = moment + timedelta(seconds=shift)
    if "." in text:
        return moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"
    return moved.strftime("%Y-%m-%dT%H:%M:%SZ")


def _shift_apigw(match: re.Match[str], shift: int) -> str:
    moment = datetime.strptime(match.group(0), _APIGW_FORMAT).replace(tzinfo=UTC)
    if not _in_story(int(moment.timestamp())):
        return match.group(0)
    return (moment + timedelta(seconds=shift)).strftime(_APIGW_FORMAT)


def _shift_text(text: str, shift: int) -> str:
    text = _ISO.sub(lambda m: _shift_iso(m, shift), text)
    text = _APIGW.sub(lambda m: _shift_apigw(m, shift), text)
    return _NUMBER.sub(lambda m: str(_shift_number(int(m.group(0)), shift)), text)


def shift_times(value: Any, shift: int) -> Any:
    """`value` (a sample, as JSON) with every time of the story `shift` seconds later: numbers
    of seconds or milliseconds, and inside strings (a JSON body, a query string) the same
    and ISO 8601 and API Gateway's request time."""
    if isinstance(value, dict):
        return {key: shift_times(item, shift) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_times(item, shift) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _shift_number(value, shift)
    if isinstance(value, str):
        return _shift_text(value, shift)
    return value


def sent_at(sample: dict[str, Any], now: int) -> dict[str, Any]:
    """A sample as sent at `now`: API Gateway's request time, or the schedule's firing time.

    The story's times move with its start; these say when the sample is
    invoked, which is now.
    """
    context = sample.get("requestContext")
    if isinstance(context, dict) and "timeEpoch" in context:
        moment = datetime.fromtimestamp(now, UTC)
        stamped = {**context, "time": moment.strftime(_APIGW_FORMAT), "timeEpoch": now * 1000}
        return {**sample, "requestContext": stamped}
    if sample.get("detail-type") == "Scheduled Event":
        return {**sample, "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return sample


def with_key(sample: dict[str, Any], key: str) -> dict[str, Any]:
    """An API sample with `key` in its Authorization header (other samples carry none)."""
    headers = sample.get("headers")
    if isinstance(headers, dict) and "authorization" in headers:
        return {**sample, "headers": {**headers, "authorization": f"Bearer {key}"}}
    return sample


def read_sample(name: str, directory: Path = SAMPLES_DIR) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))
    return sample


def write_sample(path: Path, sample: dict[str, Any]) -> None:
    path.write_text(json.dumps(sample, indent=2) + "\n", encoding="utf-8")


# -- the samples the service's own code makes ---------------------------------------------


@contextlib.contextmanager
def _clock(now: int) -> Iterator[None]:
    """The service reads "now" from time.time (maintsvc.clock): held at `now`."""
    with mock.patch.object(time, "time", return_value=float(now)):
        yield


@contextlib.contextmanager
def _quiet_service_logs() -> Iterator[None]:
    """The handlers' INFO lines would bury what the command prints."""
    from maintsvc.observability import logger

    level = logger.log_level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _no_endpoints(resources: ExitStack) -> None:
    """The in-process moto serves only the default endpoints: another one (DynamoDB Local,
    set for sam local) would receive the samples' writes instead."""
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        resources.callback(os.environ.__setitem__, name, os.environ.pop(name))


def _stream_record(
    raw: dict[str, Any], stream_arn: str, written_at: int, region: str
) -> dict[str, Any]:
    from devtools.triggers import lambda_record

    record = lambda_record(raw, stream_arn, region)
    sequence_number = record["dynamodb"]["SequenceNumber"]
    # DynamoDB's own values where moto's differ, and an id from the record's place in the
    # stream rather than a random one: the same story gives the same sample.
    record["eventID"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{stream_arn}/{sequence_number}").hex
    record["eventVersion"] = "1.1"
    data = record["dynamodb"]
    data["ApproximateCreationDateTime"] = written_at  # moto stamps its own now
    # moto measures the record with its own clock's time in it (a length that varies):
    # the keys and images, as compact JSON, instead.
    images = {k: data[k] for k in ("Keys", "NewImage", "OldImage") if k in data}
    data["SizeBytes"] = len(json.dumps(images, separators=(",", ":")))
    return record


def _queue_record(body: str, sent_at: int, due: int, region: str) -> dict[str, Any]:
    """The message the tick's look-ahead sends, as Lambda's SQS event source delivers it.

    The ids are derived from the body (real ones are random): the same
    story gives the same sample.
    """
    from devtools.triggers import sqs_record

    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SAMPLE_QUEUE}/{body}"))
    message = {
        "MessageId": message_id,
        "ReceiptHandle": hashlib.sha256(message_id.encode()).hexdigest(),
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent_at * 1000),
            "SenderId": "AROAEXAMPLE000000000:SchedulerFunction",
            "ApproximateFirstReceiveTimestamp": str(due * 1000),
        },
    }
    arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{SAMPLE_QUEUE}"
    return sqs_record(message, arn, region)


def generated_samples(create: dict[str, Any], now: int) -> dict[str, dict[str, Any]]:
    """The indexer, notifier and transition-worker samples for the maintenance `create` (the
    create sample, any key) makes at `now`, by the service's own code in an in-process moto.

    Its event 1 must still be SCHEDULED at `now` and turn READY later.
    """
    from devtools.gateway import Gateway, Request
    from devtools.lambdas import LocalLambda, default_aws_environment
    from devtools.localaws import MotoSandbox
    from devtools.template import load_template
    from maintsvc.config import load_settings
    from maintsvc.edge import apikeys
    from maintsvc.lifecycle.scheduler import run_tick
    from maintsvc.lifecycle.transition_queue import upcoming_changes
    from maintsvc.storage import keys
    from maintsvc.storage.store import Store, reset_clients

    with ExitStack() as resources:
        _no_endpoints(resources)
        region = default_aws_environment(resources)
        template = load_template(DEFAULT_TEMPLATE, SAMPLE_TABLE, region)
        sandbox = MotoSandbox(template.table, SAMPLE_TABLE, region)
        resources.enter_context(sandbox.active())
        reset_clients()
        resources.callback(reset_clients)
        apikeys.clear_cache()
        resources.callback(apikeys.clear_cache)
        resources.enter_context(_quiet_service_logs())
        lambdas = LocalLambda(template.functions.values(), region)  # the template's settings
        resources.callback(lambdas.close)
        gateway = Gateway(template.routes, lambdas)
        store = Store(SAMPLE_TABLE)
        stream_arn = (
            f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{SAMPLE_TABLE}/stream/"
            + datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")
        )

        def request(method: str, path: str, body: str) -> None:
            headers = [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
            response = gateway.handle(Request(method, path, headers, body.encode()))
            if response.status >= 300:
                raise SampleError(f"{method} {path} answered {response.status}: {response.body!r}")

        def written(name: str, sort_key: str) -> dict[str, Any]:
            for raw in sandbox.new_stream_records():
                if (raw["eventName"], raw["dynamodb"]["Keys"]["SK"]["S"]) == (name, sort_key):
                    return raw
            raise SampleError(f"no {name} of {sort_key} in the table's stream")

        with _clock(now):
            key = apikeys.create_api_key(store, "samples")
            request("POST", create["rawPath"], create["body"])
            event_key = keys.event_key(1, 1)
            inserted = written("INSERT", event_key["SK"])
            request(
                "PATCH", "/api/v4/maintenances/1", json.dumps({"description": SAMPLE_DESCRIPTION})
            )
            modified = written("MODIFY", keys.maintenance_key(1)["SK"])
        settings = load_settings()
        event = store.get(event_key)
        if event is None or event["status"] != "SCHEDULED":
            raise SampleError("the create sample's first event is not SCHEDULED when created")
        ready_at = event["start_date_time"] - settings.ready_window_seconds
        sent_at = (ready_at - 1) // 60 * 60  # the last tick before it looked ahead
        [change] = upcoming_changes(event, sent_at, ready_at, settings.ready_window_seconds)
        with _clock(ready_at):
            run_tick(store, settings, ready_at, queue_url="")
            ready = written("MODIFY", event_key["SK"])
    return {
        INDEXER_SAMPLE: {
            "Records": [
                _stream_record(inserted, stream_arn, now, region),
                _stream_record(modified, stream_arn, now, region),
            ]
        },
        NOTIFIER_SAMPLE: {"Records": [_stream_record(ready, stream_arn, ready_at, region)]},
        TRANSITION_SAMPLE: {"Records": [_queue_record(change.body(), sent_at, ready_at, region)]},
    }


# -- the command ------------------------------------------------------------------------------


def default_start(now: int) -> int:
    """A whole hour, one to two hours ahead (the README's START)."""
    return now // 3600 * 3600 + 7200


def write_samples(out: Path, key: str, start: int, now: int) -> list[str]:
    """Every sample of events/ with its story moved to `start` (requests at `now`) and `key`
    in the API samples, written to `out`; the names written.

    `start` must leave the first event SCHEDULED at `now`, with its READY
    change ahead: at least the ready window (5 minutes) and a minute more.
    """
    if start - now < 360:
        raise SampleError(
            f"--start {start} is less than 6 minutes after now ({now}): the first window "
            "must still be ahead, and its READY change too"
        )
    shift = start - SAMPLE_START
    names = sorted(p.name for p in SAMPLES_DIR.glob("*.json"))
    samples = {
        name: with_key(sent_at(shift_times(read_sample(name), shift), now), key)
        for name in names
        if name not in GENERATED
    }
    samples.update(generated_samples(samples[CREATE_SAMPLE], now))
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_sample(out / name, samples[name])
    return names


def refresh_templates() -> list[str]:
    """Write the committed generated samples again, at SAMPLE_START (after the items they
    carry changed shape: the tests say when)."""
    create = read_sample(CREATE_SAMPLE)
    generated = generated_samples(create, SAMPLE_NOW)
    for name, sample in generated.items():
        write_sample(SAMPLES_DIR / name, sample)
    return sorted(generated)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
