"""Parallel speed-up of a fan-out/fan-in graph, side by side with sequential runs and LangGraph.

For each width W: W independent ``llm`` nodes, each one model call taking a fixed 50 ms
(``ScriptedModel(..., delay_s=0.05)``), then one fan-in node whose prompt embeds all W outputs
and which makes one more 50 ms call. The critical path is two calls, 100 ms.

Columns, all in the same process and interleaved per repetition:

* ``forethought``: ``Executor(ctx, max_concurrency=64)`` (W + 1 <= 65, so the fan-out never
  waits on the limit for W <= 64).
* ``sequential``: the same graph with ``max_concurrency=1`` (makespan about (W + 1) x 50 ms).
* ``langgraph``: a ``StateGraph`` with W nodes fanning out from ``START`` and a join node
  waiting for all of them, the results merged by an ``operator.add`` reducer, every node
  calling the same kind of ``ScriptedModel``, run with ``await graph.ainvoke(...)``.

Run: ``uv run --group bench python benchmarks/parallel_speedup.py [--quick]``
"""

from __future__ import annotations

import asyncio
import operator
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, TypedDict

from _common import emit, machine, median, parse_args, round_floats, time_async, verdict

from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.executor import Executor
from forethought.runtime.graph import Ref, Subtask, TaskGraph, Template

DELAY_S = 0.05
CRITICAL_PATH_S = 2 * DELAY_S
TARGET_MAKESPAN_RATIO = 1.10
WIDTHS = (1, 2, 4, 8, 16, 32, 64)
QUICK_WIDTHS = (1, 4, 16)


def model() -> ScriptedModel:
    return ScriptedModel(lambda r: "ok", delay_s=DELAY_S)


def build_graph(width: int) -> TaskGraph:
    leaves = [Subtask(id=f"a{i}", kind="llm", args={"prompt": f"part {i}"})
              for i in range(width)]
    parts: list[str | Ref] = ["combine:"]
    for leaf in leaves:
        parts += [" ", Ref(leaf.id)]
    join = Subtask(id="join", kind="llm", args={"prompt": Template(tuple(parts))})
    return TaskGraph([*leaves, join])


def forethought_runner(width: int, max_concurrency: int) -> Callable[[], Awaitable[None]]:
    graph = build_graph(width)

    async def run() -> None:
        ctx = RunContext(model=model())
        result = await Executor(ctx, max_concurrency=max_concurrency).run(graph)
        assert result.status == "ok", result.error
        assert ctx.budget.spent.model_calls == width + 1
    return run


class JoinState(TypedDict):
    results: Annotated[list[str], operator.add]


def langgraph_runner(width: int) -> Callable[[], Awaitable[None]] | None:
    """The same graph in LangGraph, or ``None`` when langgraph is not installed."""
    try:
        from langgraph.graph import (  # pyright: ignore[reportMissingImports]
            START,
            StateGraph,
        )
    except ImportError:
        return None

    llm = model()

    def leaf(i: int):  # inferred type: langgraph's node protocol wants the name `state`
        async def node(state: JoinState) -> dict[str, Any]:
            response = await llm.request(
                ModelRequest(messages=(Message.user(f"part {i}"),), purpose="answer"))
            return {"results": [response.text]}
        return node

    async def join(state: JoinState) -> dict[str, Any]:
        prompt = "combine: " + " ".join(state["results"])
        response = await llm.request(
            ModelRequest(messages=(Message.user(prompt),), purpose="answer"))
        return {"results": [response.text]}

    builder = StateGraph(JoinState)
    names = [f"a{i}" for i in range(width)]
    for i, name in enumerate(names):
        builder.add_node(name, leaf(i))
        builder.add_edge(START, name)
    builder.add_node("join", join)
    builder.add_edge(names, "join")
    graph = builder.compile()

    async def run() -> None:
        llm.requests.clear()
        state = await graph.ainvoke({"results": []})
        assert len(state["results"]) == width + 1, state
        assert len(llm.requests) == width + 1
    return run


async def measure(width: int, reps: int, seq_reps: int, has_langgraph: bool) -> dict[str, Any]:
    runners: dict[str, Callable[[], Awaitable[None]]] = {
        "forethought": forethought_runner(width, max_concurrency=64),
        "sequential": forethought_runner(width, max_concurrency=1),
    }
    lg = langgraph_runner(width) if has_langgraph else None
    if lg is not None:
        runners["langgraph"] = lg
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for rep in range(reps + 1):  # round 0 is a warm-up
        for name, run in runners.items():
            if name == "sequential" and rep > seq_reps:
                continue  # the slow column needs fewer repetitions to be stable
            seconds = await time_async(run)
            if rep:
                samples[name].append(seconds)
    makespan = median(samples["forethought"])
    sequential = median(samples["sequential"])
    ratio = makespan / CRITICAL_PATH_S
    record: dict[str, Any] = {
        "kind": "parallel_speedup", "width": width, "nodes": width + 1, "reps": reps,
        "forethought_makespan_ms": makespan * 1e3,
        "critical_path_ms": CRITICAL_PATH_S * 1e3,
        "makespan_over_critical_path": ratio,
        "target_makespan_over_critical_path": TARGET_MAKESPAN_RATIO,
        "makespan_verdict": verdict(ratio, TARGET_MAKESPAN_RATIO),
        "sequential_makespan_ms": sequential * 1e3,
        "speedup_vs_sequential": sequential / makespan,
        "ideal_speedup": (width + 1) / 2,
    }
    if "langgraph" in samples:
        lg_makespan = median(samples["langgraph"])
        record["langgraph_makespan_ms"] = lg_makespan * 1e3
        record["forethought_over_langgraph"] = makespan / lg_makespan
    else:
        record["langgraph_makespan_ms"] = None
        record["forethought_over_langgraph"] = None
    return round_floats(record, 3)


async def main(quick: bool) -> None:
    widths = QUICK_WIDTHS if quick else WIDTHS
    reps, seq_reps = (2, 1) if quick else (5, 3)
    emit(machine())
    try:
        lg_version: str | None = version("langgraph")
    except PackageNotFoundError:
        lg_version = None
        emit({"kind": "skipped", "column": "langgraph",
              "reason": "langgraph is not installed; run `uv sync --group bench`"})
    emit({"kind": "config", "benchmark": "parallel_speedup", "widths": list(widths),
          "model_delay_ms": DELAY_S * 1e3, "reps": reps, "sequential_reps": seq_reps,
          "warmup": 1, "statistic": "median", "forethought_max_concurrency": 64,
          "langgraph": lg_version, "quick": quick,
          "targets": {"makespan / critical path": f"<= {TARGET_MAKESPAN_RATIO}"}})
    for width in widths:
        emit(await measure(width, reps, seq_reps, lg_version is not None))


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", sys.argv[1:])
    asyncio.run(main(args.quick))
