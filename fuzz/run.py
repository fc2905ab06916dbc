"""`make fuzz`: schemathesis against the local stack, over every operation, in bounded time.

What it does: starts the local stack (`python -m devtools.devserver`, what `make dev`
runs) on a free port with a fixed write key, waits until it answers, creates one
maintenance for the id-taking operations to find, runs schemathesis over
docs/openapi.json against the stack with that key, stops the stack, prints a summary and
exits non-zero on any failure: a 5xx, a response the document does not describe (status,
content type or body), a handler that ran past its Lambda timeout, an operation left
untested, a schemathesis error, or a run that did not finish within its time limit.

Why it is built this way:

* The stack and schemathesis are child processes. The stack's handlers log every
  request to stdout and each 5xx traceback to stderr; in a child, those go to files (the
  tracebacks are shown when the run fails) instead of into schemathesis' report. And
  schemathesis in a child makes the time limit a kill rather than a hope: a hung request
  or a runaway phase cannot keep CI waiting.
* The stack always uses its embedded moto server (any AWS_ENDPOINT_URL* is dropped) with
  `--in-memory`, so every run starts from an empty table, leaves nothing behind and can
  never fuzz a persistent DynamoDB, or `make dev`'s saved data, by accident. The
  scheduler ticks once at start and not again, so the data changes only through the
  requests sent here. It is exactly what `make dev` runs (moto's fixes included,
  devtools/motofix.py).
* Reproducible: a fixed seed, key, example count and one worker; schemathesis' example
  database and cache are off, so no earlier run changes what this one sends. (Times are
  real: events are materialised relative to the clock, so responses are not bit-equal.)
* The checks are those every request the document allows must pass:
  `not_a_server_error`, `status_code_conformance`, `content_type_conformance` and
  `response_schema_conformance`. Not `positive_data_acceptance`: schema-valid bodies are
  rightly refused when they break rules a schema cannot express (an rrule with no
  occurrence within ten years, a move of a COMPLETED event), nor `negative_data_rejection`:
  paging values are clamped, never rejected (docs/behaviour.md §4).
* The document's examples use id 1 for every path, so the two DELETE operations get no
  example or coverage cases: the first one would delete maintenance 1, and then every
  coverage case of PATCH and GET on `{maintenance_id}` would stop at a 404 before
  reaching the handler's validation. They are still fuzzed (with ids schemathesis saw
  created, and made-up ones) and run in stateful sequences.

Usage: python -m fuzz.run [--max-examples N] [--phases P,...] [--seed N] [--time-limit SECONDS]
                          [--schema PATH] [--report-dir DIR]
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "openapi.json"

# A valid write key (`kener_` + 64 lower-case hex). It only ever exists in the throwaway
# in-memory table of the stack started here, so it is no secret.
API_KEY = "kener_" + "0123456789abcdef" * 4
TABLE_NAME = "maintenance-windows-fuzz"

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
PHASES = ("examples", "coverage", "fuzzing", "stateful")
SEED = 20260101
# Most of a run is the coverage phase, whose size does not depend on this (about 480
# requests, 80 to 100 s on a busy 2-CPU machine): 10 keeps the whole run near two
# minutes there, inside TIME_LIMIT, and each step of 10 adds 10 to 20 s.
MAX_EXAMPLES = 10
# The issue allows 3 minutes; 170 s leaves room for make's own start.
TIME_LIMIT = 170.0
# Methods the coverage phase also sends to each path to check that undeclared ones get
# an error that is not a 5xx. schemathesis' default list also has TRACE and QUERY, which
# the local stack's http.server answers 501 Not Implemented itself, before any route or
# handler (RFC 9110 §15.6.2 makes 501 the answer to a method a server does not know).
UNEXPECTED_METHODS = ("get", "put", "post", "delete", "options", "patch")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
INTERRUPT_GRACE = 5.0
# API Gateway HTTP APIs give up on an integration after 30 s (the functions' Timeout
# is 29 s): a slower answer is a 503 when deployed, so it fails the run here too.
REQUEST_TIMEOUT = 30.0
SHOWN_LOG_LINES = 200
# What the devserver prints when a handler raised (a 500, or a failed scheduler tick) or
# overran its Timeout.
HANDLER_FAILED = re.compile(r"^devserver: \w+ (failed on |tick failed)")
HANDLER_OVERRAN = re.compile(r"^devserver: \w+ ran past its [\d.]+ s Timeout")
# http.server's access log, one line per request: not worth showing.
ACCESS_LOG = re.compile(r'^\S+ - - \[[^]]+\] "')

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FuzzError(Exception):
    """The run could not take place (the stack did not start, no time was left)."""


# -- the local stack -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    url: str
    stderr_log: Path
    process: subprocess.Popen[bytes]


def _stack_environment() -> dict[str, str]:
    """The devserver's environment: embedded moto only, dummy credentials, our key and port."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_ENDPOINT_URL")
        and name not in ("MOTO_PORT", "AWS_PROFILE", "AWS_SESSION_TOKEN", "DEV_DATA_DIR")
    }
    python_path = [str(ROOT / "shared"), str(ROOT), env.get("PYTHONPATH", "")]
    env.update(
        {
            "PORT": "0",
            "DEV_API_KEY": API_KEY,
            "DEV_TICK_SECONDS": str(24 * 3600),
            "TABLE_NAME": TABLE_NAME,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONPATH": os.pathsep.join(part for part in python_path if part),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _banner_url(stdout_log: Path) -> str | None:
    """The stack's URL once its banner is complete (its `API key:` line comes last)."""
    text = stdout_log.read_text(errors="replace")
    if "\nAPI key: " not in text:
        return None
    found = re.search(r" on (http://127\.0\.0\.1:\d+)", text)
    if found is None:
        raise FuzzError(f"no URL in the devserver banner:\n{text}")
    return found.group(1)


def _call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """One API request with the key, bypassing any proxy; (status, parsed JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    # url is the stack's own http://127.0.0.1 address, never user input.
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with _no_proxy.open(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _wait_until_serving(process: subprocess.Popen[bytes], stdout_log: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FuzzError(f"the devserver exited with {process.returncode} before serving")
        url = _banner_url(stdout_log)
        if url is not None:
            try:
                if _call(f"{url}/api/v4/maintenances")[0] == 200:
                    return url
            except OSError:
                pass  # not accepting yet
        time.sleep(0.2)
    raise FuzzError("the devserver did not serve in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as Ctrl-C would (the devserver stops moto and its threads), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_stack(workdir: Path, deadline: float) -> Iterator[Stack]:
    """Run the devserver (`make dev`) in a child until the block ends; output goes to workdir."""
    stdout_log, stderr_log = workdir / "devserver.out", workdir / "devserver.err"
    with stdout_log.open("wb") as stdout, stderr_log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.devserver", "--in-memory"],
            cwd=ROOT,
            env=_stack_environment(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            startup = min(deadline, time.monotonic() + STARTUP_TIMEOUT)
            try:
                url = _wait_until_serving(process, stdout_log, startup)
            except FuzzError:
                _stop(process)  # so its stderr is complete
                sys.stderr.write(stderr_log.read_text(errors="replace")[-5000:])
                raise
            yield Stack(url, stderr_log, process)
        finally:
            _stop(process)


def seed_data(url: str) -> None:
    """Create maintenance 1, the id of the document's examples, with events that outlive it.

    Without it, maintenance 1 is the first one schemathesis creates, whose events are
    deleted by the first PATCH that changes its schedule, so every event operation
    would see only 404s. These events started a day or two ago and are ONGOING: a
    schedule change keeps them as history, so event 1 stays there to be read, patched
    (validation, transitions) and deleted.
    """
    minute = int(time.time()) // 60 * 60
    body = {
        "title": "fuzz seed",
        "start_date_time": minute - 2 * 86400,
        "rrule": "FREQ=DAILY",
        "duration_seconds": 2 * 86400 + 3600,
        "monitors": [{"monitor_tag": "database", "impact": "DEGRADED"}],
    }
    status, created = _call(f"{url}/api/v4/maintenances", "POST", body)
    if status != 201 or created["maintenance"]["id"] != 1:
        raise FuzzError(f"seeding maintenance 1 failed: {status} {created}")


# -- schemathesis ----------------------------------------------------------------------------


def schema_operations(schema: Path) -> list[str]:
    """`METHOD /path` of every operation the document declares, in its order."""
    document = json.loads(schema.read_text())
    return [
        f"{method.upper()} {path}"
        for path, item in document.get("paths", {}).items()
        for method in HTTP_METHODS
        if method in item
    ]


def config_text() -> str:
    """Settings the CLI has no flag for (see the module docstring for why)."""
    methods = ", ".join(f'"{method}"' for method in UNEXPECTED_METHODS)
    return (
        "[cache]\n"
        "enabled = false\n\n"
        "[phases.coverage]\n"
        f"unexpected-methods = [{methods}]\n\n"
        "[[operations]]\n"
        'include-method = "DELETE"\n'
        "phases.examples.enabled = false\n"
        "phases.coverage.enabled = false\n"
    )


def schemathesis_command(
    *,
    schema: Path,
    url: str,
    config: Path,
    report_dir: Path,
    phases: Sequence[str],
    max_examples: int,
    seed: int,
) -> list[str]:
    """The `st run` command line (run as `python -m schemathesis.cli`, the same program)."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(schema),
        "--url",
        url,
        "--header",
        f"Authorization: Bearer {API_KEY}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        ",".join(phases),
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--report",
        "json,ndjson",
        "--report-dir",
        str(report_dir),
        "--report-json-path",
        str(report_dir / "report.json"),
        "--report-ndjson-path",
        str(report_dir / "events.ndjson"),
    ]


def run_schemathesis(command: list[str], workdir: Path, budget: float) -> tuple[int, bool]:
    """Run it for at most `budget` s (+ INTERRUPT_GRACE); (exit code, whether it overran).

    Past the budget it gets SIGINT first, like Ctrl-C: it stops and still writes its
    reports and prints the failures found so far. SIGKILL if it does not stop.
    """
    # In workdir: schemathesis and hypothesis keep files in the current directory, and
    # the repository must stay clean.
    process = subprocess.Popen(command, cwd=workdir, env=_client_environment())  # noqa: S603
    try:
        return process.wait(timeout=budget), False
    except subprocess.TimeoutExpired:
        print("\nfuzz: time limit reached, interrupting schemathesis", flush=True)
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=INTERRUPT_GRACE), True
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(), True


