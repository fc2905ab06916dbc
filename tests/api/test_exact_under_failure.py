"""The feed's counters and the monitor-window index stay exact however Lambda delivers the
stream (docs/decisions.md, "Exact under failure").

The indexer's records are taken off the stream by hand and handed to
IndexerFunction through devtools.esm, which reproduces the event source
mapping: a batch retried after any one of the consumer's DynamoDB calls
failed, bisected with its halves in either order, resent from a partial
batch response, delivered again after a lost checkpoint. After each, the
feed (every page and `total`) and the monitor route must agree with the
resources themselves.
"""

from typing import Any

import pytest

from devtools.esm import Mapping, fail_call
from devtools.lambdas import LambdaContext
from devtools.triggers import lambda_record, pattern_matches
from maintsvc.storage.store import dynamodb_client
from tests.api.test_monitor_status import MAINTENANCES, START, create, events_of
from tests.conftest import NOW, READ_MODEL_STREAMS, Caller, load_function

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/local"


@pytest.fixture(autouse=True)
def at_now(clock: Any) -> None:
    """The service's clock at NOW: START is within the horizon."""


def take_records(sandbox: Any) -> list[dict[str, Any]]:
    """The stream records written so far that the indexer's filters pass, as Lambda sends
    them; the `call` fixture will not deliver them itself."""
    (spec,) = READ_MODEL_STREAMS
    raw = sandbox.stream_backlog + sandbox.new_stream_records()
    sandbox.stream_backlog = []
    return [lambda_record(r, ARN) for r in raw if any(pattern_matches(f, r) for f in spec.filters)]


def indexer(event: dict[str, Any]) -> Any:
    return load_function("indexer").lambda_handler(event, LambdaContext())


def write_history(call: Caller) -> None:
    """Creates, a cancel, a move, a tag change, a pause and resume, a delete: every kind of
    record the indexer acts on, for two tags."""
    a = create(call, [{"monitor_tag": "db", "impact": "DOWN"}], rrule="FREQ=DAILY;COUNT=3")
    b = create(
        call,
        [{"monitor_tag": "db", "impact": "DEGRADED"}, {"monitor_tag": "web"}],
        start_date_time=START + 1800,
        rrule="FREQ=HOURLY;COUNT=4",
    )
    gone = create(call, [{"monitor_tag": "web"}], start_date_time=START + 600)
    first_a, *_ = events_of(call, a["id"])
    _, second_b, *_ = events_of(call, b["id"])
    call("PATCH", f"{MAINTENANCES}/{a['id']}/events/{first_a['id']}", body={"status": "CANCELLED"})
    moved = START + 5 * 3600
    call(
        "PATCH",
        f"{MAINTENANCES}/{b['id']}/events/{second_b['id']}",
        body={"start_date_time": moved, "end_date_time": moved + 900},
    )
    call("PATCH", f"{MAINTENANCES}/{a['id']}", body={"monitors": [{"monitor_tag": "web"}]})
    call("PATCH", f"{MAINTENANCES}/{b['id']}", body={"status": "INACTIVE"})
    call("PATCH", f"{MAINTENANCES}/{b['id']}", body={"status": "ACTIVE"})
    assert call("DELETE", f"{MAINTENANCES}/{gone['id']}").status == 200


SECONDS = (NOW, START, START + 1800, START + 5 * 3600)
IMPACT_ORDER = ("MAINTENANCE", "DOWN", "DEGRADED")


def truth(call: Caller) -> tuple[list[int], dict[tuple[str, int], tuple[list[int], Any, Any]]]:
    """From the resources themselves: the feed's event ids from NOW on, and per (tag,
    second) the monitor route's answer (event ids, impact, next event id)."""
    feed: list[tuple[int, int]] = []
    windows: list[tuple[str, str, int, int, int]] = []  # tag, impact, start, end, id
    for m in call("GET", MAINTENANCES).json["maintenances"]:
        listed = call("GET", f"{MAINTENANCES}/{m['id']}/events", query={"limit": "100"}).json
        feed += [(e["start_date_time"], e["id"]) for e in listed["events"]]
        if m["status"] != "ACTIVE":
            continue
        windows += [
            (x["monitor_tag"], x["impact"], e["start_date_time"], e["end_date_time"], e["id"])
            for x in m["monitors"]
            if x["impact"] != "UP"
            for e in listed["events"]
            if e["status"] != "CANCELLED"
        ]
    answers = {}
    for tag in ("db", "web"):
        for at in SECONDS:
            mine = [w for w in windows if w[0] == tag]
            inside = sorted((s, i, imp) for _, imp, s, end, i in mine if s <= at < end)
            later = sorted((s, i) for _, _, s, _, i in mine if s > at)
            impacts = {imp for _, _, imp in inside}
            answers[(tag, at)] = (
                [i for _, i, _ in inside],
                next((x for x in IMPACT_ORDER if x in impacts), None),
                later[0][1] if later else None,
            )
    return [i for start, i in sorted(feed) if start >= NOW], answers


def feed_pages(call: Caller) -> tuple[list[int], set[int]]:
    """Every page of the feed (limit 3) in order, and the totals they gave."""
    seen: list[int] = []
    totals: set[int] = set()
    for page in range(1, 20):
        body = call("GET", f"{MAINTENANCES}/events", query={"page": str(page), "limit": "3"}).json
        totals.add(body["total"])
        if not body["events"]:
            break
        seen += [e["event_id"] for e in body["events"]]
    return seen, totals


