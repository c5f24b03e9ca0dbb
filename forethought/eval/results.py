"""One instance's result (a line of the results file) and the summary of many.

The statuses are the agent's (``ok``, ``unverified``: its verifier rejected every answer,
``failed``: no answer, ``budget_exhausted``, ``cancelled``) plus ``error``: the run raised (a
provider that kept failing, a tool set that would not start). ``failed``, ``error`` and
``cancelled`` are what ``--retry-failed`` reruns.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FAILED_STATUSES = frozenset({"failed", "error", "cancelled"})
"""Statuses ``--retry-failed`` reruns: the run produced no usable outcome."""


@dataclass(kw_only=True, slots=True)
class InstanceUsage:
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(kw_only=True, slots=True)
class InstanceResult:
    """What one instance's run produced and how it scored: one line of the results file."""

    id: str
    index: int
    """Position in the dataset (the results file's order)."""
    question: str
    answer: str | None
    reference: str | None
    correct: bool
    score: float
    """The metric's value in ``[0, 1]``."""
    status: str
    partial: bool = False
    strategy: str | None = None
    """The strategy (or planner) that produced the answer."""
    verified: bool | None = None
    """Whether the agent's verifier accepted the answer (``None``: none judged it)."""
    usage: InstanceUsage = field(default_factory=InstanceUsage)
    duration_s: float = 0.0
    run_id: str | None = None
    error: str | None = None
    metric_detail: str | None = None
    tags: dict[str, str] = field(default_factory=dict[str, str])
    worker: str | None = None
    """Where it ran (``host:pid``), for Ray runs."""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The results-file line (written out by hand: ``dataclasses.asdict`` deep-copies
        and was most of the driver's cost per instance).
        """
        u = self.usage
        return {"id": self.id, "index": self.index, "question": self.question,
                "answer": self.answer, "reference": self.reference, "correct": self.correct,
                "score": self.score, "status": self.status, "partial": self.partial,
                "strategy": self.strategy, "verified": self.verified,
                "usage": {"model_calls": u.model_calls, "prompt_tokens": u.prompt_tokens,
                          "completion_tokens": u.completion_tokens, "cost_usd": u.cost_usd},
                "duration_s": self.duration_s, "run_id": self.run_id, "error": self.error,
                "metric_detail": self.metric_detail, "tags": dict(self.tags),
                "worker": self.worker}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceResult:
        fields = dict(data)
        usage: dict[str, Any] = fields.get("usage") or {}
        fields["usage"] = InstanceUsage(**usage)
        return cls(**fields)


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default); ``(0, 1)`` for ``n = 0``.

    Unlike the normal approximation it stays inside ``[0, 1]`` and is honest for small ``n``
    and for proportions near 0 or 1.
    """
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not sorted_values:
        return 0.0
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(kw_only=True)
class Tally:
    """Running totals over results; cheap to update once per instance."""

    n: int = 0
    correct: int = 0
    score: float = 0.0
    failures: int = 0
    budget_exhausted: int = 0
    usage: InstanceUsage = field(default_factory=InstanceUsage)
    durations: list[float] = field(default_factory=list[float])
    """Wall time of each instance (for latency percentiles)."""

    def add(self, result: InstanceResult) -> None:
        self.n += 1
        self.durations.append(result.duration_s)
        self.correct += result.correct
        self.score += result.score
        self.failures += result.failed
        self.budget_exhausted += result.status == "budget_exhausted"
        u = self.usage
        u.model_calls += result.usage.model_calls
        u.prompt_tokens += result.usage.prompt_tokens
        u.completion_tokens += result.usage.completion_tokens
        u.cost_usd += result.usage.cost_usd

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)

    def latency(self) -> dict[str, float]:
        """p50, p90, p99 and max of the instances' wall times, in seconds."""
        values = sorted(self.durations)
        return {"p50": percentile(values, 50), "p90": percentile(values, 90),
                "p99": percentile(values, 99), "max": values[-1] if values else 0.0}

    def row(self) -> dict[str, Any]:
        low, high = self.interval()
        return {"n": self.n, "correct": self.correct, "accuracy": self.accuracy,
                "ci95": [low, high], "mean_score": self.score / self.n if self.n else 0.0,
                "failures": self.failures, "budget_exhausted": self.budget_exhausted,
                "model_calls": self.usage.model_calls, "tokens": self.usage.total_tokens,
                "cost_usd": self.usage.cost_usd, "latency_s": self.latency()}


@dataclass(kw_only=True)
class Summary:
    """Accuracy, cost, tokens, calls and latency of an eval, with breakdowns."""

    total: Tally
    by_strategy: dict[str, Tally]
    by_tag: dict[str, dict[str, Tally]]
    """Tag field -> tag value -> totals."""
    statuses: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total.row(), "statuses": self.statuses,
                "by_strategy": {k: v.row() for k, v in self.by_strategy.items()},
                "by_tag": {tag: {k: v.row() for k, v in values.items()}
                           for tag, values in self.by_tag.items()}}


def summarise(results: Iterable[InstanceResult]) -> Summary:
    total = Tally()
    by_strategy: dict[str, Tally] = defaultdict(Tally)
    by_tag: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    statuses: dict[str, int] = defaultdict(int)
    for r in results:
        total.add(r)
        by_strategy[r.strategy or "(none)"].add(r)
        for tag, value in r.tags.items():
            by_tag[tag][value].add(r)
        statuses[r.status] += 1
    return Summary(total=total, by_strategy=dict(by_strategy),
                   by_tag={k: dict(v) for k, v in by_tag.items()}, statuses=dict(statuses))
