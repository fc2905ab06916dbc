"""End to end: the `make dev` stack as a subprocess, driven over real HTTP and maintctl."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devtools.childstack import child_environment, start_child_stack

ROOT = Path(__file__).resolve().parents[2]
TABLE = "maintenance-windows-e2e"

pytestmark = pytest.mark.slow  # a dev server in a subprocess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env
        self.key = ""

    def maintctl(self, *args: str) -> list[str]:
        script = Path(sys.executable).with_name("maintctl")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "devtools.maintctl"]
        done = subprocess.run(
            [*command, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()

    def http(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + "/api/v4" + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {key or self.key}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    port = free_port()
    settings = {
        "PORT": str(port),
        "TABLE_NAME": TABLE,
        "DEV_TICK_SECONDS": "3600",  # ticks come from maintctl tick --at, not the clock
        "DEV_DATA_DIR": str(tmp_path_factory.mktemp("data")),  # not the developer's
    }
    child = start_child_stack(settings)
    try:
        # maintctl reaches the stack's own DynamoDB, as docs/local.md tells operators to.
        maintctl_env = child_environment(
            {**settings, "AWS_ENDPOINT_URL_DYNAMODB": child.banner_value("DynamoDB")}
        )
        maintctl_env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        maintctl_env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        maintctl_env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        yield Stack(f"http://127.0.0.1:{port}", maintctl_env)
    finally:
        child.stop(timeout=30)


def test_a_whole_lifecycle(stack: Stack) -> None:
    # Keys come from maintctl, against the stack's own DynamoDB.
    stack.key = stack.maintctl("api-keys", "create", "--name", "e2e")[-1]
    assert re.fullmatch(r"kener_[0-9a-f]{64}", stack.key)
    reader = stack.maintctl("api-keys", "create", "--name", "viewer", "--read-only")[-1]
    assert stack.http("GET", "/maintenances", key=reader) == (200, {"maintenances": []})
    status, body = stack.http("POST", "/maintenances", {"title": "x"}, key=reader)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")

    now = int(time.time())
    start = (now // 60 + 30) * 60  # half an hour ahead, on a minute

    # A recurring window in Berlin time and a one-time window.
    status, body = stack.http(
        "POST",
        "/maintenances",
        {
            "title": "Nightly backup",
            "start_date_time": now,
            "timezone": "Europe/Berlin",
            "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0",
            "duration_seconds": 3600,
            "monitors": [{"monitor_tag": "db", "impact": "DEGRADED"}],
        },
    )
    assert status == 201, body
    nightly = body["maintenance"]
    assert nightly["timezone"] == "Europe/Berlin"
    status, body = stack.http(
        "POST",
        "/maintenances",
        {
            "title": "Upgrade",
            "start_date_time": start,
            "rrule": "FREQ=DAILY;COUNT=1",
            "duration_seconds": 600,
        },
    )
    assert status == 201, body
    upgrade = body["maintenance"]

    status, body = stack.http("GET", f"/maintenances/{nightly['id']}/events?limit=100")
    assert status == 200 and body["total"] >= 30
    berlin = ZoneInfo("Europe/Berlin")
    for event in body["events"]:
        local = datetime.fromtimestamp(event["start_date_time"], UTC).astimezone(berlin)
        assert (local.hour, local.minute) == (2, 0)  # 02:00 local, whatever the DST offset
    nightly_events = body["events"]

    status, body = stack.http("GET", f"/maintenances/events?maintenance_id={upgrade['id']}")
    assert status == 200 and body["total"] == 1
    item = body["events"][0]
    assert (item["event_status"], item["maintenance_title"]) == ("SCHEDULED", "Upgrade")
    event_path = f"/maintenances/{upgrade['id']}/events/{item['event_id']}"

    # The scheduler, run by hand at chosen instants, advances the one-time window.
    for at, expected in [
        (start - 301, "SCHEDULED"),
        (start - 300, "READY"),
        (start, "ONGOING"),
        (start + 600, "COMPLETED"),
    ]:
        stack.maintctl("tick", "--at", str(at))
        status, body = stack.http("GET", event_path)
        assert (status, body["event"]["status"]) == (200, expected), at

    # Reschedule one nightly occurrence, cancel another.
    moved, cancelled = nightly_events[3], nightly_events[4]
    status, body = stack.http(
        "PATCH",
        f"/maintenances/{nightly['id']}/events/{moved['id']}",
        {
            "start_date_time": moved["start_date_time"] + 3600,
            "end_date_time": moved["end_date_time"] + 3600,
        },
    )
    assert status == 200 and body["event"]["start_date_time"] == moved["start_date_time"] + 3600
    status, body = stack.http(
        "PATCH", f"/maintenances/{nightly['id']}/events/{cancelled['id']}", {"status": "CANCELLED"}
    )
    assert (status, body["event"]["status"]) == (200, "CANCELLED")
    status, body = stack.http(
        "GET", f"/maintenances/events?maintenance_id={nightly['id']}&event_status=cancelled"
    )
    assert [e["event_id"] for e in body["events"]] == [cancelled["id"]]

    # Delete: the maintenance and everything it owns are gone.
    status, body = stack.http("DELETE", f"/maintenances/{nightly['id']}")
    assert (status, body) == (
        200,
        {"message": f"Maintenance with id '{nightly['id']}' deleted successfully"},
    )
    assert stack.http("GET", f"/maintenances/{nightly['id']}")[0] == 404
    status, body = stack.http("GET", f"/maintenances/events?maintenance_id={nightly['id']}")
    assert (status, body["total"]) == (200, 0)
    status, body = stack.http("GET", "/maintenances")
    assert [m["id"] for m in body["maintenances"]] == [upgrade["id"]]