def _client_environment() -> dict[str, str]:
    """requests honours *_PROXY: a CI proxy must not sit between schemathesis and loopback."""
    env = dict(os.environ)
    no_proxy = ",".join(part for part in (env.get("NO_PROXY", ""), "127.0.0.1,localhost") if part)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


# -- results ---------------------------------------------------------------------------------


@dataclass
class Summary:
    """What the run did and found, from schemathesis' reports and the devserver's stderr."""

    expected_operations: list[str]
    exit_code: int | None = None
    timed_out: bool = False
    running_time: float | None = None
    test_cases: int = 0
    # "METHOD /path" -> "2xx"/"4xx"/... -> requests
    requests: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    missing_test_data: list[str] = field(default_factory=list)
    handler_failures: list[str] = field(default_factory=list)
    handler_overruns: list[str] = field(default_factory=list)
    stack_exit_code: int | None = None  # set if the stack died during the run
    server_log: list[str] = field(default_factory=list)

    @property
    def request_count(self) -> int:
        return sum(sum(statuses.values()) for statuses in self.requests.values())

    @property
    def untested(self) -> list[str]:
        return [op for op in self.expected_operations if not self.requests.get(op)]

    @property
    def failure_count(self) -> int:
        return sum(int(failure.get("count", 1)) for failure in self.failures)

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0
            and not self.timed_out
            and not self.failures
            and not self.errors
            and not self.untested
            and not self.handler_failures
            and not self.handler_overruns
            and self.stack_exit_code is None
        )


