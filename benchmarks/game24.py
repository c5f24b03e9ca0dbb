"""Game of 24: solve rate and model calls per puzzle for each search strategy.

The puzzles are Tree of Thoughts' test set (Yao et al., 2023): ranks 901-1000 of ``24.csv``.
Every step a model proposes is checked by exact arithmetic and every final answer by the exact
verifier (never by the model), so "solved" means a verified expression that makes 24.

By default the model is SimulatedModel -- A SIMULATOR, NOT A LANGUAGE MODEL: it solves each
state by brute force and proposes good steps with a probability, plausible wrong ones
otherwise. Its solve rates show how the strategies behave under that assumption and say
nothing about any real model. The same command runs on a real provider with ``--model``
(any LiteLLM model string, e.g. ``--model openai/gpt-4o-mini``; it spends money: start with
``--limit 5``).

Run: ``uv run --group bench python benchmarks/game24.py [--quick] [--model M] [--limit N]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from _common import emit, machine

from forethought.models.base import Model
from forethought.models.registry import resolve_model
from forethought.models.simulated import SimulatedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import strategy_class
from forethought.search.game24 import Game24Task, Puzzle, check_answer, load_puzzles

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "game24" / "24.csv"
SIMULATOR_NOTE = ("SimulatedModel is a simulator, not a language model: these solve rates "
                  "say nothing about any real model")

# name -> (strategy, options): the paper's baselines and settings where it gives them
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "cot_best_of_100": ("best_of_n", {"n": 100}),
    "cot_self_consistency_100": ("self_consistency", {"n": 100}),
    "tot_bfs_b1": ("tot_bfs", {"breadth": 1, "proposals": 8}),
    "tot_bfs_b5": ("tot_bfs", {"breadth": 5, "proposals": 8}),
    "tot_dfs": ("tot_dfs", {"proposals": 8, "accept": 1.0}),
    "beam_5x3": ("beam", {"width": 5, "expansion": 3}),
    "mcts_30": ("mcts", {"simulations": 30, "width": 8, "accept": 1.0}),
    "rebase_16": ("rebase", {"width": 16}),
    "particle_filter_16": ("particle_filter", {"particles": 16}),
}


async def solve(model: Model, puzzle: Puzzle, name: str, budget: int) -> dict[str, Any]:
    kind, options = CONFIGS[name]
    ctx = RunContext(model=model, budget=BudgetTracker(budget=Budget(max_model_calls=budget)))
    started = time.perf_counter()
    result = await strategy_class(kind).from_options(options).arun(
        ctx, Game24Task(question=puzzle.text))
    spent = ctx.budget.spent
    return {"solved": result.answer is not None and check_answer(puzzle.numbers, result.answer),
            "calls": ctx.budget.started_calls, "tokens": spent.total_tokens,
            "cost_usd": spent.cost_usd, "partial": result.partial,
            "unparseable": result.stats.get("unparseable", 0),
            "seconds": time.perf_counter() - started}


async def run(model: Model, puzzles: list[Puzzle], name: str, budget: int, concurrency: int
              ) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(puzzle: Puzzle) -> dict[str, Any]:
        async with gate:
            return await solve(model, puzzle, name, budget)

    started = time.perf_counter()
    rows = await asyncio.gather(*(one(p) for p in puzzles))
    n = len(rows)
    kind, options = CONFIGS[name]
    return {"kind": "result", "config": name, "strategy": kind, "options": options,
            "puzzles": n, "solved": sum(r["solved"] for r in rows),
            "solve_rate": round(sum(r["solved"] for r in rows) / n, 3),
            "calls_per_puzzle": round(sum(r["calls"] for r in rows) / n, 1),
            "tokens_per_puzzle": round(sum(r["tokens"] for r in rows) / n),
            "cost_usd": round(sum(r["cost_usd"] for r in rows), 4),
            "budget_exhausted": sum(r["partial"] for r in rows),
            "unparseable_steps_per_puzzle": round(sum(r["unparseable"] for r in rows) / n, 2),
            "wall_s": round(time.perf_counter() - started, 2)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 puzzles, four strategies: a smoke run")
    parser.add_argument("--model", default="simulated",
                        help="'simulated' (default, offline) or any LiteLLM model string")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulator")
    parser.add_argument("--limit", type=int, default=None, help="only the first N puzzles")
    parser.add_argument("--ranks", default="901-1000", help="puzzle ranks, e.g. 901-1000")
    parser.add_argument("--strategies", default=",".join(CONFIGS),
                        help=f"comma-separated, from: {', '.join(CONFIGS)}")
    parser.add_argument("--budget", type=int, default=400, help="max model calls per puzzle")
    parser.add_argument("--concurrency", type=int, default=8, help="puzzles at once")
    parser.add_argument("--data", default=os.environ.get("FORETHOUGHT_GAME24_CSV", str(DATA)))
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    low, _, high = args.ranks.partition("-")
    puzzles = load_puzzles(args.data, ranks=range(int(low), int(high or low) + 1))
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        sys.exit(f"unknown strategies {unknown}; valid: {', '.join(CONFIGS)}")
    if args.quick:
        puzzles = puzzles[:10]
        names = [n for n in names if n in ("cot_best_of_100", "tot_bfs_b1", "tot_bfs_b5",
                                           "rebase_16")]
    if args.limit is not None:
        puzzles = puzzles[:args.limit]
    simulated = args.model == "simulated" or args.model.startswith("simulated:")
    emit(machine())
    emit({"kind": "config", "benchmark": "game24", "model": args.model,
          "simulator": simulated, "note": SIMULATOR_NOTE if simulated else
          "a real model: solve rates depend on the provider, model and date",
          "puzzles": len(puzzles), "ranks": args.ranks, "budget_calls_per_puzzle": args.budget,
          "seed": args.seed if simulated else None})
    if simulated:
        print(f"note: {SIMULATOR_NOTE}", file=sys.stderr)
    for name in names:
        model = SimulatedModel(seed=args.seed) if simulated and args.model == "simulated" \
            else resolve_model(args.model)
        emit(await run(model, puzzles, name, args.budget, args.concurrency))


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
