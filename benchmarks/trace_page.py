"""The HTML trace page of a 10,000-node run: its size, and how long headless Chromium takes to
show it (the trace-page half of ``repl_latency``; the REPL half comes with the REPL).

Each shape is a real run recorded by the executor into a ``RunStore`` that keeps content: N
nodes, half of them model calls (a ``ScriptedModel`` with a shared 600-character system
prompt, a per-node question and a one-line reply) and half calculator tool calls, so the page
embeds N calls with their messages. Shapes:

* ``layered``: 100 nodes per layer, each node taking two nodes of the layer before as inputs;
* ``fanout``: N independent nodes and one node that takes them all (N edges into one node);
* ``chain``: each node takes the previous one (N layers: the widest drawing).

For each shape: the time to rebuild the trace from the store and write the page (Python), the
page's bytes, and in headless Chromium (a fresh profile, the DevTools protocol on a pipe) the
time from navigation to the page built (``built``: JSON parsed, every view in the DOM) and to
its first paint after that (``painted``), both from the page's own ``performance.now()``, whose
origin is the navigation's start. ``load_wall_s`` is the wall time from ``Page.navigate`` to
the load event. Targets: page < 10 MB, painted < 3 s.

Run: ``uv run python benchmarks/trace_page.py [--quick]`` (needs ``chromium``).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from _common import emit, machine, median, parse_args, round_floats, verdict

from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import EventBus, RunFinished, RunStarted
from forethought.runtime.executor import Executor
from forethought.runtime.graph import Ref, Subtask, TaskGraph
from forethought.runtime.store import RunStore
from forethought.tools.base import ToolRegistry
from forethought.trace.html import write_page
from forethought.trace.model import build_trace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "trace"))
chromium: Any = importlib.import_module("chromium")  # the tests' DevTools-over-pipe driver

Shape = Literal["layered", "fanout", "chain"]
TARGET_BYTES = 10 * 1024 * 1024
TARGET_PAINT_S = 3.0
WIDTH = 100
SYSTEM = ("You answer one sub-question of a larger plan. Use the inputs you are given, show no "
          "working, and reply with the value only. " * 5).strip()


def reply(request: ModelRequest) -> str:
    return f"value for {request.messages[-1].content[:40]}"


def build_graph(shape: Shape, n: int) -> TaskGraph:
    nodes: list[Subtask] = []
    for i in range(n):
        if shape == "chain":
            inputs = [f"n{i - 1}"] if i else []
        elif shape == "fanout":
            inputs = [f"n{j}" for j in range(n - 1)] if i == n - 1 else []
        else:
            layer, pos = divmod(i, WIDTH)
            above = (layer - 1) * WIDTH
            inputs = [f"n{above + pos}", f"n{above + (pos + 1) % WIDTH}"] if layer else []
        if i % 2 == 0:
            refs = " and ".join(f"${d}" for d in inputs[:3])
            nodes.append(Subtask(id=f"n{i}", kind="llm", description=f"sub-question {i}",
                                 args={"system": SYSTEM,
                                       "prompt": f"Sub-question {i}: combine {refs or 'nothing'}.",
                                       "inputs": [Ref(d) for d in inputs]}))
        else:
            nodes.append(Subtask(id=f"n{i}", kind="tool", tool="calculator",
                                 description=f"calculator step {i}",
                                 args={"expression": f"{i} * 3 + 1"},
                                 after=tuple(inputs)))
    return TaskGraph(nodes)


async def record_run(store: RunStore, run_id: str, graph: TaskGraph) -> None:
    bus = EventBus(run_id)
    store.start_run(run_id, question=f"a {len(graph)}-node benchmark run")
    bus.subscribe(store.record)
    ctx = RunContext(model=ScriptedModel(reply), tools=ToolRegistry(["calculator"]), events=bus,
                     run_id=run_id)
    bus.emit(RunStarted(question="benchmark", model="scripted", planner="none"))
    result = await Executor(ctx).run(graph)
    assert result.status == "ok", result.error
    bus.emit(RunFinished(status="ok", answer="done", usage=ctx.budget.spent))
    store.finish_run(run_id, status="ok", answer="done")


def measure_page(path: Path, reps: int) -> dict[str, Any]:
    built: list[float] = []
    painted: list[float] = []
    walls: list[float] = []
    nodes_in_dom = calls_in_dom = 0
    phases: dict[str, float] = {}
    for _ in range(reps):
        with chromium.Chromium() as browser:
            page = browser.open(path.as_uri())
            painted.append(float(page.wait_for("document.documentElement.dataset.painted"))
                           / 1000)
            built.append(float(page.evaluate("document.documentElement.dataset.built")) / 1000)
            walls.append(page.loaded - page.started)
            nodes_in_dom = page.evaluate("document.querySelectorAll('#nodes tr[data-node-id]')"
                                         ".length")
            calls_in_dom = page.evaluate("document.querySelectorAll('#calls tr[data-call]')"
                                         ".length")
            phases = page.evaluate("Object.fromEntries(performance.getEntriesByType('measure')"
                                   ".map(m => [m.name.slice(6), +(m.duration / 1000).toFixed(3)]))")
            errors = page.console_errors()
            assert not errors, errors
            outside = [u for u in page.requests() if u != path.as_uri()]
            assert not outside, outside
    return {"built_s": median(built), "painted_s": median(painted),
            "painted_best_s": min(painted), "load_wall_s": median(walls),
            "nodes_in_dom": nodes_in_dom, "calls_in_dom": calls_in_dom,
            "phases_s": phases}


def main(quick: bool) -> None:
    n = 1_000 if quick else 10_000
    reps = 1 if quick else 3
    emit(machine())
    emit({"kind": "config", "benchmark": "trace_page", "nodes": n, "reps": reps,
          "statistic": "median", "quick": quick, "chromium": chromium.CHROMIUM,
          "targets": {"page_bytes": f"< {TARGET_BYTES}", "painted_s": f"< {TARGET_PAINT_S}"}})
    if not chromium.HAVE_CHROMIUM:
        raise SystemExit(f"trace_page needs Chromium ({chromium.CHROMIUM} not found)")
    shapes: tuple[Shape, ...] = ("layered", "fanout", "chain")
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs.sqlite")
        for shape in shapes:
            run_id = f"bench-{shape}"
            asyncio.run(record_run(store, run_id, build_graph(shape, n)))
            start = time.perf_counter()
            trace = build_trace(run_id, store.events(run_id, content=True),
                                store.get_run(run_id))
            path = write_page(trace, Path(tmp) / f"{shape}.html")
            build_s = time.perf_counter() - start
            size = path.stat().st_size
            record: dict[str, Any] = {
                "kind": "trace_page", "shape": shape, "nodes": len(trace.nodes),
                "calls": len(trace.calls), "events": trace.events,
                "python_build_s": build_s, "page_bytes": size,
                "page_mb": size / 1024 / 1024, **measure_page(path, reps)}
            record.update({
                "bytes_verdict": verdict(size, TARGET_BYTES),
                "painted_verdict": verdict(record["painted_s"], TARGET_PAINT_S)})
            emit(round_floats(record, 3))
        store.close()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", sys.argv[1:])
    main(args.quick)
