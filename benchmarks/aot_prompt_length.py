"""Prompt length per model call as multi-hop questions get deeper: Atom of Thoughts vs ReAct.

Atom of Thoughts carries no history: each step's prompt holds only the current (contracted)
question, so the prompt per call stays about flat as the depth grows. ReAct carries the whole
transcript, so its prompt grows by one Thought/Action/Observation per step, linearly.

Both planners run on SimulatedModel (offline, seeded) over two families of simulated
multi-hop questions of depth 1..8 (``forethought.models.simulated.multihop``):

* ``hops``: relation chains over a synthetic world ("Who is the landlord of the rival of the
  mentor of Mira Kovac?"); ReAct gets the world's ``lookup`` tool.
* ``arithmetic``: nested expressions whose dependency chain is ``depth`` operations long;
  ReAct gets the ``calculator`` tool.

Prompt tokens come from each call's usage (``ModelCallFinished`` events; the simulator counts
four characters per token). Output, one JSON object per line:

* ``kind=point``: per family, planner and depth, averaged over seeds: model calls, prompt
  tokens per call (mean and max), the last call's prompt, prompt tokens per question,
  accuracy.
* ``kind=steps``: per family and planner, at the deepest depth: the largest prompt of each
  reasoning step (AoT: a decompose-solve-contract round; ReAct: a turn), averaged over seeds.
* ``kind=fit``: per family and planner, the least-squares slope (and R^2) of prompt tokens
  per call against depth, the ratio depth 8 / depth 1, and the slope (and R^2) of the step
  profile against the step number.
* ``kind=profile``: prompt tokens of every call of one depth-8 run, in order.
* ``kind=verdict``: AoT flat (its per-step slope at most a tenth of ReAct's, its per-call
  slope against depth at most a third of ReAct's) while ReAct grows linearly (per-step
  R^2 >= 0.95).

Run: ``uv run python benchmarks/aot_prompt_length.py [--quick]``
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from _common import emit, machine, parse_args, round_floats

from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.answers import same_answer
from forethought.models.simulated.multihop import HopWorld, MultiHopQuestion, arithmetic_question
from forethought.planners.aot import AtomOfThoughtsPlanner
from forethought.planners.base import Planner
from forethought.planners.react import ReActPlanner
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ModelCallFinished
from forethought.tools.base import Tool, ToolRegistry, tool

DEPTHS = tuple(range(1, 9))
SEEDS = 20
QUICK_DEPTHS = (1, 4, 8)
QUICK_SEEDS = 3
MAX_STEP_SHARE = 0.1
MAX_SLOPE_SHARE = 1 / 3
MIN_R2 = 0.95


@dataclass(kw_only=True)
class RunStats:
    prompts: list[int]
    """Prompt tokens of each model call, in order."""
    steps: dict[int, int]
    """The largest prompt of each reasoning step (AoT: a decompose-solve-contract round;
    ReAct: a turn), by step number."""
    correct: bool


def step_of(node_id: str | None) -> int | None:
    """The step a call belongs to: AoT node ids are ``k.decompose``, ``k.3``, ``k.contract``,
    ``k.answer``; ReAct's are ``step-k``."""
    if node_id is None:
        return None
    head = node_id.removeprefix("step-").split(".", 1)[0]
    return int(head) if head.isdigit() else None


async def run_once(planner: Planner, question: MultiHopQuestion, tools: Sequence[Tool | str],
                   seed: int) -> RunStats:
    model = SimulatedModel(question.tasks, seed=seed)
    ctx = RunContext(model=model, tools=ToolRegistry(tools))
    prompts: list[int] = []
    steps: dict[int, int] = {}

    def record(event: Event) -> None:
        if isinstance(event, ModelCallFinished) and event.error is None:
            prompts.append(event.usage.prompt_tokens)
            step = step_of(event.node_id)
            if step is not None:
                steps[step] = max(steps.get(step, 0), event.usage.prompt_tokens)

    ctx.events.subscribe(record)
    outcome = await planner.solve(ctx, question.question)
    correct = outcome.answer is not None and same_answer(outcome.answer, question.answer)
    return RunStats(prompts=prompts, steps=steps, correct=correct)


