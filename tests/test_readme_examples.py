"""The README's curl block does what its comments say, on any day.

bash runs the block as written (its time arithmetic included) with `curl`
replaced by a function that records its arguments; each recorded request is
then sent through the handlers, on a fresh table, at the same "now" the
block's `date +%s` saw: today, and a day before a DST change between the
first window and the third.
"""

import json
import re
import shlex
import subprocess
import time
from calendar import timegm
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import GATEWAY, ROOT, MotoSandbox, Request, index_stream, reads_read_models

README = ROOT / "README.md"
API = "http://127.0.0.1:3000"
# 2027-03-20 10:30 UTC: the first window on a Saturday in CET, the third in CEST.
BEFORE_DST = timegm((2027, 3, 20, 10, 30, 0))


def using_it_block() -> str:
    """The first sh block under "## Using it"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using it") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no sh block under ## Using it"
    return match.group(1)


def test_the_block_has_no_fixed_times() -> None:
    block = using_it_block()
    assert re.findall(r"(?<!\d)1\d{9}(?!\d)", block) == []  # no epoch seconds written out
    assert "$(date +%s)" in block


def curl_calls(block: str, now: int | None, tmp_path: Path) -> list[list[str]]:
    """The block run by bash; the argument lists of its curl calls, in order."""
    log = tmp_path / "curl.log"
    stubs = f"""
curl() {{ printf '%s\\0' "$@" '' >> {shlex.quote(str(log))}; }}
date() {{ if [ "${{1-}}" = +%s ] && [ -n "$FAKE_NOW" ]; then echo "$FAKE_NOW"; else command date "$@"; fi; }}
"""
    env = {"PATH": "/usr/bin:/bin", "FAKE_NOW": "" if now is None else str(now)}
    subprocess.run(["bash", "-euc", stubs + block], check=True, env=env, timeout=30)
    calls = log.read_text().split("\0\0")  # each call's arguments end with an empty one
    return [call.split("\0") for call in calls if call]


def request_of(argv: list[str], key: str) -> Request:
    """A curl argument list as the request it sends (the options the README uses)."""
    method, headers, body, url = None, [], "", None
    arguments = iter(argv)
    for argument in arguments:
        if argument in ("-s", "-i"):
            continue
        if argument == "-X":
            method = next(arguments)
        elif argument == "-H":
            name, _, value = next(arguments).partition(": ")
            headers.append((name.lower(), value))
        elif argument == "-d":
            body = next(arguments)
        elif argument.startswith("-"):
            raise AssertionError(f"the test does not know curl's {argument}")
        else:
            url = argument
    assert url and url.startswith(API), argv
    headers = [(n, f"Bearer {key}" if n == "authorization" else v) for n, v in headers]
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return Request(method or ("POST" if body else "GET"), target, headers, body.encode())


@pytest.mark.parametrize("day", ["today", "before a DST change"])
def test_every_line_shows_what_it_says(
    day: str,
    write_key: str,
    sandbox: MotoSandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    now = int(time.time()) if day == "today" else BEFORE_DST
    monkeypatch.setattr(time, "time", lambda: float(now))
    start = now // 3600 * 3600 + 7200
    answers: list[tuple[str, int, Any]] = []
    for argv in curl_calls(using_it_block(), None if day == "today" else now, tmp_path):
        request = request_of(argv, write_key)
        if reads_read_models(request.target.partition("?")[0]):
            index_stream(sandbox)  # what the stream's consumers did meanwhile
        response = GATEWAY.handle(request)
        payload = json.loads(response.body) if response.body else None
        answers.append((f"{request.method} {request.target}", response.status, payload))
    steps = iter(answers)

    def step(expected_status: int) -> Any:
        what, status, payload = next(steps)
        assert status == expected_status, (what, payload)
        return payload

    created = step(201)["maintenance"]
    assert (created["id"], created["start_date_time"], created["rrule"]) == (
        1,
        start,
        "FREQ=WEEKLY",
    )
    assert [m["id"] for m in step(200)["maintenances"]] == [1]
    assert [m["id"] for m in step(200)["maintenances"]] == [1]  # ACTIVE, monitor database
    events = step(200)["events"]
    assert len(events) == 5 and events[0]["start_date_time"] == start
    third = events[2]
    feed = step(200)
    assert feed["total"] >= 5 and {e["event_status"] for e in feed["events"]} == {"SCHEDULED"}
    now_status = step(200)
    assert now_status["in_maintenance"] is False
    assert now_status["next"]["event_start_date_time"] == start
    at_start = step(200)
    assert (at_start["in_maintenance"], at_start["impact"]) == (True, "DEGRADED")
    moved = step(200)["event"]
    assert moved["id"] == third["id"] == 3
    assert moved["start_date_time"] == start + 14 * 86400 + 1800
    assert moved["end_date_time"] - moved["start_date_time"] == 3600
    assert step(200)["event"]["status"] == "CANCELLED"
    assert step(200)["maintenance"]["status"] == "INACTIVE"
    assert "deleted" in step(200)["message"]
    assert next(steps, None) is None
