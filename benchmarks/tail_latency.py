"""Search makespan under tail latency: the synchronous strategies beside their asynchronous
modes and early stopping, with log-normal call latencies over constant ones.

Makespan (``makespan`` rows): each strategy runs with about 2,048 model calls (256 candidates
per step over four steps: beam 64 x 4, REBASE 256, particle filtering 256 particles, Tree of
Thoughts BFS 16 x 16; self-consistency 2,048 samples; best-of-N 1,024 samples, each judged)
against a zero-cost ``ScriptedModel`` whose replies are computed from the prompt and whose
latency is log-normal with a median of 50 ms and sigma 0, 0.5 or 1.0 (sigma 0: every call
50 ms). Each run is timed end to end; ``ratio`` is its median makespan over the same strategy
and mode's at sigma 0, measured in the same process, the modes interleaved. ``sync`` is the
default (every step waits for its slowest call); ``async`` is ``proceed_at`` for the stepping
strategies and ``stop_early`` for best-of-N and self-consistency. Target: ``async`` at sigma
0.5 within 1.5x of its constant-latency run.

Accuracy (``accuracy`` rows), **on SimulatedModel (a simulator, not a language model)**: the
four-step mix of ``strategy_scaling`` (60 instances, difficulties spread over [0.3, 1.0]), each
strategy sized to 256 calls under a budget of 256, synchronous (whose answers do not depend
on latency) and asynchronous with simulated log-normal latencies of median 50 ms (the
instances of a seed run side by side). ``within_noise``: the difference is at most twice its
standard error.

Run: ``uv run python benchmarks/tail_latency.py [--quick] [--proceed-at Q ...]
[--strategies NAME ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import statistics
import sys
import time
import zlib
from typing import Any, cast

from _common import emit, machine, median, round_floats, verdict

from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.answers import same_answer
from forethought.models.simulated.multistep import SimulatedMultiStepTask
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import Strategy, strategy_class
from forethought.search.chain import ChainTask
from forethought.search.scorers import JudgeScorer
from forethought.search.sizing import sized

MEDIAN_S = 0.05
SIGMAS = (0.0, 0.5, 1.0)
TARGET = 1.5
DEPTH = 4
STEPPING = ("beam", "rebase", "particle_filter", "tot_bfs")
SAMPLING = ("self_consistency", "best_of_n")
CONFIGS: dict[str, dict[str, Any]] = {
    "beam": {"width": 64, "expansion": 4},
    "rebase": {"width": 256},
    "particle_filter": {"particles": 256},
    "tot_bfs": {"breadth": 16, "proposals": 16, "evaluation": "scorer"},
    "self_consistency": {"n": 2048},
    "best_of_n": {"n": 1024},
}
QUICK: dict[str, dict[str, Any]] = {
    "beam": {"width": 8, "expansion": 4}, "rebase": {"width": 32},
    "particle_filter": {"particles": 32},
    "tot_bfs": {"breadth": 4, "proposals": 8, "evaluation": "scorer"},
    "self_consistency": {"n": 256}, "best_of_n": {"n": 128},
}


def async_options(name: str, proceed_at: float) -> dict[str, Any]:
    return {"proceed_at": proceed_at} if name in STEPPING else {"stop_early": True}


# --- makespan on a zero-cost model --------------------------------------------------------------

_COUNTER = itertools.count()


def reply(request: ModelRequest) -> str:
    """A plausible reply for each purpose, computed from the prompt in microseconds: distinct
    steps and scores; rollouts answer ``0`` three times in five (so a vote can be decided);
    the judge accepts ``0`` and one wrong answer in ten."""
    user = request.messages[-1].content
    depth = user.count("\nStep ")
    noise = (zlib.crc32(user.encode()) + next(_COUNTER)) % 97
    purpose = request.purpose
    if purpose == "propose":
        step = f"Step {depth + 1}: combine fact {noise}."
        return step + (f"\nAnswer: {noise % 5}" if depth + 1 >= DEPTH else "")
    if purpose == "rollout":
        steps = [f"Step {i}: fact {noise}." for i in range(depth + 1, DEPTH + 1)]
        answer = 0 if noise % 5 < 3 else noise % 4 + 1
        return "\n".join([*steps, f"Answer: {answer}"])
    if purpose == "judge":
        right = request.metadata.get("candidate") == "0"
        return "Yes" if right or noise % 10 == 0 else "No"
    return f"Score: {noise / 97:.2f}"


def lognormal_model(sigma: float, seed: int) -> ScriptedModel:
    """Zero-cost replies after a log-normal latency (median 50 ms), drawn in call order."""
    rng = random.Random(f"{seed}|{sigma}")

    async def answer(request: ModelRequest) -> str:
        await asyncio.sleep(MEDIAN_S * math.exp(rng.gauss(0.0, sigma)) if sigma else MEDIAN_S)
        return reply(request)

    return ScriptedModel(answer)


def makespan_task(name: str) -> ChainTask:
    return ChainTask(question="Combine the facts into the answer.", max_depth=DEPTH + 1,
                     scorer=JudgeScorer() if name == "best_of_n" else None)


async def makespan(name: str, options: dict[str, Any], sigma: float, seed: int
                   ) -> tuple[float, int, dict[str, int | float]]:
    ctx = RunContext(model=lognormal_model(sigma, seed))
    strategy = strategy_class(name).from_options(options)
    start = time.perf_counter()
    result = await strategy.arun(ctx, makespan_task(name))
    return time.perf_counter() - start, ctx.budget.started_calls, result.stats


async def makespans(quick: bool, proceed_ats: list[float], reps: int, names: list[str]
                    ) -> list[dict[str, Any]]:
    configs = {k: v for k, v in (QUICK if quick else CONFIGS).items() if k in names}
    modes: list[tuple[str, float | None]] = [("sync", None), *(("async", q) for q in proceed_ats)]
    rows: list[dict[str, Any]] = []
    for name, base in configs.items():
        runs: dict[tuple[str, float | None, float], list[tuple[float, int, dict[str, Any]]]] = {}
        for rep in range(reps):
            for sigma in SIGMAS:
                for mode, q in modes:  # interleaved, so load on the machine hits all alike
                    if mode == "async" and name in SAMPLING and q != proceed_ats[0]:
                        continue  # stop_early has no quantile
                    options = base if mode == "sync" else {**base, **async_options(name, q or 1)}
                    runs.setdefault((mode, q, sigma), []).append(
                        await makespan(name, options, sigma, seed=rep))
        for (mode, q, sigma), got in runs.items():
            seconds = median([g[0] for g in got])
            constant = median([g[0] for g in runs[(mode, q, 0.0)]])
            sync_constant = median([g[0] for g in runs[("sync", None, 0.0)]])
            stats = got[len(got) // 2][2]
            row: dict[str, Any] = {
                "kind": "makespan", "strategy": name, "mode": mode,
                "option": None if mode == "sync" else (
                    f"proceed_at={q}" if name in STEPPING else "stop_early"),
                "sigma": sigma, "makespan_s": seconds, "ratio": seconds / constant,
                "ratio_vs_sync_constant": seconds / sync_constant,
                "model_calls": round(statistics.mean(g[1] for g in got)),
                "late": stats.get("late", 0), "cancelled_calls": stats.get("cancelled_calls", 0)}
            if sigma == 0.5:
                row.update({"target": TARGET, "verdict": verdict(seconds / constant, TARGET)
                            if mode == "async" else "before"})
            rows.append(round_floats(row))
            emit(rows[-1])
    return rows


# --- accuracy on the simulator ------------------------------------------------------------------

def mix(n: int) -> list[SimulatedMultiStepTask]:
    """strategy_scaling's four-step mix."""
    return [SimulatedMultiStepTask(id=f"k4-{i}", question=f"Problem {i} of 4 steps?",
                                   answer=f"a{i}", difficulty=0.3 + 0.7 * (i + 0.5) / n,
                                   steps=4, distractors=(f"b{i}", f"c{i}", f"d{i}"))
            for i in range(n)]


