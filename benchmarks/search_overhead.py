"""What search strategies cost besides the model: bookkeeping time per model call.

Every strategy runs with about 256 candidates per step (256 samples; 64 beams x 4; 256
particles; 16 x 16 thoughts per level...) on a four-step chain task, against a zero-latency
``ScriptedModel`` whose replies are computed from the prompt (a step, a score, a verdict). The
time of the same number of bare ``ctx.complete`` calls through the same model and run context,
gathered at once, is measured alongside and subtracted: what is left is the strategy's own
work (building prompts, parsing replies, scoring, sorting, resampling, the step-machine
driver) per model call. Target: under 2.5 ms per call, 5% of a 50 ms model call.

Run: ``uv run --group bench python benchmarks/search_overhead.py [--quick]``
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from typing import Any

from _common import emit, machine, median, parse_args, round_floats, time_async, verdict

from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.search.base import Strategy, strategy_class
from forethought.search.chain import ChainTask

TARGET_MS_PER_CALL = 2.5
DEPTH = 4
CONFIGS: dict[str, dict[str, Any]] = {
    "best_of_n": {"n": 256},
    "self_consistency": {"n": 256},
    "beam": {"width": 64, "expansion": 4},
    "rebase": {"width": 256},
    "particle_filter": {"particles": 256},
    "tot_bfs": {"breadth": 16, "proposals": 16, "evaluation": "scorer"},
    "tot_dfs": {"proposals": 16, "breadth": 16, "evaluation": "scorer", "max_expansions": 16,
                "accept": 1.0},
    "mcts": {"simulations": 86, "width": 3},
}
QUICK: dict[str, dict[str, Any]] = {
    "best_of_n": {"n": 32}, "self_consistency": {"n": 32}, "beam": {"width": 8, "expansion": 4},
    "rebase": {"width": 32}, "particle_filter": {"particles": 32},
    "tot_bfs": {"breadth": 4, "proposals": 8, "evaluation": "scorer"},
    "tot_dfs": {"proposals": 8, "breadth": 8, "evaluation": "scorer", "max_expansions": 4,
                "accept": 1.0},
    "mcts": {"simulations": 10, "width": 3},
}


_COUNTER = itertools.count()


def reply(request: ModelRequest) -> str:
    """A plausible reply for each purpose, computed from the prompt in microseconds (samples
    differ, so searches see distinct candidates)."""
    user = request.messages[-1].content
    depth = user.count("\nStep ")
    noise = (zlib.crc32(user.encode()) + next(_COUNTER)) % 97
    purpose = request.purpose
    if purpose == "propose":
        step = f"Step {depth + 1}: combine fact {noise}."
        return step + (f"\nAnswer: {noise % 5}" if depth + 1 >= DEPTH else "")
    if purpose == "rollout":
        steps = [f"Step {i}: fact {noise}." for i in range(depth + 1, DEPTH + 1)]
        return "\n".join([*steps, f"Answer: {noise % 5}"])
    if purpose in ("step", "score"):
        return f"Score: {noise / 97:.2f}"
    if purpose == "value":
        return ("sure", "likely", "impossible")[noise % 3]
    if purpose == "vote":
        return "The best choice is 1"
    return "Yes"


def task() -> ChainTask:
    return ChainTask(question="Combine the facts into the answer.", max_depth=DEPTH + 1)


async def run_strategy(strategy: Strategy) -> tuple[float, int]:
    ctx = RunContext(model=ScriptedModel(reply))
    started = time.perf_counter()
    await strategy.arun(ctx, task())
    return time.perf_counter() - started, ctx.budget.started_calls


async def bare_calls(calls: int) -> float:
    ctx = RunContext(model=ScriptedModel(reply))
    request = ModelRequest(messages=(Message.user("Steps so far:\nStep 1: x"),), purpose="step")

    async def go() -> None:
        await asyncio.gather(*(ctx.complete(request) for _ in range(calls)))

    return await time_async(go)


async def main(quick: bool) -> None:
    reps = 1 if quick else 5
    configs = QUICK if quick else CONFIGS
    emit(machine())
    emit({"kind": "config", "benchmark": "search_overhead", "depth": DEPTH, "reps": reps,
          "model": "ScriptedModel, zero latency", "target_ms_per_call": TARGET_MS_PER_CALL})
    for name, options in configs.items():
        strategy = strategy_class(name).from_options(options)
        await run_strategy(strategy)  # warm up
        totals: list[float] = []
        calls = 0
        for _ in range(reps):
            elapsed, calls = await run_strategy(strategy)
            totals.append(elapsed)
        base = median([await bare_calls(calls) for _ in range(reps)])
        total = median(totals)
        overhead_ms = max(0.0, total - base) / calls * 1000
        emit(round_floats({"kind": "result", "strategy": name, "options": options,
                           "model_calls": calls, "total_s": total, "bare_calls_s": base,
                           "total_ms_per_call": total / calls * 1000,
                           "bookkeeping_ms_per_call": overhead_ms,
                           "target_ms_per_call": TARGET_MS_PER_CALL,
                           "verdict": verdict(overhead_ms, TARGET_MS_PER_CALL)}, 4))


if __name__ == "__main__":
    asyncio.run(main(parse_args((__doc__ or "").split("\n\n")[0]).quick))
