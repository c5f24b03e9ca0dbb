"""The SQLite run store: every run and every event it emitted, kept for traces and resumption."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forethought._paths import forethought_home
from forethought.runtime.events import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    question TEXT,
    answer TEXT,
    error TEXT,
    usage TEXT,
    meta TEXT
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    node_id TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""


@dataclass(kw_only=True, frozen=True)
class RunRecord:
    id: str
    created: float
    finished: float | None
    status: str
    question: str | None
    answer: str | None
    error: str | None
    usage: dict[str, Any]
    meta: dict[str, Any]


# One encoder for every event: json.dumps(default=...) builds a new one per call.
_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode


def default_store_path() -> Path:
    return forethought_home() / "runs.sqlite"


class RunStore:
    """Runs and their events in one SQLite file (WAL mode, safe across processes).

    Events are buffered and written in batches; :meth:`flush` (called by :meth:`finish_run`,
    also after a failure) makes them durable.
    """

    def __init__(self, path: Path | str | None = None, *, batch_size: int = 256) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._buffer: list[tuple[str, int, float, str, str | None, str]] = []
        self._seq: dict[str, int] = {}

    def close(self) -> None:
        self.flush()
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, run_id: str, *, question: str = "", meta: dict[str, Any] | None = None
                  ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO runs (id, created, status, question, meta) VALUES (?, ?, ?, ?, ?)",
                (run_id, time.time(), "running", question, json.dumps(meta or {}, default=str)))
            self._seq[run_id] = 0

    def record(self, event: Event) -> None:
        """Buffer one event (this is the subscriber to attach to an EventBus)."""
        seq = self._seq.get(event.run_id, 0) + 1
        self._seq[event.run_id] = seq
        self._buffer.append((event.run_id, seq, event.ts, event.kind, event.node_id,
                             _encode(event.to_dict())))
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._buffer:
                return
            rows, self._buffer = self._buffer, []
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._conn.execute("COMMIT")

    def finish_run(self, run_id: str, *, status: str, answer: str | None = None,
                   error: str | None = None, usage: dict[str, Any] | None = None) -> None:
        self.flush()
        with self._lock:
            self._conn.execute(
                "UPDATE runs SET finished=?, status=?, answer=?, error=?, usage=? WHERE id=?",
                (time.time(), status, answer, error, json.dumps(usage or {}), run_id))

    def get_run(self, run_id: str) -> RunRecord:
        row = self._conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return self._record(row)

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._conn.execute("SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        return [self._record(r) for r in rows]

    def events(self, run_id: str) -> Iterator[dict[str, Any]]:
        self.flush()
        for (data,) in self._conn.execute(
                "SELECT data FROM events WHERE run_id=? ORDER BY seq", (run_id,)):
            yield json.loads(data)

    @staticmethod
    def _record(row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(id=row[0], created=row[1], finished=row[2], status=row[3],
                         question=row[4], answer=row[5], error=row[6],
                         usage=json.loads(row[7]) if row[7] else {},
                         meta=json.loads(row[8]) if row[8] else {})
