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
    table = Table(title="evals side by side", title_justify="left", show_edge=False)
    for column, justify in (("eval", "left"), ("recipe", "left"), ("model", "left"),
                            ("strategy", "left"), ("done", "right"), ("accuracy", "right"),
                            ("95% CI", "right"), ("failures", "right"), ("calls", "right"),
                            ("tokens", "right"), ("cost", "right"), ("p50", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        t = row.summary.total
        low, high = t.interval()
        table.add_row(row.eval_id, row.name, row.model, row.strategy, f"{t.n}/{row.total}",
                      f"{100 * t.accuracy:.1f}%", f"{100 * low:.1f}-{100 * high:.1f}%",
                      str(t.failures), f"{t.usage.model_calls:,}",
                      f"{t.usage.total_tokens:,}", f"${t.usage.cost_usd:.4f}",
                      f"{t.latency()['p50']:.2f}s")
    return table
