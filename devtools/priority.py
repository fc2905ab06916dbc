"""API requests first: the background consumers' AWS calls wait while requests are served.

Deployed, the stream consumers and the scheduler run in Lambda environments of
their own and never slow an API request down. In `make dev` everything shares one
process: one embedded moto that serves one call at a time (devtools.localaws) and
one GIL on a laptop's two cores. Left alone, the indexer's hundreds of calls per
stream batch (16 at a time, from its thread pool) queued at moto's lock in front
of a request's two or three calls and took most of the CPU between them: a GET
answered in seconds while an hourly rule's 500 events were being indexed.

So the stack tells the two apart. `Priority.serving()` wraps every API request;
what `Priority.background()` runs (the Ticker, the stream's event source
mappings, the stream reader, and the thread pools their functions start; the
autosave uses `wait_turn` directly) is background, and each AWS call it makes
first waits, in a botocore `before-send` hook, for its turn: QUIET_SECONDS
without a request being served. A gap between two requests of a script is not
enough: a call slipped into it (an indexer transaction of 100 updates takes moto
~0.1 s) would hold up the next request. Past that gate, a background call still
goes to moto's lock behind any request's (a header tells moto's side). Waiting
background threads hold neither moto's lock nor the GIL, so a request runs as if
the consumers were not there; they catch up when the API is quiet, lagging while
requests keep coming, as a throttled consumer would. So that a script hammering
the API slows them down without stopping them, one background call goes anyway
every SHARE_SECONDS. (The transition queue's worker is not background: its few
calls apply status changes at their due second.)

`close()` (the first thing a stop does) abandons the background: every waiting
or later background call raises `Abandoned`, a BaseException, so it unwinds the
function like Lambda stopping an environment mid-invocation, instead of being
caught by a handler's `except Exception` and logged as a failure; the workers
of devtools.triggers end quietly on it. Nothing then competes with the final
stream read and save, and nothing talks to moto once it stops.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import boto3

# Marks a background call for moto's lock (devtools.localaws.MotoLock); not signed.
BACKGROUND_HEADER = "x-devserver-background"
# The background goes once no request has been served for this long: a gap between two
# requests of a script is not enough (a call slipped into it makes the next request wait).
QUIET_SECONDS = 0.1
# While requests keep coming, one background call goes through this often all the same.
SHARE_SECONDS = 2.0

_background: ContextVar["Priority | None"] = ContextVar("background_priority", default=None)


class Abandoned(BaseException):
    """The stack is stopping: a background call is not made, and its invocation unwinds."""


class Priority:
    """Who goes first at the local stack's shared resources: requests, then the background."""

    def __init__(
        self, share_seconds: float = SHARE_SECONDS, quiet_seconds: float = QUIET_SECONDS
    ) -> None:
        self._share_seconds = share_seconds
        self._quiet_seconds = quiet_seconds
        self._condition = threading.Condition()
        self._serving = 0
        self._closed = False
        self._last_turn = time.monotonic()  # the background's last turn
        self._quiet_since = time.monotonic()  # when the last request ended

    @contextmanager
    def serving(self) -> Iterator[None]:
        """An API request is being served while the block runs: background calls wait."""
        with self._condition:
            self._serving += 1
        try:
            yield
        finally:
            with self._condition:
                self._serving -= 1
                if not self._serving:
                    self._quiet_since = time.monotonic()
                    self._condition.notify_all()

    @contextmanager
    def background(self) -> Iterator[None]:
        """Mark what the block runs (and the thread pools it starts) as background work."""
        token = _background.set(self)
        try:
            yield
        finally:
            _background.reset(token)

    def wait_turn(self) -> bool:
        """Wait for the background's turn: QUIET_SECONDS without a request, or its share.

        False once the stack is stopping: the caller must not go on.
        """
        with self._condition:
            while not self._closed:
                now = time.monotonic()
                share_at = self._last_turn + self._share_seconds
                quiet_at = self._quiet_since + self._quiet_seconds
                if now >= share_at or (not self._serving and now >= quiet_at):
                    break
                turn_at = share_at if self._serving else min(share_at, quiet_at)
                self._condition.wait(turn_at - now)
            self._last_turn = time.monotonic()
            return not self._closed

    def close(self) -> None:
        """Abandon the background: waiting and later background calls raise Abandoned."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()


def in_background() -> bool:
    """True in work a `Priority.background()` block runs (and the pools it starts)."""
    return _background.get() is not None


def wait_turn() -> bool:
    """In background work, `Priority.wait_turn()` of its stack; elsewhere True at once."""
    priority = _background.get()
    return priority is None or priority.wait_turn()


def _before_send(request: Any, **_: Any) -> None:
    if not in_background():
        return
    if not wait_turn():
        raise Abandoned
    # Past the gate, it still lets requests that reach moto's lock meanwhile go first.
    request.headers[BACKGROUND_HEADER] = "1"


def install_hook() -> None:
    """The background's calls wait their turn: a `before-send` hook on boto3's default session.

    Clients take a copy of their session's hooks when created, so this runs
    before the stack creates any (devtools.devserver resets them after). Calls
    outside a background block pass straight through.
    """
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-send", _before_send, unique_id="devtools-priority")
