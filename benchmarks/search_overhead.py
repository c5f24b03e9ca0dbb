"""What search strategies cost besides the model: bookkeeping time per model call.

Every strategy runs with about 256 candidates per step (256 samples; 64 beams x 4; 256
particles; 16 x 16 thoughts per level...) on a four-step chain task, against a zero-latency
``ScriptedModel`` whose replies are computed from the prompt (a step, a score, a verdict). The
time of the same number of bare ``ctx.complete`` calls through the same model and run context,
gathered at once, is measured alongside and subtracted: what is left is the strategy's own
work (building prompts, parsing replies, scoring, sorting, resampling, the step-machine
driver) per model call. Target: under 2.5 ms per call, 5% of a 50 ms model call.

Then large batches (``scale`` rows): beam search with 16 children per beam and 16 to 1,024
beams (256 to 16,384 calls per step), particle filtering and REBASE with 256 and 4,096 (their
largest settings), each run with Python's garbage collector as it is and switched off. Each
row gives the whole run's CPU time (``process_time``, robust to other load on the machine)
per model call: the strategy, the driver and the zero-latency calls. Targets: the cost per
call at the largest size within 1.5x of 256 per step (no quadratic cost), and within 1.25x
of the same run with the collector off (no collector-bound cost).

Run: ``uv run --group bench python benchmarks/search_overhead.py [--quick]``
"""

from __future__ import annotations

import asyncio
import gc
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


TARGET_SCALE_FLAT = 1.5
TARGET_COLLECTOR = 1.25
SCALE: dict[str, tuple[str, tuple[int, ...]]] = {
    # strategy: (the option that sets candidates per step, its values)
    "beam": ("width", (16, 256, 1024)),  # x 16 children: 256, 4,096 and 16,384 per step
    "particle_filter": ("particles", (256, 4096)),
    "rebase": ("width", (256, 4096)),
}
QUICK_SCALE: dict[str, tuple[str, tuple[int, ...]]] = {
    "beam": ("width", (4, 32)), "particle_filter": ("particles", (64, 512)),
    "rebase": ("width", (64, 512)),
}


async def cpu_run(strategy: Strategy, collector: bool) -> tuple[float, int]:
    """CPU seconds of one run (collector on or off) and its model calls."""
    ctx = RunContext(model=ScriptedModel(reply))
    gc.collect()
    if not collector:
        gc.disable()
    try:
        start = time.process_time()
        await strategy.arun(ctx, task())
        return time.process_time() - start, ctx.budget.started_calls
    finally:
        gc.enable()


async def scale(quick: bool) -> None:
    reps = 1 if quick else 3
    for name, (option, values) in (QUICK_SCALE if quick else SCALE).items():
        per_call: dict[int, float] = {}
        for value in values:
            options: dict[str, Any] = {option: value}
            if name == "beam":
                options["expansion"] = 16
            strategy = strategy_class(name).from_options(options)
            await cpu_run(strategy, True)  # warm up
            runs: dict[bool, list[float]] = {True: [], False: []}
            calls = 0
            for _ in range(reps):
                for collector in (True, False):  # interleaved
                    seconds, calls = await cpu_run(strategy, collector)
                    runs[collector].append(seconds)
            on, off = median(runs[True]) / calls * 1000, median(runs[False]) / calls * 1000
            per_step = value * 16 if name == "beam" else value
            per_call[per_step] = on
            smallest = min(per_call)
            record: dict[str, Any] = {
                "kind": "scale", "strategy": name, "options": options,
                "calls_per_step": per_step, "model_calls": calls,
                "cpu_ms_per_call": on, "cpu_ms_per_call_collector_off": off,
                "collector_ratio": on / off, "target_collector_ratio": TARGET_COLLECTOR,
                "collector_verdict": verdict(on / off, TARGET_COLLECTOR)}
            if per_step != smallest:
                ratio = on / per_call[smallest]
                record.update({"vs_smallest": ratio, "smallest_calls_per_step": smallest,
                               "target_vs_smallest": TARGET_SCALE_FLAT,
                               "flat_verdict": verdict(ratio, TARGET_SCALE_FLAT)})
            emit(round_floats(record, 4))


if __name__ == "__main__":
    quick = parse_args((__doc__ or "").split("\n\n")[0]).quick
    asyncio.run(main(quick))
    asyncio.run(scale(quick))
