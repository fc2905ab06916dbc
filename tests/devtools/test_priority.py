"""devtools.priority and moto's lock: API requests go first, the background in the quiet."""

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from devtools import priority as priority_module
from devtools.localaws import MotoLock
from devtools.priority import BACKGROUND_HEADER, Abandoned, Priority, install_hook

QUIET = 0.05


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class _BackgroundCall(threading.Thread):
    """One background call's wait for its turn; `went` is set once it went."""

    def __init__(self, priority: Priority) -> None:
        super().__init__(daemon=True)
        self.priority = priority
        self.went = threading.Event()
        self.went_at = 0.0
        self.allowed: bool | None = None

    def run(self) -> None:
        with self.priority.background():
            self.allowed = priority_module.wait_turn()
        self.went_at = time.monotonic()
        self.went.set()


def test_background_work_waits_for_a_quiet_moment_after_the_requests() -> None:
    priority = Priority(share_seconds=60, quiet_seconds=QUIET)
    with priority.serving():
        call = _BackgroundCall(priority)
        call.start()
        assert not call.went.wait(0.3)  # a request is being served
        with priority.serving():  # a second request begins before the first ends
            pass
        last_request_ending = time.monotonic()
    assert call.went.wait(5)
    assert call.allowed is True
    assert call.went_at - last_request_ending >= QUIET  # not in the gap right after it


def test_work_outside_the_background_never_waits() -> None:
    priority = Priority(share_seconds=60, quiet_seconds=60)
    with priority.serving():
        assert priority_module.wait_turn() is True  # no background block: at once


def test_the_background_gets_a_share_while_requests_keep_coming() -> None:
    priority = Priority(share_seconds=0.5, quiet_seconds=60)
    with priority.serving():
        calls = [_BackgroundCall(priority) for _ in range(3)]
        for call in calls:
            call.start()
        assert eventually(lambda: sum(c.went.is_set() for c in calls) >= 1)
        assert sum(c.went.is_set() for c in calls) < 3  # one share at a time, not a burst
        assert eventually(lambda: all(c.went.is_set() for c in calls))


def test_closing_abandons_the_waiting_and_later_background_calls() -> None:
    priority = Priority(share_seconds=60, quiet_seconds=60)
    with priority.serving():
        waiting = _BackgroundCall(priority)
        waiting.start()
        assert not waiting.went.wait(0.1)
        priority.close()
        assert waiting.went.wait(5)
    assert waiting.allowed is False
    later = _BackgroundCall(priority)
    later.start()
    assert later.went.wait(5)
    assert later.allowed is False


class _Sent(Exception):
    """Raised by a hook after ours: the request would have been sent."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self.headers = headers


def _client() -> Any:
    """A DynamoDB client of the default session, its sends stopped by _Sent."""
    install_hook()
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def capture(request: Any, **_: Any) -> None:
        raise _Sent(dict(request.headers))

    client.meta.events.register("before-send", capture)
    return client


def test_background_calls_are_marked_for_moto_and_abandoned_once_the_stack_stops() -> None:
    client, priority = _client(), Priority(share_seconds=60, quiet_seconds=0)
    with pytest.raises(_Sent) as request:
        client.list_tables()
    assert BACKGROUND_HEADER not in request.value.headers  # a request's call: unmarked
    with priority.background(), pytest.raises(_Sent) as background:
        client.list_tables()
    assert background.value.headers[BACKGROUND_HEADER] == "1"
    priority.close()
    with priority.background(), pytest.raises(Abandoned):
        client.list_tables()  # never sent: the stack is stopping


def test_thread_pools_of_background_work_are_background_too() -> None:
    """The indexer writes from a thread pool: those calls must wait their turn as well."""
    from concurrent.futures import ThreadPoolExecutor

    from devtools.lambdas import function_variables, install_layered_environment

    install_layered_environment()
    priority = Priority()
    with priority.background(), function_variables({}), ThreadPoolExecutor(1) as pool:
        assert pool.submit(priority_module.in_background).result() is True
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(priority_module.in_background).result() is False


def test_moto_serves_waiting_requests_before_waiting_background_calls() -> None:
    lock = MotoLock()
    order: list[str] = []

    def take(name: str, background: bool) -> None:
        with lock.background() if background else lock:
            order.append(name)

    lock.__enter__()  # moto busy with a call
    background = threading.Thread(target=take, args=("background", True))
    background.start()
    time.sleep(0.05)  # the background call waits first
    request = threading.Thread(target=take, args=("request", False))
    request.start()
    assert eventually(lambda: lock._requests_waiting == 1)
    lock.__exit__()
    background.join(5)
    request.join(5)
    assert order == ["request", "background"]


def test_a_consumer_far_behind_goes_at_once_and_holds_writes_back() -> None:
    """A lag must not become a loss: past BACKLOG_LIMIT a consumer drops records."""
    priority = Priority(share_seconds=60, quiet_seconds=60)
    backlog = [0.0]
    priority.watch(lambda: backlog[0])
    with priority.serving():
        call = _BackgroundCall(priority)
        call.start()
        assert not call.went.wait(0.3)
        backlog[0] = priority_module.SHARE_ALL_AT
        assert call.went.wait(5)  # requests still being served

    backlog[0] = priority_module.HOLD_WRITES_AT
    entered: list[str] = []

    def request(name: str, writes: bool) -> None:
        with priority.serving(writes=writes):
            entered.append(name)

    write = threading.Thread(target=request, args=("write", True))
    write.start()
    read = threading.Thread(target=request, args=("read", False))
    read.start()
    read.join(5)
    assert entered == ["read"]  # reads are never held back
    assert not eventually(lambda: "write" in entered, 0.3)
    backlog[0] = priority_module.SHARE_ALL_AT  # the consumer caught up below the mark
    write.join(5)
    assert entered == ["read", "write"]


def test_the_stream_reader_has_a_share_of_its_own() -> None:
    priority = Priority(share_seconds=60, quiet_seconds=60)
    with priority.serving():
        call = _BackgroundCall(priority)
        call.start()
        assert priority.wait_turn("stream", 0.1) is True  # not behind the consumers' calls
        assert not call.went.is_set()