def family_questions(family: str, depth: int, seed: int
                     ) -> tuple[MultiHopQuestion, list[Tool | str]]:
    if family == "hops":
        world = HopWorld(seed=seed)
        return world.question(depth, seed=seed), [tool(world.lookup)]
    return arithmetic_question(depth, seed=seed), ["calculator"]


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and R^2 of ``ys`` against ``xs``."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    residual = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    total = sum((y - my) ** 2 for y in ys)
    return slope, 1.0 - residual / total if total else 1.0


def point(family: str, name: str, depth: int, runs: list[RunStats]) -> dict[str, Any]:
    record = round_floats({
        "kind": "point", "family": family, "planner": name, "depth": depth,
        "questions": len(runs),
        "calls_per_question": statistics.fmean(len(r.prompts) for r in runs),
        "prompt_tokens_per_call": statistics.fmean(statistics.fmean(r.prompts) for r in runs),
        "max_prompt_tokens_per_call": statistics.fmean(max(r.prompts) for r in runs),
        "last_call_prompt_tokens": statistics.fmean(r.prompts[-1] for r in runs),
        "prompt_tokens_per_question": statistics.fmean(sum(r.prompts) for r in runs)}, 1)
    record["accuracy"] = round(sum(r.correct for r in runs) / len(runs), 3)
    return record


def step_profile(runs: list[RunStats]) -> list[float]:
    """The mean largest prompt at step 1, 2, ... over the runs that reached each step."""
    last = max(max(r.steps) for r in runs)
    return [statistics.fmean(r.steps[k] for r in runs if k in r.steps)
            for k in range(1, last + 1)]


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__ or "", argv)
    depths = QUICK_DEPTHS if args.quick else DEPTHS
    seeds = range(QUICK_SEEDS if args.quick else SEEDS)
    emit(machine())
    planners: dict[str, Planner] = {"aot": AtomOfThoughtsPlanner(), "react": ReActPlanner()}
    ok = True
    for family in ("hops", "arithmetic"):
        runs: dict[str, dict[int, list[RunStats]]] = {name: {} for name in planners}
        for depth in depths:
            for name, planner in planners.items():
                batch: list[RunStats] = []
                for seed in seeds:
                    question, tools = family_questions(family, depth, seed)
                    batch.append(await run_once(planner, question, tools, seed))
                runs[name][depth] = batch
                emit(point(family, name, depth, batch))
        fits: dict[str, dict[str, float]] = {}
        for name in planners:
            per_call = [statistics.fmean(statistics.fmean(r.prompts) for r in runs[name][d])
                        for d in depths]
            slope, r2 = fit([float(d) for d in depths], per_call)
            profile = step_profile(runs[name][depths[-1]])
            step_slope, step_r2 = fit([float(k) for k in range(1, len(profile) + 1)], profile)
            fits[name] = {"slope": slope, "step_slope": step_slope, "step_r2": step_r2}
            emit({"kind": "steps", "family": family, "planner": name, "depth": depths[-1],
                  "largest_prompt_tokens_by_step": [round(v, 1) for v in profile]})
            emit(round_floats({
                "kind": "fit", "family": family, "planner": name,
                "per_call_tokens_per_depth": slope, "per_call_r2": r2,
                f"ratio_depth{depths[-1]}_to_depth{depths[0]}": per_call[-1] / per_call[0],
                "tokens_per_step": step_slope, "per_step_r2": step_r2}))
            emit({"kind": "profile", "family": family, "planner": name, "depth": depths[-1],
                  "seed": 0, "prompt_tokens_by_call": runs[name][depths[-1]][0].prompts})
        aot, react = fits["aot"], fits["react"]
        verdict: dict[str, Any] = {
            "kind": "verdict", "family": family,
            "aot_flat": aot["step_slope"] <= MAX_STEP_SHARE * react["step_slope"]
            and aot["slope"] <= MAX_SLOPE_SHARE * react["slope"],
            "react_linear": react["step_r2"] >= MIN_R2 and react["step_slope"] > 0,
            "criteria": f"per step, aot slope <= {MAX_STEP_SHARE} x react's; across depths, "
                        f"aot slope per call <= {MAX_SLOPE_SHARE:.2f} x react's; react per-step "
                        f"R^2 >= {MIN_R2}"}
        verdict["result"] = "pass" if verdict["aot_flat"] and verdict["react_linear"] else "fail"
        ok = ok and verdict["result"] == "pass"
        emit(verdict)
    print("done" if ok else "a verdict failed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
