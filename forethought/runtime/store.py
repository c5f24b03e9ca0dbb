"""The SQLite run store: every run and every event it emitted, kept for traces and resumption.

Besides each event's metadata (the ``events`` table), the store keeps the content of model and
tool calls (the ``event_content`` table, one row per call event, keyed like its event): each
model call's messages, settings, completion text and tool calls, and each tool call's result,
every text field capped at ``max_field_chars``. ``keep="metadata"`` keeps no content rows.
Stores written before the content table existed open unchanged (the table is added empty).
"""

from __future__ import annotations

import json
import json.encoder
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from forethought._paths import forethought_home
from forethought.exceptions import UserError
from forethought.runtime.call_content import (
    DEFAULT_FIELD_CAP,
    request_content,
    response_content,
    result_content,
)
from forethought.runtime.events import Event, ModelCallFinished, ModelCallStarted, ToolCallFinished

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

# Added after the first release: CREATE ... IF NOT EXISTS adds it to older stores on open.
_CONTENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_content (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""

Keep = Literal["content", "metadata"]
KEEP_CHOICES: tuple[Keep, ...] = ("content", "metadata")


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

    Args:
        path: The SQLite file (default: ``$FORETHOUGHT_HOME/runs.sqlite``).
        batch_size: Events buffered before a write.
        keep: ``"content"`` keeps each call's messages, completions and tool results;
            ``"metadata"`` keeps the events only. Default: ``$FORETHOUGHT_STORE_KEEP``, else
            ``"content"``.
        max_field_chars: The most characters kept of any one text field of a call's content
            (a message, a completion, a tool result); longer ones are cut with a marker.
    """

    def __init__(self, path: Path | str | None = None, *, batch_size: int = 256,
                 keep: Keep | None = None,
                 max_field_chars: int = DEFAULT_FIELD_CAP) -> None:
        if keep is None:
            keep = _keep_from_env()
        if keep not in KEEP_CHOICES:
            raise UserError(f"RunStore keep must be one of {', '.join(map(repr, KEEP_CHOICES))},"
                            f" got {keep!r}")
        if max_field_chars < 1:
            raise UserError(f"RunStore max_field_chars must be >= 1, got {max_field_chars!r}")
        self.keep: Keep = keep
        self._keep_content = keep == "content"
        self.max_field_chars = max_field_chars
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA + _CONTENT_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise UserError(f"{self.path} is not a forethought run store: {exc}") from None
        self._buffer: list[tuple[str, int, float, str, str | None, str]] = []
        self._content: list[tuple[str, int, str]] = []
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
        if self._keep_content and event.kind in _CONTENT_KINDS:
            self._record_content(event, seq)
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
            content, self._content = self._content, []
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
                if content:
                    self._conn.executemany("INSERT INTO event_content VALUES (?, ?, ?)",
                                           content)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._buffer[:0] = rows
                self._content[:0] = content
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

    def events(self, run_id: str, *, content: bool = False) -> Iterator[dict[str, Any]]:
        """The run's events in order, each as :meth:`Event.to_dict` gave it. With ``content``,
        each call event also has its content fields (``request``, ``response``, ``result``)
        when the store kept them.
        """
        self.flush()
        if content:
            rows = self._conn.execute(
                "SELECT e.kind, e.node_id, e.ts, e.data, c.data FROM events e "
                "LEFT JOIN event_content c ON c.run_id = e.run_id AND c.seq = e.seq "
                "WHERE e.run_id=? ORDER BY e.seq", (run_id,))
        else:
            rows = self._conn.execute(
                "SELECT kind, node_id, ts, data, NULL FROM events WHERE run_id=? ORDER BY seq",
                (run_id,))
        for kind, node_id, ts, data, extra in rows:
            body: dict[str, Any] = json.loads(data)
            if "kind" not in body:  # the envelope lives in the row's columns (older rows: both)
                body = {"kind": kind, "run_id": run_id, "node_id": node_id, "ts": ts, **body}
            if extra is not None:
                body.update(json.loads(extra))
            yield body

    def resolve_run_id(self, ref: str) -> str:
        """The id of the run ``ref`` names: a whole id, a prefix of exactly one id, or
        ``last`` (the most recent run). Raises :class:`UserError` naming what is wrong.
        """
        if not ref.strip():
            raise UserError("which run? pass a run id, a unique prefix of one, or 'last'")
        if ref in ("last", "latest"):
            row = self._conn.execute(
                "SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
            if row is None:
                raise UserError(f"no runs in {self.path} yet")
            return str(row[0])
        if self._conn.execute("SELECT 1 FROM runs WHERE id=?", (ref,)).fetchone():
            return ref
        matches = [str(r[0]) for r in self._conn.execute(
            "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created DESC LIMIT 6",
            (len(ref), ref))]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UserError(f"no run {ref!r} in {self.path}; `forethought runs list` shows "
                            "the runs")
        shown = ", ".join(map(repr, matches[:5])) + (", ..." if len(matches) > 5 else "")
        raise UserError(f"run prefix {ref!r} matches several runs in {self.path}: {shown}")

    def count_runs(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # -- call content (see the module docstring) ---------------------------------------------

    def _record_content(self, event: Event, seq: int) -> None:
        cap = self.max_field_chars
        if isinstance(event, ModelCallStarted):
            if event.request is None:
                return
            data: dict[str, Any] = {"request": request_content(event.request, cap)}
        elif isinstance(event, ModelCallFinished):
            if event.response is None:
                return
            data = {"response": response_content(event.response, cap)}
        elif isinstance(event, ToolCallFinished):
            if event.error is not None:
                return
            data = {"result": result_content(event.result, cap)}
        else:
            return
        self._content.append((event.run_id, seq, _encode(data)))

    @staticmethod
    def _record(row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(id=row[0], created=row[1], finished=row[2], status=row[3],
                         question=row[4], answer=row[5], error=row[6],
                         usage=json.loads(row[7]) if row[7] else {},
                         meta=json.loads(row[8]) if row[8] else {})


_CONTENT_KINDS = frozenset({"model_call_started", "model_call_finished", "tool_call_finished"})


def _keep_from_env() -> Keep:
    value = os.environ.get("FORETHOUGHT_STORE_KEEP", "content")
    for choice in KEEP_CHOICES:
        if value == choice:
            return choice
    raise UserError(f"FORETHOUGHT_STORE_KEEP must be one of "
                    f"{', '.join(map(repr, KEEP_CHOICES))}, got {value!r}")
