"""What the selection agent has learnt: per task family, complexity bin and arm (a strategy
with its options), how often it was chosen, how good its verified answers were and what they
cost.

Kept in the run store's SQLite file, in a table of its own (``selection_stats``), so a second
run over a dataset starts from what the first learnt, and runs in several processes add to
the same counts (each update is one atomic ``INSERT ... ON CONFLICT DO UPDATE``). The table
holds sums, not rewards: the reward is computed from them when a choice is made, so changing
how cost is weighed does not invalidate what was learnt. Without a run store, the statistics
live in memory for as long as the planner does.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS selection_stats (
    family TEXT NOT NULL,
    bin TEXT NOT NULL,
    arm TEXT NOT NULL,
    pulls INTEGER NOT NULL,
    quality_sum REAL NOT NULL,
    quality_sq REAL NOT NULL,
    accepted INTEGER NOT NULL,
    calls_sum REAL NOT NULL,
    tokens_sum REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (family, bin, arm)
);
"""


@dataclass(kw_only=True)
class ArmStats:
    """One arm's record in one context (family and bin)."""

    pulls: int = 0
    quality_sum: float = 0.0
    """Sum of the verified quality (the verification scorer's value in [0, 1]) of the answers
    the arm gave."""
    quality_sq: float = 0.0
    accepted: int = 0
    """Answers the verifier accepted."""
    calls_sum: float = 0.0
    tokens_sum: float = 0.0

    @property
    def mean_quality(self) -> float:
        return self.quality_sum / self.pulls if self.pulls else 0.0

    @property
    def quality_sd(self) -> float:
        if self.pulls < 2:
            return 0.5
        var = max(0.0, self.quality_sq / self.pulls - self.mean_quality ** 2)
        return math.sqrt(var * self.pulls / (self.pulls - 1))

    @property
    def mean_calls(self) -> float:
        return self.calls_sum / self.pulls if self.pulls else 0.0

    @property
    def acceptance(self) -> float:
        return self.accepted / self.pulls if self.pulls else 0.0


def _added(a: ArmStats | None, b: ArmStats) -> ArmStats:
    if a is None:
        return ArmStats(**vars(b))
    return ArmStats(pulls=a.pulls + b.pulls, quality_sum=a.quality_sum + b.quality_sum,
                    quality_sq=a.quality_sq + b.quality_sq, accepted=a.accepted + b.accepted,
                    calls_sum=a.calls_sum + b.calls_sum, tokens_sum=a.tokens_sum + b.tokens_sum)


@dataclass(kw_only=True, frozen=True)
class Pull:
    """One arm's outcome on one instance."""

    quality: float
    accepted: bool
    calls: int
    tokens: int


class SelectionStats(ABC):
    """Where the selection agent's statistics are kept."""

    @abstractmethod
    def get(self, family: str, bin_: str) -> dict[str, ArmStats]:
        """Every arm's record in the context ``(family, bin_)`` (arms never pulled are
        absent).
        """

    @abstractmethod
    def update(self, family: str, bin_: str, arm: str, pull: Pull) -> None:
        """Add one pull of ``arm``."""

    @abstractmethod
    def across_bins(self, family: str) -> dict[str, ArmStats]:
        """Every arm's record in ``family``, its bins added together (what an arm costs
        varies far less between bins than how well it does, so this is where a bin that has
        not tried an arm yet learns its cost).
        """


class MemoryStats(SelectionStats):
    """Statistics in memory (lost with the process)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], dict[str, ArmStats]] = {}
        self._lock = threading.Lock()

    def get(self, family: str, bin_: str) -> dict[str, ArmStats]:
        with self._lock:
            known = self._data.get((family, bin_), {})
            return {arm: ArmStats(**vars(s)) for arm, s in known.items()}

    def update(self, family: str, bin_: str, arm: str, pull: Pull) -> None:
        with self._lock:
            s = self._data.setdefault((family, bin_), {}).setdefault(arm, ArmStats())
            s.pulls += 1
            s.quality_sum += pull.quality
            s.quality_sq += pull.quality ** 2
            s.accepted += int(pull.accepted)
            s.calls_sum += pull.calls
            s.tokens_sum += pull.tokens

    def across_bins(self, family: str) -> dict[str, ArmStats]:
        with self._lock:
            out: dict[str, ArmStats] = {}
            for (fam, _), known in self._data.items():
                if fam == family:
                    for arm, s in known.items():
                        out[arm] = _added(out.get(arm), s)
            return out


class SqliteStats(SelectionStats):
    """Statistics in the ``selection_stats`` table of a SQLite file (the run store's).

    Each read and update opens its own short-lived connection: there are a few per instance,
    and nothing is left open for anyone to close.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Generator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            yield conn
        finally:
            conn.close()

    def get(self, family: str, bin_: str) -> dict[str, ArmStats]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT arm, pulls, quality_sum, quality_sq, accepted, calls_sum, tokens_sum "
                "FROM selection_stats WHERE family=? AND bin=?", (family, bin_)).fetchall()
        return {r[0]: ArmStats(pulls=r[1], quality_sum=r[2], quality_sq=r[3], accepted=r[4],
                               calls_sum=r[5], tokens_sum=r[6]) for r in rows}

    def update(self, family: str, bin_: str, arm: str, pull: Pull) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO selection_stats VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (family, bin, arm) DO UPDATE SET pulls = pulls + 1, "
                "quality_sum = quality_sum + excluded.quality_sum, "
                "quality_sq = quality_sq + excluded.quality_sq, "
                "accepted = accepted + excluded.accepted, "
                "calls_sum = calls_sum + excluded.calls_sum, "
                "tokens_sum = tokens_sum + excluded.tokens_sum, updated = excluded.updated",
                (family, bin_, arm, pull.quality, pull.quality ** 2, int(pull.accepted),
                 float(pull.calls), float(pull.tokens), time.time()))

    def across_bins(self, family: str) -> dict[str, ArmStats]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT arm, SUM(pulls), SUM(quality_sum), SUM(quality_sq), SUM(accepted), "
                "SUM(calls_sum), SUM(tokens_sum) FROM selection_stats WHERE family=? "
                "GROUP BY arm", (family,)).fetchall()
        return {r[0]: ArmStats(pulls=r[1], quality_sum=r[2], quality_sq=r[3], accepted=r[4],
                               calls_sum=r[5], tokens_sum=r[6]) for r in rows}

    def forget(self, family: str | None = None) -> int:
        """Delete what was learnt (for ``family``, or everything); returns the rows deleted."""
        with self._connect() as conn:
            if family is None:
                cur = conn.execute("DELETE FROM selection_stats")
            else:
                cur = conn.execute("DELETE FROM selection_stats WHERE family=?", (family,))
            return cur.rowcount


__all__ = ["ArmStats", "MemoryStats", "Pull", "SelectionStats", "SqliteStats"]
