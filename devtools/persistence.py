"""`make dev`'s data on disk, so it survives a restart.

One file per table, `<data dir>/<table>.jsonl`: one item per line, in
DynamoDB JSON, as moto stored it. The file is kept from the table's stream
rather than from the table: every write reaches the stream (the dev server
reads it anyway, see devtools.triggers), so `SavedTable` holds the latest
line of every item and saving is writing those lines out. Reading the
whole table instead took seconds for 100,000 items (moto converts each
item on every read), too long for a save at Ctrl-C or every few seconds.

Saves happen every `interval` seconds when something changed and once more
at shutdown; a file is replaced whole (write, then rename), so a kill -9
loses at most the last interval of changes and never leaves half a file.

A stop also keeps, per stream consumer, the records it had not been given
(`<table>.pending.<Function>.<Event>.json`, see devtools.triggers
.EventSourceMapping.pending), for the next start to give them first: the
derived items (the feed's counters, the window index) then catch up with the
items saved, as a stream consumer resumes from its checkpoint.
"""

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".local-data" / "devserver"
SAVE_SECONDS = 5.0


class SavedTable:
    """The items of one table as saved lines, updated from its stream records."""

    def __init__(self, data_dir: Path, table_name: str, key_names: tuple[str, ...]) -> None:
        self.path = data_dir / f"{table_name}.jsonl"
        self._table_name = table_name
        self._key_names = key_names
        self._lines: dict[str, str] = {}
        self._lock = threading.Lock()  # the lines
        self._writing = threading.Lock()  # the file: one save at a time
        self._dirty = False
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None

    def _key(self, attributes: dict[str, Any]) -> str:
        return json.dumps([attributes[name] for name in self._key_names], sort_keys=True)

    def reset(self) -> None:
        """Forget what was saved (`make dev-reset`), the stream's pending records too."""
        self.path.unlink(missing_ok=True)
        for pending in self.path.parent.glob(f"{self._table_name}.pending.*.json"):
            pending.unlink()

    def _pending_path(self, name: str) -> Path:
        return self.path.with_name(f"{self._table_name}.pending.{name}.json")

    def save_pending(self, name: str, pending: dict[str, list[dict[str, Any]]]) -> None:
        """Keep what a stream consumer `name` had not been given when the stack stopped."""
        path = self._pending_path(name)
        if not any(pending.values()):
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(pending, separators=(",", ":")), encoding="utf-8")
        os.replace(partial, path)

    def take_pending(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """What `save_pending` kept for `name` (empty if nothing), no longer kept on disk.

        Taken, not read: a consumer killed before the next stop must not get those
        records twice in different batches (the indexer would count them twice).
        """
        path = self._pending_path(name)
        try:
            pending: dict[str, list[dict[str, Any]]] = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        path.unlink()
        return pending

    def read(self) -> Iterator[dict[str, Any]]:
        """The saved items, each remembered as the current line for its key."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                line = line.strip()
                if line:
                    item = json.loads(line)
                    self._lines[self._key(item)] = line
                    yield item

    def apply(self, records: list[dict[str, Any]]) -> None:
        """A StreamReader subscriber: the new image of each written item, or its removal."""
        if not records:
            return
        with self._lock:
            for record in records:
                data = record["dynamodb"]
                key = self._key(data["Keys"])
                if record["eventName"] == "REMOVE":
                    self._lines.pop(key, None)
                else:
                    self._lines[key] = json.dumps(data["NewImage"], separators=(",", ":"))
            self._dirty = True

    def save(self) -> bool:
        """Write the file if anything changed since the last save; whether it did."""
        with self._writing:
            with self._lock:
                if not self._dirty:
                    return False
                lines = list(self._lines.values())
                self._dirty = False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            with partial.open("w", encoding="utf-8") as out:
                for line in lines:
                    out.write(line)
                    out.write("\n")
            os.replace(partial, self.path)
            return True

    def start_autosave(
        self, interval: float = SAVE_SECONDS, wait_turn: Callable[[], bool] = lambda: True
    ) -> None:
        """Save every `interval` s; each save first calls `wait_turn` (false: stop saving).

        The dev server passes devtools.priority's, so writing a large file waits
        for a gap between API requests.
        """
        self._saver = threading.Thread(
            target=self._autosave, args=(interval, wait_turn), name="devserver-save", daemon=True
        )
        self._saver.start()

    def stop_autosave(self) -> None:
        self._stopping.set()

    def _autosave(self, interval: float, wait_turn: Callable[[], bool]) -> None:
        while not self._stopping.wait(interval) and wait_turn():
            try:
                self.save()
            except OSError as exc:
                print(f"devserver: saving {self.path} failed: {exc}", file=sys.stderr)
