"""Cost per node of large graphs of empty async nodes: forethought beside bare asyncio, LangGraph
and pydantic-graph, in one run.

Four shapes of N nodes (1,000, 10,000 and 100,000), node ``i`` depending only on nodes
before it:

* ``chain``: each node after the one before.
* ``fanout``: one root, N - 2 leaves after it, one join after all the leaves.
* ``random_dag``: each node after 3 distinct nodes drawn uniformly from all earlier ones
  (fewer for the first three); seeded, the same graph for every framework.
* ``layered``: layers of 100 nodes; each node after 3 nodes of the layer before (the same
  position and its two neighbours, wrapping round).

Every node does nothing but count its call (each run checks that every node ran exactly once).
Each framework runs the graph its own idiomatic way, from the list of parents:

* ``forethought``: ``Subtask(fn=node, after=parents)`` nodes in a ``TaskGraph``, then
  ``await Executor(ctx).run(graph)`` (which validates the graph: duplicates, dangling
  references, cycles), no event subscriber.
* ``asyncio``: the floor. One task per node, created in order, each awaiting its parents'
  tasks (``await`` for one, ``asyncio.gather`` for several), then ``gather`` of all.
* ``langgraph``: a ``StateGraph`` with an empty state; ``add_edge(START, n)`` for roots,
  ``add_edge(parent, n)`` for one parent, ``add_edge([parents], n)`` (a waiting edge) for
  several; ``compile()``, then ``await graph.ainvoke({}, {"recursion_limit": N + 10})``.
  LangGraph runs in supersteps (Pregel): a node runs in the step after its last parent.
* ``pydantic_graph``: ``GraphBuilder`` steps and edges, ``build()``, ``await graph.run()``.
  Its joins wait for every branch of a fork, not for chosen parents, so it runs the chain,
  the fan-out (root, a broadcast to the leaves, a ``reduce_null`` join as the join node) and
  the layered shape as a barrier per layer (a broadcast to the layer's 100 steps and a join
  after them: N steps plus N / 100 joins, every dependency of the layered graph respected and
  more); it has no idiom for the random DAG, which is not measured for it.

Per node, for every framework, three phases: ``build`` is making the framework's description
of the graph from the list of parents (``Subtask`` and ``TaskGraph``; ``StateGraph.add_node``
and ``add_edge``; ``GraphBuilder`` steps and edges); ``setup`` runs from there to the start of
the first node (validation or compilation, and the run's start-up: for forethought
``Executor.run`` checking the graph and linking its nodes; for the others ``compile()`` or
``build()`` and the start of ``ainvoke``/``run``); ``run`` from then to the run's return. Each
is given in CPU time of the process (``process_time``; the verdicts use it, as it is robust to
other load on a shared machine: every framework here is single-threaded and waits on nothing)
and the total in wall time beside it. LangGraph and pydantic-graph are measured up to
``--other-max-nodes`` (10,000 by default), once per size above 1,000 nodes: both grow faster
than linearly (LangGraph's 10,000-node chain takes about 17 s, pydantic-graph's 10,000-leaf
fan-out about 25 s to build), so 100,000 would take hours; pydantic-graph's layered shape
stops at 1,000 (its ``build()`` took 12 s of CPU for 3,000 nodes).

Targets: forethought's ``setup`` and ``run`` cost per node at the largest size within 1.5x of
1,000 nodes, for every shape (``build`` is reported, not targeted: it is the caller's code,
and at 100,000 nodes Python's garbage collector makes it about twice as dear per node);
forethought at least 10x faster than LangGraph at 1,000 nodes (build + setup + run). The store
target (fan-out with the run store recording <= 2x bare asyncio) is measured by
``runtime_overhead.py``, where both sides make model calls that emit events.

Run: ``uv run python benchmarks/graph_scaling.py [--quick] [--other-max-nodes N]
[--frameworks forethought,asyncio,...]`` (about 10 minutes on a 2-core VM)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from typing import Any, Literal, TypedDict

from _common import emit, machine, median, round_floats, verdict

from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.executor import Executor
from forethought.runtime.graph import Subtask, TaskGraph

Shape = Literal["chain", "fanout", "random_dag", "layered"]
SHAPES: tuple[Shape, ...] = ("chain", "fanout", "random_dag", "layered")
LAYER_WIDTH = 100
SEED = 14
TARGET_FLAT = 1.5
TARGET_LANGGRAPH_SPEEDUP = 10.0

Parents = Sequence[tuple[int, ...]]


def parents_of(shape: Shape, n: int) -> list[tuple[int, ...]]:
    """``parents[i]``: the nodes node ``i`` runs after (all before ``i``)."""
    if shape == "chain":
        return [(), *((i - 1,) for i in range(1, n))]
    if shape == "fanout":
        return [(), *([(0,)] * (n - 2)), tuple(range(1, n - 1))]
    if shape == "random_dag":
        rng = random.Random(SEED)
        return [tuple(sorted(rng.sample(range(i), min(3, i)))) for i in range(n)]
    out: list[tuple[int, ...]] = []
    for i in range(n):
        layer, pos = divmod(i, LAYER_WIDTH)
        out.append(() if layer == 0 else tuple(sorted(
            {(layer - 1) * LAYER_WIDTH + (pos + d) % LAYER_WIDTH for d in (-1, 0, 1)})))
    return out


@dataclass
class Probe:
    """Counts node calls and notes when the first one started."""

    calls: int = 0
    first: float | None = None
    """Wall time (``perf_counter``) when the first node started."""
    cpu_first: float | None = None
    """CPU time (``process_time``) then."""

    def hit(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.cpu_first = time.process_time()
        self.calls += 1


Runner = Callable[[str, Parents, Probe], Callable[[], Awaitable[int]]]
"""Builds the framework's graph; returns the function that runs it and returns how many node
calls the run should have made."""


def build_forethought(shape: str, parents: Parents, probe: Probe
                      ) -> Callable[[], Awaitable[int]]:
    del shape

    async def node(ctx: RunContext, inputs: dict[str, Any]) -> None:
        probe.hit()

    ids = [f"n{i}" for i in range(len(parents))]
    graph = TaskGraph([Subtask(id=ids[i], fn=node, after=tuple(ids[p] for p in ps))
                       for i, ps in enumerate(parents)])

    async def run() -> int:
        result = await Executor(RunContext(model=ScriptedModel([]))).run(graph)
        assert result.status == "ok", result.error
        return len(parents)
    return run


def build_asyncio(shape: str, parents: Parents, probe: Probe) -> Callable[[], Awaitable[int]]:
    del shape

    async def node(after: list[asyncio.Task[None]]) -> None:
        if len(after) == 1:
            await after[0]
        elif after:
            await asyncio.gather(*after)
        probe.hit()

    async def run() -> int:
        tasks: list[asyncio.Task[None]] = []
        for ps in parents:
            tasks.append(asyncio.create_task(node([tasks[p] for p in ps])))
        await asyncio.gather(*tasks)
        return len(parents)
    return run


class EmptyState(TypedDict):
    pass


def build_langgraph(shape: str, parents: Parents, probe: Probe
                    ) -> Callable[[], Awaitable[int]]:
    del shape
    from langgraph.graph import START, StateGraph  # pyright: ignore[reportMissingImports]

    async def node(state: EmptyState) -> dict[str, Any]:
        probe.hit()
        return {}

    builder: Any = StateGraph(EmptyState)
    ids = [f"n{i}" for i in range(len(parents))]
    for name in ids:
        builder.add_node(name, node)
    for name, ps in zip(ids, parents, strict=True):
        if not ps:
            builder.add_edge(START, name)
        elif len(ps) == 1:
            builder.add_edge(ids[ps[0]], name)
        else:
            builder.add_edge([ids[p] for p in ps], name)

    async def run() -> int:
        graph = builder.compile()
        await graph.ainvoke({}, {"recursion_limit": len(parents) + 10})
        return len(parents)
    return run


def build_pydantic_graph(shape: str, parents: Parents, probe: Probe
                         ) -> Callable[[], Awaitable[int]]:
    from pydantic_graph import GraphBuilder, StepContext, reduce_null

    async def node(ctx: StepContext[None, None, Any]) -> None:
        probe.hit()

    g: Any = GraphBuilder()
    n = len(parents)
    edges: list[Any] = []
    if shape == "chain":
        steps = [g.step(call=node, node_id=f"n{i}") for i in range(n)]
        edges.append(g.edge_from(g.start_node).to(steps[0]))
        edges += [g.edge_from(a).to(b) for a, b in pairwise(steps)]
        edges.append(g.edge_from(steps[-1]).to(g.end_node))
        calls = n
    elif shape == "fanout":
        root, *leaves = [g.step(call=node, node_id=f"n{i}") for i in range(n - 1)]
        join = g.join(reduce_null, initial=None, node_id="join")
        edges.append(g.edge_from(g.start_node).to(root))
        edges.append(g.edge_from(root).to(*leaves))
        edges += [g.edge_from(leaf).to(join) for leaf in leaves]
        edges.append(g.edge_from(join).to(g.end_node))
        calls = n - 1  # the join is a reducer, not a step: it counts as the n-th node
    elif shape == "layered":
        source = g.start_node
        for first in range(0, n, LAYER_WIDTH):
            layer = [g.step(call=node, node_id=f"n{i}")
                     for i in range(first, min(n, first + LAYER_WIDTH))]
            join = g.join(reduce_null, initial=None, node_id=f"join{first}")
            edges.append(g.edge_from(source).to(*layer) if len(layer) > 1
                         else g.edge_from(source).to(layer[0]))
            edges += [g.edge_from(step).to(join) for step in layer]
            source = join
        edges.append(g.edge_from(source).to(g.end_node))
        calls = n
    else:
        raise ValueError(f"pydantic-graph has no idiom for shape {shape!r}")
    g.add(*edges)

    async def run() -> int:
        graph = g.build()
        await graph.run()
        return calls
    return run


RUNNERS: dict[str, Runner] = {
    "forethought": build_forethought,
    "asyncio": build_asyncio,
    "langgraph": build_langgraph,
    "pydantic_graph": build_pydantic_graph,
}
OTHERS = ("langgraph", "pydantic_graph")
UNSUPPORTED = {("pydantic_graph", "random_dag")}
SHAPE_CAPS: dict[tuple[str, str], tuple[int, str]] = {
    ("pydantic_graph", "layered"): (
        1_000, "its build() took 12 s of CPU for 3,000 nodes (30 layers) and grows faster than "
               "the square of the size"),
}


def cap_for(framework: str, shape: str, other_max: int) -> tuple[int, str] | None:
    """The largest size measured for ``framework`` on ``shape``, and why (``None``: no cap)."""
    if framework not in OTHERS:
        return None
    return SHAPE_CAPS.get((framework, shape), (
        other_max, "--other-max-nodes (LangGraph's 10,000-node chain takes about 17 s, "
                   "pydantic-graph's 10,000-leaf fan-out about 25 s)"))


def installed(framework: str) -> str | None:
    package = {"langgraph": "langgraph", "pydantic_graph": "pydantic-graph"}.get(framework)
    if package is None:
        return "builtin"
    try:
        return version(package)
    except PackageNotFoundError:
        return None


@dataclass
class Sample:
    """One run, in seconds of wall time and of CPU time (this process, all threads)."""

    wall: tuple[float, float, float]
    """Build, set-up, run."""
    cpu: tuple[float, float, float]


async def once(framework: str, shape: str, parents: Parents) -> Sample:
    probe = Probe()
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run = RUNNERS[framework](shape, parents, probe)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    expected = await run()
    wall3, cpu3 = time.perf_counter(), time.process_time()
    assert probe.calls == expected, (framework, shape, probe.calls, expected)
    assert probe.first is not None and probe.cpu_first is not None
    return Sample(wall=(wall1 - wall0, probe.first - wall1, wall3 - probe.first),
                  cpu=(cpu1 - cpu0, probe.cpu_first - cpu1, cpu3 - probe.cpu_first))


async def warm_up(frameworks: Sequence[str]) -> None:
    """Imports and first-call costs are paid here, not in the first measured run."""
    for framework in frameworks:
        for shape in SHAPES:
            if (framework, shape) not in UNSUPPORTED:
                await once(framework, shape, parents_of(shape, 200))


def reps_for(framework: str, n: int, quick: bool) -> int:
    if quick:
        return 1
    if n <= 1_000:
        return 5
    return 1 if framework in OTHERS else 3  # the others take seconds to minutes per run


PHASES = ("build", "setup", "run")


async def main(quick: bool, other_max: int, only: Sequence[str]) -> None:
    sizes = (300, 3_000) if quick else (1_000, 10_000, 100_000)
    if quick:
        other_max = min(other_max, sizes[0])
    frameworks = [f for f in RUNNERS if installed(f) is not None and (not only or f in only)]
    emit(machine())
    emit({"kind": "config", "benchmark": "graph_scaling", "sizes": sizes, "quick": quick,
          "shapes": SHAPES, "layer_width": LAYER_WIDTH, "seed": SEED,
          "versions": {f: installed(f) for f in RUNNERS},
          "other_max_nodes": other_max, "statistic": "median per phase",
          "verdicts_on": "cpu (process_time); wall time is reported beside it",
          "targets": {"forethought setup and run per node, largest / smallest size":
                      f"<= {TARGET_FLAT}",
                      "langgraph / forethought, build + setup + run, smallest size":
                      f">= {TARGET_LANGGRAPH_SPEEDUP}"}})
    await warm_up(frameworks)
    per_node: dict[tuple[str, str, int], dict[str, float]] = {}
    for shape in SHAPES:
        for n in sizes:
            parents = parents_of(shape, n)
            caps = {f: cap_for(f, shape, other_max) for f in frameworks}
            active = [f for f in frameworks if (f, shape) not in UNSUPPORTED
                      and n <= (caps[f] or (n, ""))[0]]
            samples: dict[str, list[Sample]] = {f: [] for f in active}
            for rep in range(max(reps_for(f, n, quick) for f in active)):
                for framework in active:  # interleaved, so drift hits every framework alike
                    if rep < reps_for(framework, n, quick):
                        samples[framework].append(await once(framework, shape, parents))
            for framework in frameworks:
                record: dict[str, Any] = {"kind": "graph_scaling", "shape": shape, "nodes": n,
                                          "framework": framework}
                if framework not in active:
                    cap = caps[framework]
                    record["skipped"] = ("no idiom for this shape"
                                         if (framework, shape) in UNSUPPORTED or cap is None
                                         else f"capped at {cap[0]} nodes: {cap[1]}")
                    emit(record)
                    continue
                figures: dict[str, float] = {}
                for clock in ("cpu", "wall"):
                    for i, phase in enumerate(PHASES):
                        figures[f"{phase}_{clock}_us"] = median(
                            [getattr(x, clock)[i] for x in samples[framework]]) / n * 1e6
                    figures[f"total_{clock}_us"] = sum(figures[f"{p}_{clock}_us"]
                                                       for p in PHASES)
                per_node[(framework, shape, n)] = figures
                record.update({"reps": len(samples[framework]), "per_node": "us", **figures})
                emit(round_floats(record, 2))
                print(f"{shape:>10} {n:>7} {framework:>15} cpu us/node: build "
                      f"{figures['build_cpu_us']:8.2f} setup {figures['setup_cpu_us']:8.2f} "
                      f"run {figures['run_cpu_us']:8.2f}  (wall total "
                      f"{figures['total_wall_us']:8.2f})", file=sys.stderr)
    summarise(per_node, sizes)


def summarise(per_node: dict[tuple[str, str, int], dict[str, float]],
              sizes: Sequence[int]) -> None:
    small, large = sizes[0], sizes[-1]
    for shape in SHAPES:
        at_small = per_node[("forethought", shape, small)]
        at_large = per_node[("forethought", shape, large)]
        record: dict[str, Any] = {"kind": "summary", "shape": shape, "small": small,
                                  "large": large, "target_ratio": TARGET_FLAT}
        for phase in (*PHASES, "total"):
            ratio = at_large[f"{phase}_cpu_us"] / at_small[f"{phase}_cpu_us"]
            record[f"{phase}_ratio"] = ratio
            if phase in ("setup", "run"):
                record[f"{phase}_verdict"] = verdict(ratio, TARGET_FLAT)
        for other in ("asyncio", "langgraph", "pydantic_graph"):
            figures = per_node.get((other, shape, small))
            if figures is not None:
                record[f"{other}_over_forethought_at_small"] = (
                    figures["total_cpu_us"] / at_small["total_cpu_us"])
        speedup = record.get("langgraph_over_forethought_at_small")
        if speedup is not None:
            record["langgraph_verdict"] = ("pass" if speedup >= TARGET_LANGGRAPH_SPEEDUP
                                           else "fail")
        emit(round_floats(record, 2))


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast smoke run (figures are not meaningful)")
    parser.add_argument("--other-max-nodes", type=int, default=10_000,
                        help="largest graph run with LangGraph and pydantic-graph")
    parser.add_argument("--frameworks", default="",
                        help=f"comma-separated subset of {', '.join(RUNNERS)} (default: all)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse(sys.argv[1:])
    only = [f for f in args.frameworks.split(",") if f]
    unknown = sorted(set(only) - set(RUNNERS))
    if unknown:
        sys.exit(f"unknown framework(s) {unknown}; valid: {', '.join(RUNNERS)}")
    asyncio.run(main(args.quick, args.other_max_nodes, only))
