"""`make dev` under load: `python -m bench.devstack [--creates N] [--data-dir DIR]`.

Starts the local stack the way `make dev` does (`python -m devtools.devserver`, a child
process), creates N maintenances with an hourly rule (500 events each, the most one
maintenance can have), and reports each POST's latency and the server's resident
memory (VmRSS from /proc, so Linux only). Then it sends one more hourly POST and,
while that request is being served, SIGTERM, and reports how long the server took to
exit. The stack runs with a throwaway data directory (never the developer's
`.local-data/`) unless --data-dir says otherwise.

These are the numbers behind the `make dev` targets: an hourly POST answers in under
3 s, 100 of them leave the server under 1 GB, SIGTERM stops it within 2 s whatever it
is doing.
"""

import argparse
import contextlib
import json
import re
import statistics
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
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def rss_mib(pid: int) -> float | None:
    """Resident memory of `pid` in MiB, or None where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def post_hourly(url: str, timeout: float = 120.0) -> tuple[int, float]:
    """One hourly-rule create starting at the next whole minute; (status, seconds)."""
    body = {
        "title": "t",
        "start_date_time": (int(time.time()) + 60) // 60 * 60,
        "rrule": HOURLY,
        "duration_seconds": 600,
    }
    request = urllib.request.Request(
        f"{url}/api/v4/maintenances",
        data=json.dumps(body).encode(),
        method="POST",
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


def stop_during_request(stack: ChildStack) -> float:
    """SIGTERM while an hourly POST is being served; seconds until the process exited."""
    client = threading.Thread(target=_ignore_errors, args=(stack.url,), daemon=True)
    client.start()
    time.sleep(0.3)  # the request is in the handler by now
    sent = time.perf_counter()
    stack.stop(timeout=30)
    return time.perf_counter() - sent


def _ignore_errors(url: str) -> None:
    with contextlib.suppress(OSError):  # the server went away mid-request: expected
        post_hourly(url, timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="devstack-") as tmp:
        settings = {
            "DEV_API_KEY": API_KEY,
            "DEV_TICK_SECONDS": "60",
            "DEV_DATA_DIR": str(args.data_dir or Path(tmp)),
        }
        stack = start_child_stack(settings)
        pid = stack.process.pid
        print(f"stack on {stack.url}, pid {pid}, RSS {rss_mib(pid) or 0:.0f} MiB")
        latencies: list[float] = []
        peak = 0.0
        try:
            for n in range(1, args.creates + 1):
                status, seconds = post_hourly(stack.url)
                rss = rss_mib(pid) or 0.0
                peak = max(peak, rss)
                latencies.append(seconds)
                print(f"POST {n:3d}: {status} in {seconds:5.2f} s, RSS {rss:6.0f} MiB", flush=True)
                if status != 201:
                    return 1
        except BaseException:
            stack.process.kill()
            raise
        stop = stop_during_request(stack)
    summary: dict[str, Any] = {
        "creates": len(latencies),
        "latency_median_s": round(statistics.median(latencies), 2),
        "latency_max_s": round(max(latencies), 2),
        "rss_peak_mib": round(peak),
        "sigterm_mid_request_s": round(stop, 2),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
