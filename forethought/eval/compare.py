"""Several evals side by side (``forethought eval --compare``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from forethought.eval.plan import EvalSpec
from forethought.eval.results import Summary, summarise
from forethought.eval.store import EvalStore


@dataclass(kw_only=True)
class CompareRow:
    eval_id: str
    name: str
    model: str
    strategy: str
    total: int
    summary: Summary

    def x(self, axis: str) -> float:
        usage = self.summary.total.usage
        return {"cost": usage.cost_usd, "calls": float(usage.model_calls),
                "tokens": float(usage.total_tokens)}[axis]


def compare_rows(store: EvalStore, eval_ids: Sequence[str]) -> list[CompareRow]:
    """One row per eval id (an unknown id is a :class:`UserError` listing recent ones)."""
    rows: list[CompareRow] = []
    for eval_id in eval_ids:
        record = store.get(eval_id)
        spec = EvalSpec.from_json(record.spec)
        results = store.results(eval_id)
        recipe = spec.recipe()
        model = spec.model or recipe.model_config_obj().name
        strategies = sorted({r.strategy or "(none)" for r in results}) or ["-"]
        rows.append(CompareRow(eval_id=eval_id, name=record.name, model=model,
                               strategy=", ".join(strategies), total=record.total,
                               summary=summarise(results)))
    return rows


def compare_table(rows: Sequence[CompareRow]) -> Table:
    """One column per eval, one row per figure, so several fit side by side."""
    table = Table(title="evals side by side", title_justify="left", show_edge=False)
    table.add_column("")
    for row in rows:
        table.add_column(row.eval_id, justify="right", no_wrap=True)
    lines: dict[str, list[str]] = {name: [] for name in (
        "recipe", "model", "strategy", "done", "accuracy", "95% CI", "failures", "calls",
        "tokens", "cost", "p50", "p90")}
    for row in rows:
        t = row.summary.total
        low, high = t.interval()
        latency = t.latency()
        for name, value in (("recipe", row.name), ("model", row.model),
                            ("strategy", row.strategy), ("done", f"{t.n}/{row.total}"),
                            ("accuracy", f"{100 * t.accuracy:.1f}%"),
                            ("95% CI", f"{100 * low:.1f}-{100 * high:.1f}%"),
                            ("failures", str(t.failures)),
                            ("calls", f"{t.usage.model_calls:,}"),
                            ("tokens", f"{t.usage.total_tokens:,}"),
                            ("cost", f"${t.usage.cost_usd:.4f}"),
                            ("p50", f"{latency['p50']:.2f}s"), ("p90", f"{latency['p90']:.2f}s")):
            lines[name].append(value)
    for name, values in lines.items():
        table.add_row(name, *values)
    return table
