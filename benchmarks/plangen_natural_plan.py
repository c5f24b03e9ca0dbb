"""PlanGEN's agents on NATURAL PLAN, **on SimulatedModel (a simulator)**: accuracy (the
benchmark's exact match), constraint satisfaction, model calls and tokens per instance, per
domain and complexity bin, for

- zero-shot (one plan);
- best-of-N (N = 8), Tree of Thoughts (BFS), REBASE and refinement (one plan, then up to three
  rounds of feedback), each *unguided* (a model judge without constraints) and
  *constraint-guided* (the verification agent: exact checkers first);
- formalise and solve (z3 on the constraint set, no model call for the plan);
- Mixture of Algorithms (the arms in order of the complexity prior, switching while the answer
  is not verified; nothing learnt between instances);
- the selection agent (a bandit over the same arms, learning per family and complexity bin in
  a run store), a first pass over the data and a second one that starts from what the first
  learnt; with Thompson sampling (the default) and with PlanGEN's UCB;
- constraint-guided best-of-N at N = 1..32, to find the calls best-of-N needs for an accuracy.

Constraint-guided rows run twice: with the constraints NATURAL PLAN's parser reads from each
prompt (exact) and with those the constraint agent extracts (the simulator omits, invents and
leaves unformalised some, at its documented rates). Every instance runs through the SDK
(``Agent.run`` with the ``plangen`` or ``search`` planner), one at a time; ``forethought eval``
will replace this loop when it lands.

The simulator's parameters are its documented defaults (forethought/models/simulated/
planning.py): a plan neglects each constraint with probability 0.075 (the maximum-likelihood
fit to Gemini 1.5 Pro's published answers on these 300 instances), the judge errs with its
default rates. Nothing here is tuned to this benchmark. On one-step tasks (a whole plan is one
step) Tree of Thoughts and REBASE sample and rank complete plans, as best-of-N does.

Complexity bins are per-domain terciles of the parser's constraint count (the same for every
method, unlike the selection agent's own bins, which come from its estimate).

Targets (``kind: target`` lines; the exit status is 1 when one judged on fails): guided beats
unguided for every algorithm, in both regimes; the selection agent reaches the best fixed
strategy's accuracy (within two points) with at most a quarter of the calls best-of-N needs
for it, and a second pass is cheaper at equal accuracy, judged with the parser's
constraints (see :data:`SCOPE`).

    uv run python benchmarks/plangen_natural_plan.py            # 3 x 100 instances, 3 seeds
    uv run python benchmarks/plangen_natural_plan.py --seeds 1  # one seed (a third the time)
    uv run python benchmarks/plangen_natural_plan.py --quick    # 10 per domain, smoke only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine, round_floats

from forethought.agents.agent import Agent
from forethought.models.simulated import SimulatedModel
from forethought.planners.base import Planner
from forethought.planners.plangen import PlanGENPlanner
from forethought.planners.search import SearchPlanner
from forethought.runtime.store import RunStore
from forethought.tasks.natural_plan.dataset import Domain, Instance, load_instances
from forethought.tasks.natural_plan.metrics import (
    constraint_satisfaction,
    exact_match,
)
from forethought.tasks.natural_plan.plans import instance_constraints
from forethought.tasks.natural_plan.simulated import simulated_task

DOMAINS: tuple[Domain, ...] = ("calendar", "meeting", "trip")
SEED = 7
TOLERANCE = 0.02
"""'Reaches an accuracy': within two points (about one standard error at 100 instances)."""
ALGORITHMS: dict[str, dict[str, Any]] = {
    "best_of_n": {"kind": "best_of_n", "n": 8},
    "tot_bfs": {"kind": "tot_bfs", "proposals": 8, "breadth": 2, "evaluation": "scorer"},
    "rebase": {"kind": "rebase", "width": 8},
    "refine": {"kind": "refine", "strategy": {"kind": "best_of_n", "n": 1}, "rounds": 3},
}
CURVE = (1, 2, 4, 8, 16, 32)


@dataclass(kw_only=True)
class Row:
    method: str
    regime: str
    """``parser`` (the task's constraints), ``extracted`` (the constraint agent's) or ``-``."""
    make: Callable[[], Planner]
    fresh: bool = False
    """A new planner per instance (nothing learnt across instances)."""
    store: str | None = None
    """The run store file the planner learns in (shared by the passes that name it)."""


@dataclass(kw_only=True)
class Outcome:
    method: str
    regime: str
    instance: str
    bin: str
    accuracy: float
    satisfaction: float
    calls: int
    tokens: int
    status: str
    verified: bool | None


def plangen(domain: str, **options: Any) -> Callable[[], Planner]:
    return lambda: PlanGENPlanner(task=f"natural_plan_{domain}", **options)


def rows(domain: str, store_dir: Path) -> list[Row]:
    out = [Row(method="zero_shot", regime="-", make=lambda: SearchPlanner(
        task=f"natural_plan_{domain}", strategy={"kind": "best_of_n", "n": 1}))]
    for name, spec in ALGORITHMS.items():
        out.append(Row(method=f"{name}", regime="unguided",
                       make=plangen(domain, constraints="none", strategy=spec)))
        for regime, source in (("parser", "task"), ("extracted", "extract")):
            out.append(Row(method=name, regime=regime,
                           make=plangen(domain, constraints=source, strategy=spec)))
    for regime, source in (("parser", "task"), ("extracted", "extract")):
        out.append(Row(method="formalise_solve", regime=regime,
                       make=plangen(domain, constraints=source, strategy="formalise_solve")))
        out.append(Row(method="mixture", regime=regime, fresh=True, make=plangen(
            domain, constraints=source, selection={"statistics": "memory"})))
        for method, name in (("thompson", "selection"), ("ucb", "selection_ucb")):
            store = str(store_dir / f"{domain}-{regime}-{method}.sqlite")
            for p in (1, 2):
                out.append(Row(method=f"{name}_pass{p}", regime=regime, store=store,
                               make=plangen(domain, constraints=source,
                                            selection={"method": method})))
        for n in CURVE:
            if n != 8:
                out.append(Row(method=f"best_of_n_{n}", regime=regime, make=plangen(
                    domain, constraints=source, strategy={"kind": "best_of_n", "n": n})))
    return out


def bins_of(instances: list[Instance]) -> dict[str, str]:
    counts = {i.id: len(instance_constraints(i)) for i in instances}
    ordered = sorted(counts.values())
    q1, q2 = ordered[len(ordered) // 3], ordered[2 * len(ordered) // 3]
    return {i: "low" if c < q1 else "mid" if c < q2 else "high" for i, c in counts.items()}


def run_row(row: Row, instances: list[Instance], bins: dict[str, str], seed: int
            ) -> list[Outcome]:
    model = SimulatedModel([simulated_task(i) for i in instances], seed=seed)
    store = RunStore(f"{row.store}.{seed}") if row.store else None
    agent = Agent(model, planner=row.make(), store=store)
    out: list[Outcome] = []
    try:
        for inst in instances:
            if row.fresh:
                agent.planner = row.make()
            result = agent.run(inst.prompt_5shot)
            answer = result.answer or ""
            out.append(Outcome(method=row.method, regime=row.regime, instance=inst.id,
                               bin=bins[inst.id], accuracy=exact_match(answer, inst),
                               satisfaction=constraint_satisfaction(answer, inst),
                               calls=result.usage.model_calls,
                               tokens=result.usage.total_tokens, status=result.status,
                               verified=result.verified))
    finally:
        agent.close()
        if store is not None:
            store.close()
    return out


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    return {"n": len(outcomes),
            "accuracy": statistics.mean(o.accuracy for o in outcomes),
            "constraint_satisfaction": statistics.mean(o.satisfaction for o in outcomes),
            "calls": statistics.mean(o.calls for o in outcomes),
            "tokens": statistics.mean(o.tokens for o in outcomes),
            "verified": sum(o.verified is True for o in outcomes) / len(outcomes)}


SCOPE = {"parser": "issue target", "extracted": "extra (reported, not the issue's target)"}
"""Which rows the issue's targets are judged on. NATURAL PLAN supplies each instance's
constraints from its parser (the issue: "a task may instead supply constraints directly
(NATURAL PLAN below does, from its parser)"), so the parser regime is the benchmark's. The
extracted regime is a stress test of the constraint agent added here: its selection rows
pay for the extraction, the complexity rating and at least one model plan with its checks
(about 3.3 calls at least on calendar), against a quarter of best-of-N's 11.5 (2.9), so the
quarter cannot be met there whatever the bandit does; its verdicts are printed all the same.
Guided-beats-unguided is judged in both regimes."""


def targets(domain: str, table: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's three targets, in each constraint regime (``scope`` says which count)."""
    out: list[dict[str, Any]] = []
    for name in ALGORITHMS:
        unguided = table[(name, "unguided")]["accuracy"]
        for regime in ("parser", "extracted"):
            guided = table[(name, regime)]["accuracy"]
            out.append({"target": "guided_beats_unguided", "domain": domain, "method": name,
                        "regime": regime, "guided": guided, "unguided": unguided,
                        "scope": "issue target",
                        "verdict": "pass" if guided > unguided else "fail"})
    fixed = [m for m in table if not m[0].startswith(("selection", "mixture", "best_of_n_"))]
    for regime in ("parser", "extracted"):
        curve = [table[(f"best_of_n_{n}" if n != 8 else "best_of_n", regime)] for n in CURVE]
        best_key = max((k for k in fixed if k[1] in (regime, "unguided", "-")),
                       key=lambda k: table[k]["accuracy"])
        best = table[best_key]["accuracy"]
        needed = next((c for c in curve if c["accuracy"] >= best - TOLERANCE), None)
        bon_calls = needed["calls"] if needed is not None else curve[-1]["calls"]
        for name in ("selection", "selection_ucb"):
            for p in (1, 2):
                sel = table[(f"{name}_pass{p}", regime)]
                ok = sel["accuracy"] >= best - TOLERANCE and sel["calls"] <= bon_calls / 4
                out.append({"target": "selection_quarter_of_best_of_n_calls", "domain": domain,
                            "regime": regime, "method": name, "pass": p,
                            "best_fixed": f"{best_key[0]}/{best_key[1]}",
                            "best_fixed_accuracy": best, "selection_accuracy": sel["accuracy"],
                            "selection_calls": sel["calls"], "best_of_n_calls": bon_calls,
                            "best_of_n_reaches_it": needed is not None,
                            "scope": SCOPE[regime], "verdict": "pass" if ok else "fail"})
            one, two = table[(f"{name}_pass1", regime)], table[(f"{name}_pass2", regime)]
            cheaper = (two["calls"] < one["calls"]
                       and two["accuracy"] >= one["accuracy"] - TOLERANCE)
            out.append({"target": "second_pass_cheaper", "domain": domain, "regime": regime,
                        "method": name, "pass1_calls": one["calls"],
                        "pass2_calls": two["calls"], "pass1_accuracy": one["accuracy"],
                        "pass2_accuracy": two["accuracy"], "scope": SCOPE[regime],
                        "verdict": "pass" if cheaper else "fail"})
    return out


def show(domain: str, table: dict[tuple[str, str], dict[str, Any]],
         by_bin: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    print(f"\n{domain} (SimulatedModel; accuracy = NATURAL PLAN exact match)", file=sys.stderr)
    print(f"{'method':<18}{'constraints':<12}{'acc':>6}{'sat':>6}{'calls':>7}{'tokens':>8}"
          f"{'low':>6}{'mid':>6}{'high':>6}", file=sys.stderr)
    for (method, regime), s in table.items():
        per = [by_bin.get((method, regime, b), {}).get("accuracy") for b in ("low", "mid",
                                                                              "high")]
        cells = "".join(f"{x:>6.2f}" if x is not None else f"{'-':>6}" for x in per)
        print(f"{method:<18}{regime:<12}{s['accuracy']:>6.2f}"
              f"{s['constraint_satisfaction']:>6.2f}{s['calls']:>7.1f}{s['tokens']:>8.0f}"
              f"{cells}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 instances per domain")
    parser.add_argument("--limit", type=int, default=None, help="instances per domain")
    parser.add_argument("--seeds", type=int, default=None,
                        help="simulator seeds, every row pooled over them (default 3; 1 with "
                             "--quick)")
    args = parser.parse_args(argv)
    limit = 10 if args.quick else args.limit
    count = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    seeds = [SEED + k for k in range(max(1, count))]
    emit(machine())
    emit({"kind": "config", "model": "SimulatedModel (a simulator)", "seeds": seeds,
          "limit": limit, "prompts": "5-shot", "algorithms": ALGORITHMS, "curve": CURVE,
          "tolerance": TOLERANCE})
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for domain in DOMAINS:
            instances = load_instances(domain)[:limit]
            bins = bins_of(instances)
            table: dict[tuple[str, str], dict[str, Any]] = {}
            by_bin: dict[tuple[str, str, str], dict[str, Any]] = {}
            for row in rows(domain, Path(tmp)):
                start = time.perf_counter()
                outcomes = [o for seed in seeds for o in run_row(row, instances, bins, seed)]
                key = (row.method, row.regime)
                table[key] = summary(outcomes)
                emit(round_floats({"kind": "row", "domain": domain, "method": row.method,
                                   "constraints": row.regime, "bin": "all", **table[key],
                                   "seconds": time.perf_counter() - start}, 4))
                for b in ("low", "mid", "high"):
                    mine = [o for o in outcomes if o.bin == b]
                    if mine:
                        by_bin[(row.method, row.regime, b)] = summary(mine)
                        emit(round_floats({"kind": "row", "domain": domain,
                                           "method": row.method, "constraints": row.regime,
                                           "bin": b, **by_bin[(row.method, row.regime, b)]}, 4))
            show(domain, table, by_bin)
            for t in targets(domain, table):
                failed += t["verdict"] == "fail" and t["scope"] == "issue target"
                emit(round_floats({"kind": "target", **t}, 4))
    return 0 if args.quick or not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