def monitor_answers(call: Caller) -> dict[tuple[str, int], tuple[list[int], Any, Any]]:
    answers = {}
    for tag in ("db", "web"):
        for at in SECONDS:
            body = call("GET", f"/api/v4/monitors/{tag}/maintenance", query={"at": str(at)}).json
            upcoming = body["next"]["event_id"] if body["next"] else None
            answers[(tag, at)] = ([e["event_id"] for e in body["events"]], body["impact"], upcoming)
    return answers


def assert_exact(call: Caller) -> None:
    feed, answers = truth(call)
    seen, totals = feed_pages(call)
    assert (seen, totals) == (feed, {len(feed)})
    assert monitor_answers(call) == answers


MODES = {
    "retried": {"bisect": False},
    "bisected": {"bisect": True},
    "bisected, second half first": {"bisect": True, "second_half_first": True},
}


def run_with_failure(call: Caller, sandbox: Any, mode: str, failing_call: int) -> int:
    """The history's records as one batch, the `failing_call`-th DynamoDB call of the
    consumer failing once; returns how many calls the delivery made."""
    write_history(call)
    records = take_records(sandbox)
    assert len(records) >= 20
    mapping = Mapping(indexer, **MODES[mode])
    with fail_call(dynamodb_client(), failing_call) as made:
        mapping.deliver(records)
    assert len(made) >= failing_call, "the failure was injected"
    assert len(mapping.invocations) > 1, "the batch was delivered again"
    assert_exact(call)
    return len(made)


@pytest.mark.parametrize(
    ("mode", "failing_call"),
    [
        ("bisected, second half first", 9),
        # The quick tier keeps one case; the slow tier has these and every call in turn.
        *[
            pytest.param(mode, call, marks=pytest.mark.slow)
            for mode in MODES
            for call in (1, 9)
            if (mode, call) != ("bisected, second half first", 9)
        ],
    ],
)
def test_a_failure_at_a_call_of_the_consumer_leaves_everything_exact(
    call: Caller, sandbox: Any, mode: str, failing_call: int
) -> None:
    run_with_failure(call, sandbox, mode, failing_call)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_a_failure_at_every_call_of_the_consumer_leaves_everything_exact(
    call: Caller, sandbox: Any, store: Any, write_key: str, mode: str
) -> None:
    """Each call of a clean delivery, in turn, is the one that fails (a fresh table each)."""
    from maintsvc.edge.apikeys import install_api_key

    write_history(call)
    records = take_records(sandbox)
    with fail_call(dynamodb_client(), 10**9) as made:
        Mapping(indexer).deliver(records)
    calls = len(made)
    assert calls > 15
    for failing_call in range(1, calls + 1):
        sandbox.reset()
        install_api_key(store, write_key, "writer")
        run_with_failure(call, sandbox, mode, failing_call)


def test_the_last_call_failing_after_counting_then_a_bisect_counts_once(
    call: Caller, sandbox: Any
) -> None:
    """The indexer fails after all its writes landed (a timeout): Lambda bisects, each half
    is counted again by a new invocation, and nothing is counted twice."""
    write_history(call)
    records = take_records(sandbox)
    with fail_call(dynamodb_client(), 10**9) as made:
        Mapping(indexer).deliver(records)
    calls = len(made)
    assert_exact(call)
    for second_half_first in (False, True):
        mapping = Mapping(indexer, second_half_first=second_half_first)
        with fail_call(dynamodb_client(), calls):
            mapping.deliver(records)
        assert mapping.invocations[:3] == [len(records), len(records) // 2, len(records) // 2] or (
            mapping.invocations[0] == len(records) and len(mapping.invocations) >= 3
        )
        assert_exact(call)


@pytest.mark.slow
def test_records_delivered_again_change_nothing(call: Caller, sandbox: Any) -> None:
    """A lost checkpoint (the whole batch again), a partial batch response (the batch again
    from its middle record), single records in reverse order: all already counted."""
    write_history(call)
    records = take_records(sandbox)
    Mapping(indexer).deliver(records)
    assert_exact(call)
    Mapping(indexer).deliver(records)
    assert_exact(call)
    middle = records[len(records) // 2]["dynamodb"]["SequenceNumber"]
    answered: list[Any] = []

    def partial(event: dict[str, Any]) -> Any:
        indexer(event)
        answered.append(len(event["Records"]))
        if len(answered) == 1:
            return {"batchItemFailures": [{"itemIdentifier": middle}]}
        return {"batchItemFailures": []}

    Mapping(partial, report_batch_item_failures=True).deliver(records)
    assert answered == [len(records), len(records) - len(records) // 2]
    assert_exact(call)
    for record in reversed(records):
        Mapping(indexer).deliver([record])
    assert_exact(call)


def test_halves_in_reverse_order_on_their_first_delivery(call: Caller, sandbox: Any) -> None:
    """The batch's second half is applied before its first: counters add the same, and the
    window index follows the events as they are now, not the order records came in."""
    write_history(call)
    records = take_records(sandbox)
    middle = len(records) // 2
    Mapping(indexer).deliver(records[middle:])
    Mapping(indexer).deliver(records[:middle])
    assert_exact(call)
