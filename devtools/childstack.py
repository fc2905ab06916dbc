"""`make dev` in a child process, for what drives it from outside (tests, `make bench-dev`).

A child is the real thing: its own interpreter, signals, exit code and memory.
`start_child_stack` runs `python -m devtools.devserver` with the given settings,
waits for the banner's last line (`API key: ...`, printed once it serves) and keeps
reading the child's stdout afterwards, so the access log never fills the pipe and
blocks it. `ChildStack.stop()` sends SIGTERM, as Ctrl-C would, and kills it if it
does not exit in time.
"""

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 90.0


class ChildStackError(Exception):
    """The child exited, or printed no API key line in time; the message has its banner."""


@dataclass
class ChildStack:
    process: subprocess.Popen[str]
    banner: list[str]
    url: str
    api_key: str

    def banner_value(self, label: str) -> str:
        """The value after `label:` on the banner (`DynamoDB`, `data`, ...)."""
        for line in self.banner:
            name, _, value = line.strip().partition(":")
            if name == label:
                return value.strip()
        raise KeyError(label)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def child_environment(settings: dict[str, str]) -> dict[str, str]:
    """This environment without AWS endpoints (the child runs its own), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "shared"), str(ROOT)])
    env.setdefault("PORT", "0")
    env.update(settings)
    return env


def start_child_stack(
    settings: dict[str, str], *args: str, stderr: IO[Any] | int = subprocess.DEVNULL
) -> ChildStack:
    """Start the dev server with environment `settings` and CLI `args`; return once it serves."""
    # This interpreter running our own module; args are its CLI flags.
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "devtools.devserver", *args],
        cwd=ROOT,
        env=child_environment(settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
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
    found = re.search(r" on (http://127\.0\.0\.1:\d+)", banner[0]) if banner else None
    if found is None or not banner[-1].startswith("API key: "):
        process.kill()
        process.wait()
        raise ChildStackError("the dev server did not start:\n" + "\n".join(banner))
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return ChildStack(process, banner, found.group(1), banner[-1].removeprefix("API key: "))
