"""Executor overhead per node, side by side with bare asyncio over the same coroutines.

Every node does one ``await ctx.complete(request)`` on a zero-latency ``ScriptedModel`` through
a ``RunContext`` (so the budget check and the model-call events are included). Three shapes of
N nodes (10,000 by default):

* ``chain``: each node takes the previous node's output as input. Bare equivalent: await the
  same coroutines one after another in a loop (no tasks at all). ``task_loop`` is a second,
  informative baseline that wraps each coroutine in a task and awaits it (what any scheduler
  that runs nodes as tasks must at least pay).
* ``fanout``: N independent nodes. Bare equivalent: ``asyncio.gather`` of the N coroutines.
* ``fanout_fanin``: N independent nodes, then one node that takes all N outputs. Bare
  equivalent: ``gather`` then one more call.

Each shape runs with no event subscriber, with a subscriber that appends to a list, and with
the SQLite ``RunStore`` recording every event (flushed at the end, inside the timing). The bare
baselines get the same subscriber, but they only emit the two model-call events per node while
the executor adds three node events (added, started, finished); ``*_events_per_node`` says so.

Run: ``uv run --group bench python benchmarks/runtime_overhead.py [--quick]``
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from _common import emit, machine, median, parse_args, round_floats, verdict

from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event
from forethought.runtime.executor import Executor
from forethought.runtime.graph import Ref, Subtask, TaskGraph
from forethought.runtime.store import RunStore

Shape = Literal["chain", "fanout", "fanout_fanin"]
Tracing = Literal["none", "subscriber", "store"]

TARGET_US_PER_NODE = 100.0
TARGET_RATIO = 2.0

_run_numbers = itertools.count(1)

REQUEST = ModelRequest(messages=(Message.user("hi"),), purpose="answer")


async def node_work(ctx: RunContext, inputs: dict[str, Any]) -> str:
    """One node's work, shared verbatim by the executor and the bare baselines."""
    del inputs
    response = await ctx.complete(REQUEST)
    return response.text


def build_graph(shape: Shape, n: int) -> TaskGraph:
    if shape == "chain":
        nodes = [Subtask(id="n0", fn=node_work)]
        nodes += [Subtask(id=f"n{i}", fn=node_work, args={"prev": Ref(f"n{i - 1}")})
                  for i in range(1, n)]
        return TaskGraph(nodes)
    nodes = [Subtask(id=f"n{i}", fn=node_work) for i in range(n)]
    if shape == "fanout_fanin":
        nodes.append(Subtask(id="join", fn=node_work,
                             args={"xs": [Ref(f"n{i}") for i in range(n)]}))
    return TaskGraph(nodes)


async def bare(shape: Shape, ctx: RunContext, n: int) -> None:
    """The natural asyncio equivalent of running ``build_graph(shape, n)``."""
    if shape == "chain":
        prev = ""
        for _ in range(n):
            prev = await node_work(ctx, {"prev": prev})
        return
    outputs = await asyncio.gather(*(node_work(ctx, {}) for _ in range(n)))
    if shape == "fanout_fanin":
        await node_work(ctx, {"xs": outputs})


async def task_loop(ctx: RunContext, n: int) -> None:
    """A chain where every step is its own task (the floor for a task-per-node scheduler)."""
    loop = asyncio.get_running_loop()
    prev = ""
    for _ in range(n):
        prev = await loop.create_task(node_work(ctx, {"prev": prev}))


@dataclass
class Tracer:
    """Attaches the chosen tracing to a fresh context for every repetition."""

    mode: Tracing
    store: RunStore | None = None

    def context(self) -> tuple[RunContext, Callable[[], None], Callable[[], int]]:
        """A fresh context (fresh model, budget and bus), a function that finishes tracing
        (flushing the store, so its writes are inside the timing) and one that counts the
        events recorded (called outside the timing)."""
        run_id = f"bench-{self.mode}-{next(_run_numbers)}"
        ctx = RunContext(model=ScriptedModel(lambda r: "ok"), run_id=run_id)
        if self.mode == "subscriber":
            seen: list[Event] = []
            ctx.events.subscribe(seen.append)
            return ctx, lambda: None, lambda: len(seen)
        if self.mode == "store":
            store = self.store
            assert store is not None
            store.start_run(run_id)
            ctx.events.subscribe(store.record)
            return ctx, store.flush, lambda: sum(1 for _ in store.events(run_id))
        return ctx, lambda: None, lambda: 0


