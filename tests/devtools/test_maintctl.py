"""maintctl against a moto table created from template.yaml, as an operator would run it."""

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import maintctl
from devtools.localaws import MotoSandbox
from devtools.template import load_template
from maintsvc.edge import apikeys
from maintsvc.storage import store
from maintsvc.storage.store import Store

TABLE = "maintctl-test"
SANDBOX = MotoSandbox(load_template().table, TABLE, "us-east-1")
KEY = re.compile(r"kener_[0-9a-f]{64}")


@pytest.fixture(autouse=True)
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("TABLE_NAME", TABLE)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    with SANDBOX.active():  # moto, and the table fresh for each test
        store.reset_clients()
        apikeys.clear_cache()
        yield
    store.reset_clients()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = maintctl.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_create_prints_the_key_last_and_it_authenticates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "api-keys", "create", "--name", "ci")
    assert code == 0
    assert KEY.fullmatch(out[-1])
    assert len(out) > 1  # what the key is comes before it
    api_key = apikeys.authenticate(Store(TABLE), f"Bearer {out[-1]}", "POST", 0)
    assert (api_key.name, api_key.scope, api_key.status) == ("ci", "write", "ACTIVE")


def test_read_only_keys_cannot_write(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "api-keys", "create", "--name", "viewer", "--read-only")
    assert code == 0
    assert apikeys.authenticate(Store(TABLE), f"Bearer {out[-1]}", "GET", 0).scope == "read"
    with pytest.raises(apikeys.ForbiddenError):
        apikeys.authenticate(Store(TABLE), f"Bearer {out[-1]}", "POST", 0)


def test_duplicate_name_fails_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "api-keys", "create", "--name", "ci")[0] == 0
    code, out, err = run(capsys, "api-keys", "create", "--name", "ci")
    assert code == 1
    assert out == []
    assert "'ci' already exists" in err


def test_list_shows_names_scopes_statuses_and_no_digests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "api-keys", "create", "--name", "writer")
    run(capsys, "api-keys", "create", "--name", "reader", "--read-only")
    code, out, _ = run(capsys, "api-keys", "list")
    assert code == 0
    assert out[0].split() == ["NAME", "SCOPE", "STATUS", "CREATED_AT"]
    rows = sorted(line.split() for line in out[1:])
    assert [row[:3] for row in rows] == [
        ["reader", "read", "ACTIVE"],
        ["writer", "write", "ACTIVE"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row[3]) for row in rows)
    assert not re.search(r"[0-9a-f]{64}", "\n".join(out))


def test_revoke_deactivates_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    key = run(capsys, "api-keys", "create", "--name", "ci")[1][-1]
    code, out, _ = run(capsys, "api-keys", "revoke", "ci")
    assert code == 0 and "Revoked" in out[0]
    with pytest.raises(apikeys.UnauthorizedError):
        apikeys.authenticate(Store(TABLE), f"Bearer {key}", "GET", 0)
    listed = run(capsys, "api-keys", "list")[1]
    assert listed[1].split()[:3] == ["ci", "write", "INACTIVE"]


def test_revoke_unknown_name_fails_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "api-keys", "revoke", "ghost")
    assert (code, out) == (1, [])
    assert "no API key named 'ghost'" in err


def test_missing_table_is_an_error_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    code, _, err = run(capsys, "api-keys", "list")
    assert code == 1
    assert err.startswith("maintctl: table no-such-table:")


def test_tick_advances_events_at_the_given_time(capsys: pytest.CaptureFixture[str]) -> None:
    from maintsvc.config import load_settings
    from maintsvc.resources.maintenances import create_maintenance

    start = 1_900_000_200
    body = {"title": "t", "start_date_time": start, "rrule": "FREQ=DAILY;COUNT=1",
            "duration_seconds": 600}  # fmt: skip
    create_maintenance(Store(TABLE), load_settings(), body, start - 3600)
    code, out, _ = run(capsys, "tick", "--at", str(start))
    assert code == 0
    assert out[-1].startswith(f"tick at {start}: ")
    report = json.loads(out[-1].split(": ", 1)[1])
    assert (report["now"], report["transitions"]) == (start, 1)
    event = Store(TABLE).query("PK = :pk", {":pk": "M#1"}, index="LSI1")[0]
    assert event["status"] == "ONGOING"


def test_hold_paused_holds_the_open_events_of_paused_maintenances_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Data from before holds: a maintenance paused then has unheld open events."""
    from maintsvc.config import load_settings
    from maintsvc.resources.maintenances import create_maintenance
    from maintsvc.storage import keys

    table = Store(TABLE)
    body = {"title": "t", "start_date_time": 1_900_000_000, "rrule": "FREQ=DAILY;COUNT=2",
            "duration_seconds": 600}  # fmt: skip
    paused = create_maintenance(table, load_settings(), body, 1_899_990_000)
    active = create_maintenance(table, load_settings(), body, 1_899_990_000)
    table.update(keys.maintenance_key(paused["id"]), "SET #s = :i, GSI1SK = :l",
                 {":i": "INACTIVE", ":l": keys.maintenance_list_sk("INACTIVE", paused["id"])},
                 {"#s": "status"})  # fmt: skip
    code, out, _ = run(capsys, "hold-paused")
    assert (code, out) == (0, [f"Held 2 open events of paused maintenances in table {TABLE}."])

    def holds(maintenance_id: int) -> list[Any]:
        found = table.query("PK = :pk", {":pk": keys.maintenance_pk(maintenance_id)}, index="LSI1")
        return [e.get("hold") for e in found]

    assert holds(paused["id"]) == ["INACTIVE", "INACTIVE"]
    assert holds(active["id"]) == [None, None]
