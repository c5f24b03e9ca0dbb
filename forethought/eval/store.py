"""Evals in the run store: two tables beside ``runs`` and ``events`` in the same SQLite file.

``evals`` keeps what defines each eval (the recipe text, the resolved dataset settings, the
fingerprint of its instances); ``eval_results`` one row per finished instance, written in one
transaction the moment the instance finishes, keyed by ``(eval_id, instance_id)``, so a
result is never counted twice and a process killed at any moment loses only the instances in
flight. A retried instance replaces its row.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forethought.eval.results import FAILED_STATUSES, InstanceResult, InstanceUsage
from forethought.exceptions import UserError
from forethought.runtime.store import default_store_path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evals (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    total INTEGER NOT NULL,
    spec TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evals_by_key ON evals (key, created);
CREATE TABLE IF NOT EXISTS eval_results (
    eval_id TEXT NOT NULL REFERENCES evals(id),
    instance_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    correct INTEGER NOT NULL,
    finished REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (eval_id, instance_id)
);
"""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(kw_only=True, frozen=True)
class EvalRecord:
    id: str
    created: float
    name: str
    key: str
    """Identifies the command that started it (recipe, dataset, slice, metric, model)."""
    fingerprint: str
    """Of its instances: a resume refuses a dataset that changed."""
    total: int
    spec: dict[str, Any]
    """Everything needed to run it again (see :class:`~forethought.eval.plan.EvalSpec`)."""


@dataclass(kw_only=True, frozen=True)
class Progress:
    """How far an eval got: its finished instances by status, and their spending."""

    done: int
    failed: int
    usage: InstanceUsage


def new_eval_id() -> str:
    return f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class EvalStore:
    """The eval tables of a run store file (its own connection; WAL, safe across processes)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A committed transaction survives the process being killed (WAL), which is what
        # resume needs; an OS crash may lose the last ones, which are then run again.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EvalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- evals ---------------------------------------------------------------------------------

    def create(self, *, name: str, key: str, fingerprint: str, total: int,
               spec: dict[str, Any], eval_id: str | None = None) -> EvalRecord:
        record = EvalRecord(id=eval_id or new_eval_id(), created=time.time(), name=name,
                            key=key, fingerprint=fingerprint, total=total, spec=spec)
        with self._lock:
            self._conn.execute(
                "INSERT INTO evals (id, created, name, key, fingerprint, total, spec) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.created, name, key, fingerprint, total, _encode(spec)))
        return record

    def get(self, eval_id: str) -> EvalRecord:
        row = self._conn.execute("SELECT * FROM evals WHERE id=?", (eval_id,)).fetchone()
        if row is None:
            recent = [r[0] for r in self._conn.execute(
                "SELECT id FROM evals ORDER BY created DESC LIMIT 3")]
            hint = f"; recent evals: {', '.join(recent)}" if recent else "; it holds no evals"
            raise UserError(f"no eval {eval_id!r} in {str(self.path)!r}{hint}")
        return _record(row)

    def latest(self, key: str) -> EvalRecord | None:
        """The most recent eval started by the same command (same ``key``)."""
        row = self._conn.execute("SELECT * FROM evals WHERE key=? ORDER BY created DESC LIMIT 1",
                                 (key,)).fetchone()
        return None if row is None else _record(row)

    def evals(self, limit: int = 20) -> list[EvalRecord]:
        rows = self._conn.execute("SELECT * FROM evals ORDER BY created DESC LIMIT ?", (limit,))
        return [_record(r) for r in rows]

    # -- results -------------------------------------------------------------------------------

    def record(self, eval_id: str, result: InstanceResult) -> None:
        """Commit one finished instance (one transaction; a retried one replaces its row)."""
        data = _encode(result.to_dict())
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO eval_results VALUES (?, ?, ?, ?, ?, ?, ?)",
                (eval_id, result.id, result.index, result.status, int(result.correct),
                 time.time(), data))

    def statuses(self, eval_id: str) -> dict[str, str]:
        """Instance id -> status of every finished instance."""
        return dict(self._conn.execute(
            "SELECT instance_id, status FROM eval_results WHERE eval_id=?", (eval_id,)))

    def progress(self, eval_id: str) -> Progress:
        failed = ",".join(f"'{s}'" for s in sorted(FAILED_STATUSES))
        row = self._conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(status IN ({failed})), 0), "
            "COALESCE(SUM(json_extract(data, '$.usage.model_calls')), 0), "
            "COALESCE(SUM(json_extract(data, '$.usage.prompt_tokens')), 0), "
            "COALESCE(SUM(json_extract(data, '$.usage.completion_tokens')), 0), "
            "COALESCE(SUM(json_extract(data, '$.usage.cost_usd')), 0.0) "
            "FROM eval_results WHERE eval_id=?", (eval_id,)).fetchone()
        return Progress(done=row[0], failed=row[1], usage=InstanceUsage(
            model_calls=row[2], prompt_tokens=row[3], completion_tokens=row[4],
            cost_usd=row[5]))

    def results(self, eval_id: str) -> list[InstanceResult]:
        """Every finished instance, in dataset order."""
        rows = self._conn.execute(
            "SELECT data FROM eval_results WHERE eval_id=? ORDER BY idx", (eval_id,))
        return [InstanceResult.from_dict(json.loads(data)) for (data,) in rows]


def _record(row: tuple[Any, ...]) -> EvalRecord:
    return EvalRecord(id=row[0], created=row[1], name=row[2], key=row[3], fingerprint=row[4],
                      total=row[5], spec=json.loads(row[6]))