async def timed(fn: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``await fn()``, after a garbage collection (as
    ``_common.time_async``), so earlier repetitions' garbage is not charged to this one."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await fn()
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(shape: Shape, tracer: Tracer, graph: TaskGraph, n: int, reps: int
                  ) -> dict[str, Any]:
    nodes = len(graph)
    counters: dict[str, Callable[[], int]] = {}

    def traced(name: str, body: Callable[[RunContext], Awaitable[object]]
               ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ctx, finish, count = tracer.context()
            await body(ctx)
            finish()
            counters[name] = count
        return run

    async def executor_body(ctx: RunContext) -> None:
        result = await Executor(ctx).run(graph)
        assert result.status == "ok", result.error

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "executor": traced("executor", executor_body),
        "baseline": traced("baseline", lambda ctx: bare(shape, ctx, n)),
    }
    if shape == "chain":
        variants["task_loop"] = traced("task_loop", lambda ctx: task_loop(ctx, n))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for rep in range(reps + 1):  # the first round is a warm-up and is discarded
        for name, fn in variants.items():  # interleaved, so drift hits every variant alike
            seconds, cpu_seconds = await timed(fn)
            if rep:
                samples[name].append(seconds)
                cpu[name].append(cpu_seconds)

    def us(name: str) -> float:
        return median(samples[name]) / nodes * 1e6

    def best_us(name: str) -> float:
        return min(samples[name]) / nodes * 1e6

    def cpu_us(name: str) -> float:
        return median(cpu[name]) / nodes * 1e6

    executor_us, baseline_us = us("executor"), us("baseline")
    ratio = executor_us / baseline_us
    cpu_ratio = cpu_us("executor") / cpu_us("baseline")
    record: dict[str, Any] = {
        "kind": "runtime_overhead", "shape": shape, "tracing": tracer.mode, "nodes": nodes,
        "reps": reps,
        "executor_us_per_node": executor_us, "baseline_us_per_node": baseline_us,
        "ratio": ratio, "overhead_us_per_node": executor_us - baseline_us,
        "executor_best_us_per_node": best_us("executor"),
        "baseline_best_us_per_node": best_us("baseline"),
        "baseline": "await loop" if shape == "chain" else "asyncio.gather",
        "executor_events_per_node": counters["executor"]() / nodes,
        "baseline_events_per_node": counters["baseline"]() / nodes,
        # CPU time of the process: robust to other load on the machine, which wall time is
        # not (the store's writes are CPU-bound; WAL commits do not wait for the disk).
        "executor_cpu_us_per_node": cpu_us("executor"),
        "baseline_cpu_us_per_node": cpu_us("baseline"),
        "cpu_ratio": cpu_ratio,
        "cpu_ratio_verdict": verdict(cpu_ratio, TARGET_RATIO),
    }
    if shape == "chain":
        record["task_loop_us_per_node"] = us("task_loop")
        record["ratio_vs_task_loop"] = executor_us / us("task_loop")
        record["ratio_vs_task_loop_verdict"] = verdict(record["ratio_vs_task_loop"],
                                                       TARGET_RATIO)
    record.update({
        "target_us_per_node": TARGET_US_PER_NODE,
        "us_per_node_verdict": verdict(executor_us, TARGET_US_PER_NODE),
        "target_ratio": TARGET_RATIO,
        "ratio_verdict": verdict(ratio, TARGET_RATIO),
    })
    return round_floats(record, 2)


def graph_build_us_per_node(shape: Shape, n: int) -> float:
    """Building the graph (Subtask objects, dependency sets) is outside the executor timing."""
    gc.collect()
    start = time.perf_counter()
    build_graph(shape, n)
    return (time.perf_counter() - start) / n * 1e6


async def main(quick: bool) -> None:
    n = 1_000 if quick else 10_000
    reps = 2 if quick else 5
    emit(machine())
    emit({"kind": "config", "benchmark": "runtime_overhead", "nodes": n, "reps": reps,
          "warmup": 1, "statistic": "median", "quick": quick,
          "targets": {"executor_us_per_node": f"<= {TARGET_US_PER_NODE}",
                      "executor/baseline": f"<= {TARGET_RATIO}"}})
    shapes: tuple[Shape, ...] = ("chain", "fanout", "fanout_fanin")
    modes: tuple[Tracing, ...] = ("none", "subscriber", "store")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            graph = build_graph(shape, n)
            emit({"kind": "graph_build", "shape": shape, "nodes": len(graph),
                  "us_per_node": round(graph_build_us_per_node(shape, n), 2)})
            for mode in modes:
                # A fresh store file per measurement, so every shape starts from the same
                # (empty) database rather than inheriting the previous shapes' rows.
                store = RunStore(Path(tmp) / f"{shape}.sqlite") if mode == "store" else None
                try:
                    emit(await measure(shape, Tracer(mode, store), graph, n, reps))
                finally:
                    if store is not None:
                        store.close()

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", sys.argv[1:])
    asyncio.run(main(args.quick))