def read_results(summary: Summary, report_dir: Path, stack: Stack | None) -> None:
    """Fill `summary`; a killed run leaves a partial event stream and no JSON report."""
    events = report_dir / "events.ndjson"
    lines = events.read_text(errors="replace").splitlines() if events.exists() else []
    for line in lines:
        try:
            finished = json.loads(line).get("ScenarioFinished")
        except json.JSONDecodeError:
            continue  # the last line of a killed run
        if finished is None:
            continue
        recorder = finished["recorder"]
        cases = recorder.get("cases", {})
        for case_id, interaction in recorder.get("interactions", {}).items():
            case = cases.get(case_id, {}).get("value", {})
            operation = f"{case.get('method', '?')} {case.get('path', '?')}"
            status = (interaction.get("response") or {}).get("status_code")
            outcome = f"{status // 100}xx" if isinstance(status, int) else "no response"
            summary.requests.setdefault(operation, Counter())[outcome] += 1
    try:
        report = json.loads((report_dir / "report.json").read_text())
    except (OSError, json.JSONDecodeError):
        report = {}
    summary.running_time = report.get("running_time")
    summary.test_cases = report.get("test_cases", {}).get("generated", 0)
    summary.failures = list(report.get("failures") or [])
    summary.errors = list(report.get("errors") or [])
    summary.missing_test_data = list(report.get("warnings", {}).get("missing_test_data") or [])
    if stack is not None and stack.stderr_log.exists():
        log = stack.stderr_log.read_text(errors="replace").splitlines()
        summary.server_log = [line for line in log if not ACCESS_LOG.match(line)]
        summary.handler_failures = [line for line in log if HANDLER_FAILED.match(line)]
        summary.handler_overruns = [line for line in log if HANDLER_OVERRAN.match(line)]


