"""The SQLite run store: every run and every event it emitted, kept for traces and resumption."""

from __future__ import annotations

import json
import json.encoder
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
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
-- An event's kind, node and time are columns (to query by); ``data`` holds its other fields
-- as JSON. Older rows repeat the columns inside ``data``; both read alike.
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


_INSERT_ONE = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)"
_CHUNK = 64
"""Events per multi-row INSERT: 384 parameters, within SQLite's oldest limit of 999."""
_INSERT_CHUNK = "INSERT INTO events VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * _CHUNK)


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


def _event_encoder() -> Callable[[Any], str]:
    """A JSON encoder for event dicts, made once.

    ``json.dumps`` builds an encoder per call, and even a kept ``JSONEncoder.encode`` builds
    its C encoder per call: together a quarter of the cost of recording an event. The C
    encoder is built here once, without circular-reference markers (shared markers would go
    stale after a failed encoding); a circular value raises ``RecursionError`` instead of
    ``ValueError``. Where there is no C encoder, the pure-Python one does the same work.
    """
    make: Any = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(default=str, ensure_ascii=False).encode
    encode: Callable[[Any, int], Iterable[str]] = make(
        None, str, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)
    return lambda obj: "".join(encode(obj, 0))


_encode = _event_encoder()


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
        run_id = event.run_id
        seq = self._seq[run_id] = self._seq.get(run_id, 0) + 1
        body = event.to_dict()
        # The envelope is in the row's columns; encoding it again would cost 40% of the JSON
        # time (the timestamp's repr alone is a fifth). events() puts it back.
        del body["kind"], body["run_id"], body["node_id"], body["ts"]
        self._buffer.append((run_id, seq, event.ts, event.kind, event.node_id, _encode(body)))
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered events in one transaction. If the write fails, nothing of it is
        kept in the file and the events stay buffered for the next flush.
        """
        with self._lock:
            if not self._buffer:
                return
            rows, self._buffer = self._buffer, []
            # Rows go in _CHUNK at a time, one statement each: a third cheaper per row than
            # executemany, which steps the statement once per row.
            whole = len(rows) - len(rows) % _CHUNK
            try:
                self._conn.execute("BEGIN")
                for start in range(0, whole, _CHUNK):
                    self._conn.execute(_INSERT_CHUNK,
                                       list(chain.from_iterable(rows[start:start + _CHUNK])))
                if whole < len(rows):
                    self._conn.executemany(_INSERT_ONE, rows[whole:])
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._buffer[:0] = rows
                raise

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
        """The run's events in order, each as :meth:`Event.to_dict` gave it."""
        self.flush()
        for kind, node_id, ts, data in self._conn.execute(
                "SELECT kind, node_id, ts, data FROM events WHERE run_id=? ORDER BY seq",
                (run_id,)):
            body: dict[str, Any] = json.loads(data)
            if "kind" in body:  # an older row, with the envelope inside data too
                yield body
            else:
                yield {"kind": kind, "run_id": run_id, "node_id": node_id, "ts": ts, **body}

    @staticmethod
    def _record(row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(id=row[0], created=row[1], finished=row[2], status=row[3],
                         question=row[4], answer=row[5], error=row[6],
                         usage=json.loads(row[7]) if row[7] else {},
                         meta=json.loads(row[8]) if row[8] else {})
