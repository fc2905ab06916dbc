"""`make dev` under load: `python -m bench.devstack [--posts N] [--creates N] [--data-dir DIR]`.

Runs of the local stack, each in a child process with a throwaway data directory
(never the developer's `.local-data/`) unless --data-dir says otherwise:

1. **Requests alongside hourly creates, then a stop** (four runs). `make dev`, in a
   process group of its own as a terminal runs it. N (10) hourly-rule POSTs with a
   monitor, one after another (500 events each: the indexer then has 5,000 stream
   records to work through), while one client GETs the maintenance list every
   50 ms. Prints p50/p95/max of the GETs started while the POSTs ran, next to the
   targets (p95 < 200 ms, max < 1 s: requests never hold each other up), and of
   those in the AFTER (10) seconds that follow, while the indexer catches up.
   Then, during one more POST, SIGTERM or SIGINT to the whole group, as Ctrl-C
   does (make passes a second SIGTERM on to the server), once, or twice 0.1 s
   apart (a second Ctrl-C, or make's SIGTERM arriving late): how long make took
   to exit, whether the server printed its "stopped" line, whether any traceback
   was printed.
2. **Memory and a stop mid-request.** `python -m devtools.devserver`, C (100) hourly
   creates; each POST's latency and the server's resident memory (VmRSS from /proc,
   so Linux only); then SIGTERM to the server alone during one more POST.

These are the numbers behind the `make dev` targets: a GET answers in under 200 ms
(p95) and 1 s (max) whatever else runs, an hourly POST in under 3 s (in a loop, after
about fifteen the creates are paced by the indexer: devtools/priority.py), 100 of them
leave the server under 1 GB, and SIGTERM or SIGINT stops it within 2 s whatever it is
doing, with its "stopped" line and no traceback.
"""

import argparse
import contextlib
import json
import math
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devtools.childstack import ChildStack, start_child_stack

