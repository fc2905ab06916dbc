"""`make dev` in a child process, for what drives it from outside (tests, `make bench-dev`).

A child is the real thing: its own interpreter, signals, exit code and memory.
`start_child_stack` runs `python -m devtools.devserver` with the given settings
(or, with `make=True`, `make dev` itself, in a process group of its own as a
terminal would run it), waits for the banner's last line (`API key: ...`,
printed once it serves) and keeps reading the child's output afterwards, so the
access log never fills the pipe and blocks it; the lines are kept in `output`.
`ChildStack.stop()` sends SIGTERM, as Ctrl-C would (to the whole group for
`make dev`), and kills it if it does not exit in time.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 90.0
# The child's last output lines kept (the access log grows with every request).
OUTPUT_LINES = 100_000


class ChildStackError(Exception):
    """The child exited, or printed no API key line in time; the message has its banner."""


@dataclass
class ChildStack:
    process: subprocess.Popen[str]
    banner: list[str]
    url: str
    api_key: str
    # What the child printed after its banner (stderr too when it was sent to stdout).
    output: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES))
    # The child leads a process group of its own (make dev): signals go to the group.
    group: bool = False

    def banner_value(self, label: str) -> str:
        """The value after `label:` on the banner (`DynamoDB`, `data`, ...)."""
        for line in self.banner:
            name, _, value = line.strip().partition(":")
            if name == label:
                return value.strip()
        raise KeyError(label)

    def signal(self, signum: int) -> None:
        """`signum` to the child, or to its whole group as a terminal's Ctrl-C would."""
        if self.process.poll() is not None:
            return
        if self.group:
            with contextlib.suppress(ProcessLookupError):  # the group exited just now
                os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit code."""
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.process.wait()

    def kill(self) -> None:
        """SIGKILL, to the group when there is one (killing make alone would orphan the server)."""
        if self.group:
            with contextlib.suppress(ProcessLookupError):  # the group is gone already
                os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.kill()
        self.process.wait()


def child_environment(settings: dict[str, str]) -> dict[str, str]:
    """This environment without AWS endpoints (the child runs its own), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "shared"), str(ROOT)])
    env.setdefault("PORT", "0")
    env.update(settings)
    return env


def make_dev_command() -> list[str]:
    """`make dev`, with this interpreter's environment and without make's install step.

    BIN is where this interpreter lives (a worktree has no .venv of its own),
    and `-o` tells make the install stamp is up to date: a test must not
    reinstall packages into the environment it runs in.
    """
    bin_dir = Path(sys.executable).parent
    return ["make", "--no-print-directory", "-o", ".venv/.installed", f"BIN={bin_dir}", "dev"]


def start_child_stack(
    settings: dict[str, str],
    *args: str,
    stderr: IO[Any] | int = subprocess.DEVNULL,
    make: bool = False,
) -> ChildStack:
    """Start the dev server with environment `settings` and CLI `args`; return once it serves.

    `make=True` runs `make dev` (no CLI args then) as the leader of a new process
    group, so `ChildStack.signal` reaches make and the server as Ctrl-C does.
    `stderr=subprocess.STDOUT` keeps the server's log lines in `output` too.
    """
    if make and args:
        raise ValueError("make dev takes no command-line flags: use the settings")
    command = make_dev_command() if make else [sys.executable, "-m", "devtools.devserver", *args]
    process = subprocess.Popen(  # noqa: S603 (our own module, or make with our Makefile)
        command,
        cwd=ROOT,
        env=child_environment(settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=make,
    )
    assert process.stdout is not None
    watchdog = threading.Timer(STARTUP_SECONDS, process.kill)  # a hung start must not hang us
    watchdog.start()
    banner: list[str] = []
    try:
        for line in process.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("API key: "):
                break
    finally:
        watchdog.cancel()
    found = next(
        (m for m in (re.search(r" on (http://127\.0\.0\.1:\d+)$", line) for line in banner) if m),
        None,
    )
    stack = ChildStack(process, banner, "", "", group=make)
    if found is None or not banner[-1].startswith("API key: "):
        stack.kill()
        raise ChildStackError("the dev server did not start:\n" + "\n".join(banner))
    stack.url = found.group(1)
    stack.api_key = banner[-1].removeprefix("API key: ")
    threading.Thread(target=_keep_reading, args=(process.stdout, stack.output), daemon=True).start()
    return stack


def _keep_reading(stream: IO[str], into: deque[str]) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))
