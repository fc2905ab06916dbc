"""`make dev` as a terminal runs it: requests under load, and a stop with Ctrl-C.

Each test runs `make dev` (make included: it passes SIGTERM on to the server) as
the leader of a process group of its own, and signals the whole group, as a
terminal's Ctrl-C or a `kill -TERM -<pgid>` does.
"""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.devstack import API_KEY, gets_during_posts, post_hourly
from devtools.childstack import ChildStack, start_child_stack

pytestmark = pytest.mark.slow  # make dev in a subprocess, load for seconds

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# docs/local.md: Ctrl-C or SIGTERM stops the stack within 2 s whatever it is doing.
STOP_SECONDS = 2.0
# Requests never hold each other up: the GETs alongside ten hourly creates.
GET_P95_MS = 200
GET_MAX_MS = 1000


def settings(data_dir: Path) -> dict[str, str]:
    return {"DEV_API_KEY": API_KEY, "DEV_TICK_SECONDS": "3600", "DEV_DATA_DIR": str(data_dir)}


def start_make_dev(data_dir: Path) -> ChildStack:
    return start_child_stack(settings(data_dir), stderr=subprocess.STDOUT, make=True)


def maintenance_ids(url: str) -> list[int]:
    request = urllib.request.Request(
        f"{url}/api/v4/maintenances", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with OPENER.open(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    return [m["id"] for m in body["maintenances"]]


@pytest.mark.parametrize("times", [1, 2], ids=["once", "twice"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ctrl_c_stops_make_dev_cleanly_within_two_seconds_and_keeps_the_data(
    tmp_path: Path, signum: int, times: int
) -> None:
    """Mid-request, with the indexer busy; `twice`: a second Ctrl-C, or make's own SIGTERM
    arriving late (it used to land mid-shutdown: a traceback and a stop of up to 28 s)."""
    stack = start_make_dev(tmp_path)
    try:
        for _ in range(3):  # 1,500 events for the indexer to work through
            status, _ = post_hourly(stack.url, monitors=True)
            assert status == 201
        created = maintenance_ids(stack.url)
        threading.Thread(target=post_hourly, args=(stack.url, 30), daemon=True).start()
        time.sleep(0.3)  # that POST is in its handler
        sent = time.monotonic()
        stack.signal(signum)
        if times == 2:
            time.sleep(0.1)
            stack.signal(signum)
        stack.process.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        stack.kill()
    time.sleep(0.2)  # the last lines reach the reader thread
    output = "\n".join(stack.output)
    assert took < STOP_SECONDS, output
    assert "devserver: stopped" in stack.output, output
    assert "Traceback" not in output

    restarted = start_child_stack(settings(tmp_path))
    try:
        assert set(created) <= set(maintenance_ids(restarted.url))
    finally:
        restarted.stop()


def feed_total(url: str) -> int:
    """The global feed's `total`: every event from now on, as the indexer has counted them."""
    request = urllib.request.Request(
        f"{url}/api/v4/maintenances/events?limit=1",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    with OPENER.open(request, timeout=30) as response:
        total: int = json.loads(response.read())["total"]
    return total


def test_what_the_indexer_had_not_done_at_a_stop_is_done_after_the_restart(
    tmp_path: Path,
) -> None:
    """The consumers lag by design while requests keep coming; a stop must not turn that
    lag into derived data (the feed's counters) that stays wrong for good."""
    stack = start_make_dev(tmp_path)
    try:
        for _ in range(3):  # 1,500 future events
            status, _ = post_hourly(stack.url, monitors=True)
            assert status == 201
        assert feed_total(stack.url) < 1500  # the indexer is behind
        stack.signal(signal.SIGTERM)
        stack.process.wait(timeout=30)
    finally:
        stack.kill()
    assert "devserver: stopped" in stack.output

    restarted = start_child_stack(settings(tmp_path))
    try:
        deadline = time.monotonic() + 120
        while feed_total(restarted.url) != 1500 and time.monotonic() < deadline:
            time.sleep(1)
        assert feed_total(restarted.url) == 1500
    finally:
        restarted.stop()


def machine_has_room() -> bool:
    """No more runnable work than cores (other suites share CI and development machines)."""
    return os.getloadavg()[0] <= (os.cpu_count() or 1)


def test_requests_are_not_held_up_by_hourly_creates_or_their_indexing(tmp_path: Path) -> None:
    """GETs alongside ten hourly creates one after another (`make bench-dev` prints the
    same figures), and in the seconds after, while the indexer works through them.

    Before, a GET waited for the POST in progress and then for whole indexer batches:
    p95 1.6 s against POSTs of 0.5 s, and 3-4 s per GET after them. Held to the ratio
    to the POSTs in every run, which stands however busy the machine is, and to the
    1 s maximum when the machine has a core to spare (under a load average of 8 on 2
    cores every request is 2-3 times slower); a second round runs when the first's p95
    misses the benchmark's 200 ms.
    """
    stack = start_make_dev(tmp_path)
    rounds = []
    try:
        for _ in range(2):
            figures = gets_during_posts(stack, 10, after=3.0)
            rounds.append((figures, machine_has_room()))
            if figures["during"]["p95_ms"] < GET_P95_MS:
                break
    finally:
        stack.stop()
    for figures, _ in rounds:
        post_ms = 1000 * figures["post_median_s"]
        assert figures["during"]["gets"] >= 20, rounds
        assert figures["during"]["p95_ms"] < post_ms / 2, rounds
        assert figures["during"]["max_ms"] < 2 * post_ms, rounds
        assert figures["after"]["max_ms"] < 2 * post_ms, rounds
    if all(room for _, room in rounds):
        # p95 < 200 ms is the benchmark's target (`make bench-dev`, docs/performance.md):
        # it sits within a few ms of the target on a 2-core machine, too close for a test.
        assert all(f["during"]["max_ms"] < GET_MAX_MS for f, _ in rounds), rounds
        assert all(f["after"]["max_ms"] < GET_MAX_MS for f, _ in rounds), rounds
