"""The end of an eval: the results file (one JSON line per instance) and the summary tables."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from forethought.eval.results import InstanceResult, Summary, Tally


def write_results(path: Path, results: Iterable[InstanceResult]) -> int:
    """Write ``results`` to ``path`` as JSON lines, atomically (a partial file is never left);
    returns how many were written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _count(n: int) -> str:
    """``1,234``, ``123.5k``, ``1.91M``: narrow enough for the table to fit a terminal."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 100_000:
        return f"{n / 1000:.1f}k"
    return f"{n:,}"


def _row(label: str, t: Tally) -> list[str]:
    low, high = t.interval()
    latency = t.latency()
    return [label, str(t.n), _pct(t.accuracy), f"{100 * low:.1f}-{_pct(high)}",
            str(t.failures), _count(t.usage.model_calls), _count(t.usage.total_tokens),
            f"${t.usage.cost_usd:.4f}", *(f"{latency[k]:.2f}s" for k in ("p50", "p90", "p99"))]


def _table(title: str, first: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column(first)
    for column in ("n", "accuracy", "95% CI", "failures", "calls", "tokens", "cost", "p50",
                   "p90", "p99"):
        table.add_column(column, justify="right")
    return table


def summary_renderable(summary: Summary, *, eval_id: str, total: int) -> Group:
    """Accuracy, its interval, failures, calls, tokens, cost and latency percentiles per
    instance, for all instances, then per strategy and per tag value.
    """
    main = _table(f"eval {eval_id}: {summary.total.n} of {total} instances", "")
    main.add_row(*_row("all", summary.total))
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items()))
    parts: list[Table | Text] = [main, Text(f"statuses: {statuses}", style="dim")]
    if len(summary.by_strategy) > 1 or any(k != "(none)" for k in summary.by_strategy):
        by_strategy = _table("by strategy", "strategy")
        for name, t in sorted(summary.by_strategy.items()):
            by_strategy.add_row(*_row(name, t))
        parts.append(by_strategy)
    for tag, values in sorted(summary.by_tag.items()):
        by_tag = _table(f"by {tag}", tag)
        for value, t in sorted(values.items()):
            by_tag.add_row(*_row(value, t))
        parts.append(by_tag)
    return Group(*parts)