def sized_options(name: str, calls: int, extra: dict[str, Any]) -> Strategy:
    strategy = sized(name, calls, depth=4)
    options = cast(Any, strategy).options.model_dump()  # every sized strategy has Options
    return strategy_class(name).from_options({**options, **extra})


async def solve(tasks: list[SimulatedMultiStepTask], name: str, extra: dict[str, Any],
                sigma: float, seed: int, calls: int) -> list[bool]:
    """One seed's instances side by side (the simulator waits its latencies only when
    sigma is set: synchronous answers do not depend on them)."""
    model = SimulatedModel(tasks, seed=seed, sleep=sigma > 0, latency_sigma=sigma,
                           mean_latency_s=MEDIAN_S * math.exp(sigma**2 / 2))

    async def one(task: SimulatedMultiStepTask) -> bool:
        ctx = RunContext(model=model, budget=BudgetTracker(budget=Budget(max_model_calls=calls)))
        chain = ChainTask(question=task.question, max_depth=task.steps + 2,
                          metadata={"instance_id": task.id},
                          scorer=JudgeScorer() if name == "best_of_n" else None)
        result = await sized_options(name, calls, extra).arun(ctx, chain)
        return result.answer is not None and same_answer(result.answer, task.answer)

    return list(await asyncio.gather(*(one(t) for t in tasks)))