def _statuses(counts: Counter[str]) -> str:
    return ", ".join(f"{outcome} {n}" for outcome, n in sorted(counts.items())) or "-"


def print_summary(summary: Summary, *, phases: Sequence[str], seed: int, max_examples: int) -> None:
    expected = summary.expected_operations
    undeclared: Counter[str] = Counter()
    for operation, counts in summary.requests.items():
        if operation not in expected:
            undeclared.update(counts)
    lines = [
        "",
        "== fuzz summary ==",
        f"seed {seed}, max {max_examples} examples per operation, phases {','.join(phases)}",
        f"checks {','.join(CHECKS)}",
        f"operations: {len(expected) - len(summary.untested)}/{len(expected)} tested",
        *(
            f"  {sum(counts.values()):5d}  {op}  ({_statuses(counts)})"
            for op in expected
            for counts in [summary.requests.get(op, Counter())]
        ),
        f"  {sum(undeclared.values()):5d}  undeclared methods on those paths"
        f"  ({_statuses(undeclared)})",
        f"requests: {summary.request_count} ({summary.test_cases} test cases)",
        f"failures: {summary.failure_count}",
        *(
            f"  {failure.get('code')} {failure.get('title')} x{failure.get('count')}: "
            + ", ".join(failure.get("operations", []))
            for failure in summary.failures
        ),
        f"errors: {len(summary.errors)}",
        *(f"  {json.dumps(error)[:300]}" for error in summary.errors),
        *(f"handler error: {line}" for line in summary.handler_failures),
        *(f"Lambda timeout (a 503 when deployed): {line}" for line in summary.handler_overruns),
    ]
    if summary.missing_test_data:
        lines.append("only 404s, no data reached: " + ", ".join(summary.missing_test_data))
    if summary.untested:
        lines.append("NOT TESTED: " + ", ".join(summary.untested))
    if summary.stack_exit_code is not None:
        lines.append(f"THE STACK DIED during the run (exit code {summary.stack_exit_code})")
    if summary.timed_out:
        lines.append("TIMED OUT: schemathesis was stopped before it finished")
    elif summary.exit_code not in (0, None):
        lines.append(f"schemathesis exited with {summary.exit_code}")
    if summary.running_time is not None:
        lines.append(f"schemathesis ran {summary.running_time:.1f} s")
    if not summary.ok and summary.server_log:
        shown = summary.server_log[-SHOWN_LOG_LINES:]
        lines += ["", f"== devserver stderr, last {len(shown)} lines but the access log ==", *shown]
    print("\n".join(lines), flush=True)


