"""Accuracy against model calls (1 to 256) for every search strategy, on SimulatedModel.

SIMULATOR: the model is forethought's SimulatedModel, not a language model. The figures show
that the strategies reproduce the known *shapes* of inference-time scaling under the
simulator's assumptions (per-step accuracy, compounding errors, Zipf-distributed wrong answers,
a noisy process reward); they say nothing about any real model.

Two task mixes of 60 simulated instances each, difficulties spread evenly over [0.3, 1.0]:
``one_step`` (every solution is one step) and ``four_step`` (four steps, each right with
probability ``accuracy ** (1/4)``; an early error dooms the path). Each strategy is sized with
``forethought.search.sizing.sized`` to spend about C model calls (scores by the process reward
count as calls) and run under a hard budget of C calls. ``coverage`` is the share of instances
with a right answer among C independent samples (an oracle picking it), estimated without bias
from 256 samples per instance (pass@k); ``best_of_n_judge`` is best-of-N scored by a yes/no
judge that accepts 15% of wrong answers, where the other strategies use the process reward.

Prints one JSON object per (mix, strategy, calls) on stdout and a table on stderr; draws
``benchmarks/out/strategy_scaling.png`` (copied to ``docs/strategy_scaling.png``).

Run: ``uv run --group bench python benchmarks/strategy_scaling.py [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import emit, machine

from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.answers import same_answer
from forethought.models.simulated.multistep import SimulatedMultiStepTask
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import strategy_names
from forethought.search.chain import ChainTask
from forethought.search.scorers import JudgeScorer, Scorer
from forethought.search.self_consistency import SelfConsistency
from forethought.search.sizing import sized

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
DOCS = ROOT.parent / "docs"
MIXES = {"one_step": 1, "four_step": 4}
JUDGED = "best_of_n_judge"
"""Best-of-N scored by a yes/no judge with false positives (15%) instead of a process reward."""


def mix(steps: int, n: int) -> list[SimulatedMultiStepTask]:
    return [SimulatedMultiStepTask(id=f"k{steps}-{i}", question=f"Problem {i} of {steps} steps?",
                                   answer=f"a{i}", difficulty=0.3 + 0.7 * (i + 0.5) / n,
                                   steps=steps, distractors=(f"b{i}", f"c{i}", f"d{i}"))
            for i in range(n)]


def chain(task: SimulatedMultiStepTask, scorer: Scorer | None = None) -> ChainTask:
    return ChainTask(question=task.question, max_depth=task.steps + 2, scorer=scorer,
                     metadata={"instance_id": task.id})


async def accuracy(name: str, tasks: list[SimulatedMultiStepTask], calls: int, seed: int
                   ) -> dict[str, float]:
    model = SimulatedModel(tasks, seed=seed)
    right = spent = 0
    for task in tasks:
        ctx = RunContext(model=model, budget=BudgetTracker(budget=Budget(max_model_calls=calls)))
        judged = name == JUDGED
        strategy = sized("best_of_n" if judged else name, calls, depth=task.steps)
        result = await strategy.arun(ctx, chain(task, JudgeScorer() if judged else None))
        right += result.answer is not None and same_answer(result.answer, task.answer)
        spent += ctx.budget.started_calls
    return {"accuracy": right / len(tasks), "calls_used": spent / len(tasks)}


def pass_at_k(n: int, right: int, k: int) -> float:
    """The unbiased estimate of "at least one of k samples is right" from n samples with
    ``right`` right ones (Chen et al., 2021; used by Large Language Monkeys)."""
    if n - right < k:
        return 1.0
    return 1.0 - math.comb(n - right, k) / math.comb(n, k)


async def coverage(tasks: list[SimulatedMultiStepTask], budgets: list[int], seed: int
                   ) -> dict[int, float]:
    model = SimulatedModel(tasks, seed=seed)
    n = max(budgets)
    rights: list[int] = []
    for task in tasks:
        result = await SelfConsistency(n=n).arun(RunContext(model=model), chain(task))
        rights.append(sum(int(c.meta.get("samples", 1)) for c in result.candidates
                          if c.answer is not None and same_answer(c.answer, task.answer)))
    return {k: statistics.mean(pass_at_k(n, r, k) for r in rights) for k in budgets}


def plot(rows: list[dict[str, Any]], budgets: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.4), sharey=True)
    for ax, mix_name in zip(axes, MIXES, strict=True):
        names = sorted({r["strategy"] for r in rows if r["mix"] == mix_name})
        for name in names:
            pts = sorted((r["calls"], r["accuracy"]) for r in rows
                         if r["mix"] == mix_name and r["strategy"] == name)
            style: dict[str, Any] = {}
            if name == "coverage":
                style = {"linestyle": "--", "color": "black"}
            elif name == JUDGED:
                style = {"linestyle": ":", "color": "tab:orange"}
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                    label=name, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.set_title(f"{mix_name.replace('_', '-')} problems")
        ax.set_xlabel("model calls per instance (budget)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("Search strategies on SimulatedModel (a simulator, not a language model)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(rows: list[dict[str, Any]], budgets: list[int]) -> str:
    lines: list[str] = []
    for mix_name in MIXES:
        lines.append(f"\n{mix_name} (accuracy; columns: model calls)")
        lines.append(f"{'strategy':18}" + "".join(f"{b:>6}" for b in budgets))
        names = sorted({r["strategy"] for r in rows if r["mix"] == mix_name},
                       key=lambda n: (n != "coverage", n))
        for name in names:
            by = {r["calls"]: r["accuracy"] for r in rows
                  if r["mix"] == mix_name and r["strategy"] == name}
            lines.append(f"{name:18}" + "".join(f"{by.get(b, float('nan')):6.2f}"
                                                 for b in budgets))
    return "\n".join(lines)


async def main(quick: bool, seed: int) -> None:
    budgets = [1, 2, 4, 8, 16, 32] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    n = 12 if quick else 60
    emit(machine())
    emit({"kind": "config", "benchmark": "strategy_scaling", "model": "SimulatedModel "
          "(a simulator, not a language model)", "instances_per_mix": n, "budgets": budgets,
          "mixes": MIXES, "difficulty": [0.3, 1.0], "seed": seed})
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for mix_name, steps in MIXES.items():
        tasks = mix(steps, n)
        for c, value in (await coverage(tasks, budgets, seed)).items():
            rows.append({"kind": "point", "mix": mix_name, "strategy": "coverage", "calls": c,
                         "accuracy": round(value, 3)})
            emit(rows[-1])
        for name in [*strategy_names(), JUDGED]:
            for c in budgets:
                got = await accuracy(name, tasks, c, seed)
                rows.append({"kind": "point", "mix": mix_name, "strategy": name, "calls": c,
                             "accuracy": round(got["accuracy"], 3),
                             "calls_used": round(got["calls_used"], 1)})
                emit(rows[-1])
    OUT.mkdir(exist_ok=True)
    png = OUT / "strategy_scaling.png"
    plot(rows, budgets, png)
    if not quick and png.stat().st_size < 200_000:
        DOCS.mkdir(exist_ok=True)
        shutil.copy(png, DOCS / "strategy_scaling.png")
    summary: dict[str, Any] = {"kind": "summary", "plot": str(png),
                               "seconds": round(time.perf_counter() - started, 1)}
    for mix_name in MIXES:
        at = {(r["strategy"], r["calls"]): r["accuracy"] for r in rows if r["mix"] == mix_name}
        summary[f"{mix_name}_tree_minus_best_of_n"] = {
            c: round(statistics.mean(at[(s, c)] for s in ("beam", "rebase", "particle_filter"))
                     - at[("best_of_n", c)], 3) for c in budgets if c >= 16}
    emit(summary)
    print(table(rows, budgets), file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast smoke run (figures are not meaningful)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.seed))
