"""`make fuzz` in a short mode, so `make test` notices when the fuzz run itself breaks.

The full run (every phase, minutes) is `make fuzz` in CI; here the examples and fuzzing
phases with a few cases each take seconds. Both directions are checked: against
docs/openapi.json it covers every operation and passes, and against a copy whose
Maintenance schema the service cannot satisfy it fails, so a run that silently stopped
checking responses would not pass unnoticed.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.run import SCHEMA, schema_operations

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a dev server and schemathesis in subprocesses

QUICK = ["--phases", "examples,fuzzing", "--max-examples", "5", "--time-limit", "60"]


def fuzz(*args: str) -> tuple[int, str]:
    """Run `python -m fuzz.run` as make fuzz does; (exit code, stdout and stderr)."""
    completed = subprocess.run(
        [sys.executable, "-m", "fuzz.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,  # the run's own limit is 60 s
    )
    return completed.returncode, completed.stdout + completed.stderr


def summary_number(output: str, pattern: str) -> int:
    found = re.search(pattern, output, re.MULTILINE)
    assert found is not None, f"{pattern!r} not in the output:\n{output}"
    return int(found.group(1))


def test_quick_fuzz_covers_every_operation_and_passes() -> None:
    assert len(schema_operations(SCHEMA)) == 13
    code, output = fuzz(*QUICK)
    assert code == 0, output
    assert re.search(r"^operations: 13/13 tested$", output, re.MULTILINE), output
    assert summary_number(output, r"^requests: (\d+)") >= 10
    assert summary_number(output, r"^failures: (\d+)$") == 0, output
    assert summary_number(output, r"^errors: (\d+)$") == 0, output
    assert "fuzz: OK" in output


def test_quick_fuzz_fails_on_a_response_the_schema_does_not_allow(tmp_path: Path) -> None:
    document = json.loads(SCHEMA.read_text())
    maintenance = document["components"]["schemas"]["Maintenance"]
    maintenance["properties"]["fuzz_canary"] = {"type": "string"}
    maintenance["required"].append("fuzz_canary")  # no maintenance the API returns has it
    broken = tmp_path / "openapi.json"
    broken.write_text(json.dumps(document))

    code, output = fuzz(*QUICK, "--schema", str(broken))
    assert code == 1, output
    assert summary_number(output, r"^failures: (\d+)$") > 0, output
    assert re.search(r"^  \S+ Response violates schema", output, re.MULTILINE), output
    assert "fuzz: FAILED" in output