# -- main ------------------------------------------------------------------------------------


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _phases(raw: str) -> tuple[str, ...]:
    phases = tuple(phase.strip() for phase in raw.split(",") if phase.strip())
    unknown = set(phases) - set(PHASES)
    if not phases or unknown:
        raise argparse.ArgumentTypeError(f"phases are some of {','.join(PHASES)}, got {raw!r}")
    return phases


def _time_limit(raw: str) -> float:
    value = float(raw)
    if not 30 <= value <= TIME_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 30 to {TIME_LIMIT:g} s, got {raw}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.run",
        description="Fuzz the local stack with schemathesis (make fuzz).",
    )
    parser.add_argument(
        "--max-examples",
        type=_positive_int,
        default=MAX_EXAMPLES,
        help=f"cases per operation in the fuzzing and stateful phases (default {MAX_EXAMPLES})",
    )
    parser.add_argument(
        "--phases",
        type=_phases,
        default=PHASES,
        help=f"comma-separated schemathesis phases (default {','.join(PHASES)})",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"default {SEED}")
    parser.add_argument(
        "--time-limit",
        type=_time_limit,
        default=TIME_LIMIT,
        help=f"wall-clock limit of the whole run, stack included (default and most {TIME_LIMIT:g})",
    )
    parser.add_argument("--schema", type=Path, default=SCHEMA, help="the OpenAPI document")
    parser.add_argument(
        "--report-dir", type=Path, help="keep schemathesis' JSON and NDJSON reports here"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Summary:
    """Stack up, seed, schemathesis, stack down; the summary is printed whatever happens."""
    deadline = time.monotonic() + args.time_limit
    schema = args.schema.resolve()
    summary = Summary(expected_operations=schema_operations(schema))
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        workdir = Path(tmp)
        report_dir = (args.report_dir or workdir / "reports").resolve()
        report_dir.mkdir(parents=True, exist_ok=True)
        config = workdir / "schemathesis.toml"
        config.write_text(config_text())
        stack: Stack | None = None
        try:
            with local_stack(workdir, deadline) as stack:
                seed_data(stack.url)
                command = schemathesis_command(
                    schema=schema,
                    url=stack.url,
                    config=config,
                    report_dir=report_dir,
                    phases=args.phases,
                    max_examples=args.max_examples,
                    seed=args.seed,
                )
                shown = " ".join(command[3:]).replace(API_KEY, "$FUZZ_KEY")
                print(f"fuzz: stack on {stack.url}; schemathesis {shown}", flush=True)
                budget = deadline - time.monotonic() - STOP_TIMEOUT - INTERRUPT_GRACE
                if budget <= 0:
                    raise FuzzError("no time left for schemathesis once the stack was up")
                summary.exit_code, summary.timed_out = run_schemathesis(command, workdir, budget)
                summary.stack_exit_code = stack.process.poll()
        finally:
            if stack is not None:  # the stack is stopped: its log is complete
                read_results(summary, report_dir, stack)
                print_summary(
                    summary, phases=args.phases, seed=args.seed, max_examples=args.max_examples
                )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        summary = run(args)
    except FuzzError as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    if not summary.ok:
        print(f"fuzz: FAILED after {elapsed:.0f} s", file=sys.stderr)
        return 1
    print(f"fuzz: OK in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
