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
every SHARE_SECONDS, and the stream reader reads every READ_SHARE_SECONDS (a lane
of its own: its records must not pile up unseen in moto). (The transition
queue's worker is not background: its few calls apply status changes at their
due second.)

A lag must not become a loss: a consumer drops its oldest records past
devtools.triggers.BACKLOG_LIMIT. The indexer needs several times the CPU of the
writes it indexes (an hourly rule's 500 events: ~0.5 s to create, 3-4 s to
index), so no share of the time keeps it level with a script creating them in a
loop. Each event source mapping's backlog is `watch()`ed: past SHARE_ALL_AT of
the limit the background waits for no turn, and past HOLD_WRITES_AT a request
that writes (not GET, HEAD or OPTIONS) waits, before it counts as served, until
the consumers are back under it. Reads are never held back; ten hourly creates
(5,000 records for the indexer) stay under both marks.

`close()` (the first thing a stop does) abandons the background: every waiting
or later background call raises `Abandoned`, a BaseException, so it unwinds the
function like Lambda stopping an environment mid-invocation, instead of being
caught by a handler's `except Exception` and logged as a failure; the workers
of devtools.triggers end quietly on it. Nothing then competes with the final
stream read and save, and nothing talks to moto once it stops.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import boto3

# Marks a background call for moto's lock (devtools.localaws.MotoLock); not signed.
BACKGROUND_HEADER = "x-devserver-background"
# The background goes once no request has been served for this long: a gap between two
# requests of a script is not enough (a call slipped into it makes the next request wait).
QUIET_SECONDS = 0.1
# While requests keep coming, one background call goes through this often all the same,
READ_SHARE_SECONDS = 0.5  # and the stream reader reads this often.
SHARE_SECONDS = 2.0
# A consumer whose backlog is this full (of devtools.triggers.BACKLOG_LIMIT) runs without
# waiting for turns; this full, requests that write wait for it (at most the seconds).
SHARE_ALL_AT = 0.6
HOLD_WRITES_AT = 0.8
MAX_WRITE_WAIT_SECONDS = 30.0
# How often a waiting call looks at the backlogs again.
PRESSURE_POLL_SECONDS = 0.25

_background: ContextVar["Priority | None"] = ContextVar("background_priority", default=None)


class Abandoned(BaseException):
    """The stack is stopping: a background call is not made, and its invocation unwinds."""


class Priority:
    """Who goes first at the local stack's shared resources: requests, then the background.

    Turns are kept per lane, each with its share: the stream reader's reads (a
    lane of their own, READ_SHARE_SECONDS) must not wait behind the consumers'
    calls, or its records pile up unseen in moto and the stop's last read grows.
    """

    def __init__(
        self, share_seconds: float = SHARE_SECONDS, quiet_seconds: float = QUIET_SECONDS
    ) -> None:
        self._share_seconds = share_seconds
        self._quiet_seconds = quiet_seconds
        self._condition = threading.Condition()
        self._serving = 0
        self._closed = False
        self._last_turn: dict[str, float] = {}  # each lane's last turn
        self._quiet_since = time.monotonic()  # when the last request ended
        self._backlogs: list[Callable[[], float]] = []

    def watch(self, backlog: Callable[[], float]) -> None:
        """A consumer's backlog, as the fraction of its limit (see the module doc)."""
        self._backlogs.append(backlog)

    def pressure(self) -> float:
        """The fullest watched backlog, as a fraction of its limit."""
        return max((backlog() for backlog in self._backlogs), default=0.0)

    @contextmanager
    def serving(self, writes: bool = False) -> Iterator[None]:
        """An API request is being served while the block runs: background calls wait.

        A request that `writes` first waits (not yet served, so the consumers
        run) while a consumer's backlog is over HOLD_WRITES_AT, at most
        MAX_WRITE_WAIT_SECONDS.
        """
        if writes:
            self._hold_write()
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

    def _hold_write(self) -> None:
        deadline = time.monotonic() + MAX_WRITE_WAIT_SECONDS
        with self._condition:
            while (
                not self._closed
                and time.monotonic() < deadline
                and self.pressure() >= HOLD_WRITES_AT
            ):
                self._condition.wait(PRESSURE_POLL_SECONDS)

    @contextmanager
    def background(self) -> Iterator[None]:
        """Mark what the block runs (and the thread pools it starts) as background work."""
        token = _background.set(self)
        try:
            yield
        finally:
            _background.reset(token)

    def wait_turn(self, lane: str = "calls", share_seconds: float | None = None) -> bool:
        """Wait for `lane`'s turn: QUIET_SECONDS without a request, its share, or at once
        while a backlog is over SHARE_ALL_AT.

        False once the stack is stopping: the caller must not go on.
        """
        share = self._share_seconds if share_seconds is None else share_seconds
        with self._condition:
            while not self._closed:
                now = time.monotonic()
                share_at = self._last_turn.setdefault(lane, now) + share
                quiet_at = self._quiet_since + self._quiet_seconds
                if now >= share_at or (not self._serving and now >= quiet_at):
                    break
                if self.pressure() >= SHARE_ALL_AT:
                    break
                turn_at = share_at if self._serving else min(share_at, quiet_at)
                self._condition.wait(min(turn_at - now, PRESSURE_POLL_SECONDS))
            self._last_turn[lane] = time.monotonic()
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