API_KEY = "kener_" + "0123456789abcdef" * 4
HOURLY = "FREQ=HOURLY"
GET_PAUSE_SECONDS = 0.05
GET_P95_TARGET_S = 0.2
GET_MAX_TARGET_S = 1.0
STOP_TARGET_S = 2.0
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def rss_mib(pid: int) -> float | None:
    """Resident memory of `pid` in MiB, or None where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def _request(
    url: str, method: str = "GET", body: Any = None, timeout: float = 120.0
) -> tuple[int, float]:
    """(status, seconds) of one API request with the bench's key."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def post_hourly(url: str, timeout: float = 120.0, monitors: bool = False) -> tuple[int, float]:
    """One hourly-rule create (500 events) starting at the next whole hour; (status, seconds)."""
    body: dict[str, Any] = {
        "title": "t",
        "start_date_time": (int(time.time()) // 3600 + 1) * 3600,
        "rrule": HOURLY,
        "duration_seconds": 600,
    }
    if monitors:  # the indexer also files every event in the monitor's window index
        body["monitors"] = [{"monitor_tag": "api", "impact": "DOWN"}]
    return _request(f"{url}/api/v4/maintenances", "POST", body, timeout)


def nearest_rank(values: list[float], fraction: float) -> float:
    """The `fraction` percentile by nearest rank: a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class _Getter(threading.Thread):
    """GETs the maintenance list every GET_PAUSE_SECONDS, recording (start, seconds)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._url = f"{url}/api/v4/maintenances"
        self.stopping = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.failures = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            status, seconds = _request(self._url, timeout=60)
            if status == 200:
                self.samples.append((started, seconds))
            else:
                self.failures += 1
            self.stopping.wait(GET_PAUSE_SECONDS)


def _latencies(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"gets": 0}
    return {
        "gets": len(seconds),
        "p50_ms": round(1000 * statistics.median(seconds)),
        "p95_ms": round(1000 * nearest_rank(seconds, 0.95)),
        "max_ms": round(1000 * max(seconds)),
    }


def gets_during_posts(stack: ChildStack, posts: int, after: float) -> dict[str, Any]:
    """GET latency while `posts` hourly POSTs (with a monitor) run one after another,
    and in the `after` seconds that follow."""
    getter = _Getter(stack.url)
    getter.start()
    time.sleep(0.5)  # a few GETs on the idle stack first: the function is warm
    began = time.monotonic()
    post_seconds = []
    for _ in range(posts):
        status, seconds = post_hourly(stack.url, monitors=True)
        if status != 201:
            raise RuntimeError(f"POST answered {status}")
        post_seconds.append(seconds)
    ended = time.monotonic()
    time.sleep(after)
    getter.stopping.set()
    getter.join()
    return {
        "post_median_s": round(statistics.median(post_seconds), 2),
        "get_failures": getter.failures,
        "during": _latencies([s for t, s in getter.samples if began <= t < ended]),
        "after": _latencies([s for t, s in getter.samples if t >= ended]),
    }


def stop_group_during_request(stack: ChildStack, signum: int, twice: bool) -> dict[str, Any]:
    """`signum` to the stack's process group while an hourly POST is being served
    (`twice`: again 0.1 s later, if make is still running)."""
    client = threading.Thread(target=_ignore_errors, args=(stack.url,), daemon=True)
    client.start()
    time.sleep(0.3)  # the request is in the handler by now
    sent = time.perf_counter()
    stack.signal(signum)
    if twice:
        time.sleep(0.1)
        stack.signal(signum)
    try:
        stack.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stack.kill()
    seconds = time.perf_counter() - sent
    time.sleep(0.2)  # the reader thread takes the last lines
    output = list(stack.output)
    return {
        "stop_s": round(seconds, 2),
        "stopped_line": "devserver: stopped" in output,
        "traceback": any("Traceback" in line for line in output),
    }


def stop_during_request(stack: ChildStack) -> float:
    """SIGTERM (the server alone) while an hourly POST is being served; seconds to exit."""
    client = threading.Thread(target=_ignore_errors, args=(stack.url,), daemon=True)
    client.start()
    time.sleep(0.3)  # the request is in the handler by now
    sent = time.perf_counter()
    stack.stop(timeout=30)
    return time.perf_counter() - sent


def _ignore_errors(url: str) -> None:
    with contextlib.suppress(OSError):  # the server went away mid-request: expected
        post_hourly(url, timeout=30)


def _settings(data_dir: Path) -> dict[str, str]:
    return {"DEV_API_KEY": API_KEY, "DEV_TICK_SECONDS": "60", "DEV_DATA_DIR": str(data_dir)}


def _line(label: str, figures: dict[str, Any]) -> str:
    if not figures["gets"]:
        return f"  {label}: no GETs"
    return (
        f"  {label}: {figures['gets']:3d} GETs, p50 {figures['p50_ms']:5d} ms, "
        f"p95 {_verdict(figures['p95_ms'], GET_P95_TARGET_S)}, "
        f"max {_verdict(figures['max_ms'], GET_MAX_TARGET_S)}"
    )


def _verdict(milliseconds: float, target_s: float) -> str:
    met = "met" if milliseconds < target_s * 1000 else "MISSED"
    return f"{milliseconds:5.0f} ms (< {target_s * 1000:.0f}: {met})"


def requests_alongside_creates(
    data_dir: Path, posts: int, after: float, signum: int, twice: bool
) -> dict[str, Any]:
    """Run 1 of the module doc: GETs during `posts` POSTs, then `signum` to the group."""
    stack = start_child_stack(_settings(data_dir), stderr=subprocess.STDOUT, make=True)
    try:
        figures = gets_during_posts(stack, posts, after)
        stop = stop_group_during_request(stack, signum, twice)
    finally:
        if stack.process.poll() is None:
            stack.kill()
    name = signal.Signals(signum).name + (" twice" if twice else "")
    print(f"{name} run: {posts} hourly POSTs (median {figures['post_median_s']:.2f} s)")
    print(_line("GETs during the POSTs", figures["during"]))
    print(_line(f"GETs in the {after:g} s after", figures["after"]))
    met = "met" if stop["stop_s"] < STOP_TARGET_S else "MISSED"
    print(
        f"  {name} to make's process group during a POST: exited in {stop['stop_s']:.2f} s "
        f"(< {STOP_TARGET_S:g} s: {met}), "
        f"stopped line {'printed' if stop['stopped_line'] else 'MISSING'}, "
        f"{'a TRACEBACK' if stop['traceback'] else 'no traceback'}",
        flush=True,
    )
    return {**figures, "stop": stop}


def memory_and_stop(data_dir: Path, creates: int) -> dict[str, Any]:
    """Run 3 of the module doc."""
    stack = start_child_stack(_settings(data_dir))
    pid = stack.process.pid
    print(f"stack on {stack.url}, pid {pid}, RSS {rss_mib(pid) or 0:.0f} MiB")
    latencies: list[float] = []
    peak = 0.0
    try:
        for n in range(1, creates + 1):
            status, seconds = post_hourly(stack.url)
            rss = rss_mib(pid) or 0.0
            peak = max(peak, rss)
            latencies.append(seconds)
            print(f"POST {n:3d}: {status} in {seconds:5.2f} s, RSS {rss:6.0f} MiB", flush=True)
            if status != 201:
                raise RuntimeError(f"POST answered {status}")
    except BaseException:
        stack.kill()
        raise
    stop = stop_during_request(stack)
    return {
        "creates": len(latencies),
        "latency_median_s": round(statistics.median(latencies), 2),
        "latency_max_s": round(max(latencies), 2),
        "rss_peak_mib": round(peak),
        "sigterm_mid_request_s": round(stop, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10, help="hourly POSTs the GETs run along")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of GETs after them")
    parser.add_argument("--creates", type=int, default=100, help="0: skip the memory run")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    args = parser.parse_args(argv)
    summary: dict[str, Any] = {}
    signals = (signal.SIGTERM, signal.SIGINT)
    runs = [(signum, twice) for twice in (False, True) for signum in signals]
    with tempfile.TemporaryDirectory(prefix="devstack-") as tmp:
        base = args.data_dir or Path(tmp)
        for signum, twice in runs:
            name = signal.Signals(signum).name.lower() + ("_twice" if twice else "")
            summary[name] = requests_alongside_creates(
                base / name, args.posts, args.after, signum, twice
            )
        if args.creates:
            summary["memory"] = memory_and_stop(base / "memory", args.creates)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