async def accuracies(quick: bool, proceed_at: float, seeds: int, names: list[str]
                     ) -> list[dict[str, Any]]:
    tasks = mix(12 if quick else 60)
    calls = 64 if quick else 256
    rows: list[dict[str, Any]] = []
    for name in (n for n in (*STEPPING, *SAMPLING) if n in names):
        sync: list[bool] = []
        for seed in range(seeds):
            sync += await solve(tasks, name, {}, 0.0, seed, calls)
        for sigma in SIGMAS[1:]:
            fast: list[bool] = []
            for seed in range(seeds):
                fast += await solve(tasks, name, async_options(name, proceed_at), sigma, seed,
                                    calls)
            p, r = statistics.mean(sync), statistics.mean(fast)
            se = math.sqrt(p * (1 - p) / len(sync) + r * (1 - r) / len(fast))
            rows.append(round_floats({
                "kind": "accuracy", "strategy": name, "sigma": sigma, "calls": calls,
                "instances": len(sync), "option": "proceed_at=" + str(proceed_at)
                if name in STEPPING else "stop_early", "sync": p, "async": r,
                "difference": r - p, "standard_error": se,
                "within_noise": abs(r - p) <= 2 * se}))
            emit(rows[-1])
    return rows


def table(spans: list[dict[str, Any]], accs: list[dict[str, Any]]) -> str:
    lines = ["", "makespan (s) and ratio over the same mode at sigma 0",
             f"{'strategy':17} {'mode':24} " + "".join(f"{'s=' + str(s):>16}" for s in SIGMAS)]
    keys = sorted({(r["strategy"], r["mode"], r["option"] or "") for r in spans},
                  key=lambda k: (list(CONFIGS).index(k[0]), k[1] != "sync", k[2]))
    for name, mode, option in keys:
        cells = []
        for sigma in SIGMAS:
            row = next(r for r in spans if (r["strategy"], r["mode"], r["option"] or "",
                                            r["sigma"]) == (name, mode, option, sigma))
            cells.append(f"{row['makespan_s']:7.2f} ({row['ratio']:4.2f}x)")
        lines.append(f"{name:17} {(mode + ' ' + option).strip():24} "
                     + "".join(f"{c:>16}" for c in cells))
    lines += ["", "accuracy on the simulator (sync vs async, +- one standard error)"]
    for r in accs:
        lines.append(f"{r['strategy']:17} s={r['sigma']:<4} {r['sync']:.3f} -> {r['async']:.3f}"
                     f"  ({r['difference']:+.3f} +- {r['standard_error']:.3f}) "
                     f"{'within noise' if r['within_noise'] else 'CHANGED'}")
    return "\n".join(lines)


async def main(quick: bool, proceed_ats: list[float], names: list[str]) -> None:
    reps = 1 if quick else 3
    seeds = 1 if quick else 2
    emit(machine())
    emit({"kind": "config", "benchmark": "tail_latency", "median_latency_s": MEDIAN_S,
          "sigmas": SIGMAS, "reps": reps, "proceed_at": proceed_ats, "target_ratio": TARGET,
          "makespan_model": "ScriptedModel, zero cost, log-normal latency",
          "accuracy_model": "SimulatedModel (a simulator, not a language model)",
          "accuracy_seeds": seeds, "strategies": names,
          "configs": QUICK if quick else CONFIGS})
    started = time.perf_counter()
    spans = await makespans(quick, proceed_ats, reps, names)
    accs = await accuracies(quick, proceed_ats[0], seeds, names)
    emit({"kind": "summary", "seconds": round(time.perf_counter() - started, 1)})
    print(table(spans, accs), file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast smoke run (figures are not meaningful)")
    parser.add_argument("--proceed-at", type=float, nargs="+", default=[0.5],
                        help="proceed_at values of the asynchronous rows (the first is also "
                             "used for the accuracy rows)")
    parser.add_argument("--strategies", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                        help="the strategies to measure (default: all)")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.proceed_at, args.strategies))
