"""Dataset runs: instances per second, the driver's overhead per instance, local asyncio against
a local Ray, and the start-up of a resume.

Every eval here is the real ``aevaluate`` pipeline (recipe, dataset, store, metric, JSON lines
to /dev/null, results file and summary) over N arithmetic questions (1,000 by default; each a
distinct expression, scored by the ``numeric`` metric):

* ``agent``: the recipe's agent on SimulatedModel with zero latency (an LLMCompiler plan and a
  join: two model calls and a calculator call per instance), locally at concurrency 1 and 8,
  and on a local Ray (two CPUs; start-up and worker warm-up are timed apart). The ratio is
  Ray's throughput over local asyncio's at the same concurrency.
* ``driver``: the same eval with a stub agent that answers at once, so what is left is the
  driver's own cost per instance: dispatch, scoring, the SQLite commit, the JSON line, the
  results file and the summary. Target < 1 ms per instance. As a cross-check, the agent's own
  time per instance (its runs in a plain loop, no eval, recording to a run store as in the
  eval) is subtracted from the local eval's at concurrency 1; ``agent_alone_no_store`` shows
  what recording the runs and their events costs.
* ``resume``: a 10,000-instance eval with 9,000 finished: the time to open it again (read and
  fingerprint the dataset, read the finished results, build the dataset budget and the tally)
  until the first pending instance could be dispatched. Target < 2 s. ``resume_cli_s`` is the
  whole ``forethought eval --resume ID`` command to its first result line, Python start-up and
  imports included.

Run: ``uv run python benchmarks/eval_throughput.py [--quick] [--no-ray]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit, machine, round_floats, verdict

from forethought.agents.agent import Agent, AgentResult
from forethought.eval.api import aevaluate, open_session
from forethought.eval.local import LocalBackend
from forethought.eval.progress import JsonLines
from forethought.eval.results import InstanceResult, InstanceUsage, Tally
from forethought.eval.runner import Backend, dataset_tracker
from forethought.eval.store import EvalStore
from forethought.models.messages import Usage
from forethought.recipes import build_agent, load_recipe

TARGET_DRIVER_MS = 1.0
TARGET_RESUME_S = 2.0

RECIPE = """\
name: throughput
model: simulated:mean_latency_s=0
tools: [calculator]
planner: {kind: llmcompiler, max_replans: 0}
eval:
  dataset: {path: data.jsonl, reference: answer, id: id}
  metric: numeric
"""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Throughput and resume of dataset runs")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray rows")
    return parser.parse_args()


def write_dataset(folder: Path, n: int) -> Path:
    rng = random.Random(0)
    with (folder / "data.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 99)
            f.write(json.dumps({"id": f"q{i}", "question": f"What is ({a} + {b}) * {c}?",
                                "answer": str((a + b) * c)}) + "\n")
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    return recipe


class StubAgent:
    """Answers every question at once: what remains of an eval's time is the driver's."""

    def __init__(self) -> None:
        self.model = object()
        self.planner = type("Stub", (), {"name": "stub"})()

    async def __aenter__(self) -> StubAgent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def arun(self, question: str, **_: Any) -> AgentResult:
        return AgentResult(answer="42", status="ok", run_id="stub",
                           usage=Usage(prompt_tokens=10, completion_tokens=5, model_calls=1),
                           duration_s=0.0)

    def close(self) -> None:
        pass


async def timed_eval(recipe: Path, store: Path, backend: Any) -> tuple[float, int]:
    with Path(os.devnull).open("w", encoding="utf-8") as null:  # noqa: ASYNC230 - /dev/null
        start = time.perf_counter()
        report = await aevaluate(recipe, store=store, backend=backend, sinks=[JsonLines(null)],
                                 output=store.with_suffix(".jsonl"))
        elapsed = time.perf_counter() - start
    assert report.complete, "every instance should finish"
    return elapsed, len(report.results)


async def agent_alone(recipe: Path, questions: list[str], store: Path | None) -> float:
    """The agent's own time per run, in a plain loop (no eval around it), recording its runs
    in ``store`` (or nowhere).
    """
    agent: Agent = build_agent(load_recipe(recipe), store=store)
    async with agent:
        start = time.perf_counter()
        for q in questions:
            await agent.arun(q)
        return (time.perf_counter() - start) / len(questions)


def local_rows(folder: Path, recipe: Path, n: int) -> dict[str, float]:
    rows: dict[str, float] = {}
    for concurrency in (1, 8):
        store = folder / f"local{concurrency}.sqlite"
        elapsed, done = asyncio.run(timed_eval(recipe, store, LocalBackend(
            concurrency=concurrency, store=store)))
        rows[f"local_c{concurrency}_instances_per_s"] = done / elapsed
        rows[f"local_c{concurrency}_ms_per_instance"] = 1000 * elapsed / done
    store = folder / "stub.sqlite"
    elapsed, done = asyncio.run(timed_eval(recipe, store, LocalBackend(
        concurrency=8, store=store, agent=StubAgent())))  # type: ignore[arg-type]
    rows["driver_ms_per_instance"] = 1000 * elapsed / done
    questions = [json.loads(line)["question"] for line in
                 (folder / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    rows["agent_alone_no_store_ms_per_instance"] = 1000 * asyncio.run(
        agent_alone(recipe, questions, None))
    alone = asyncio.run(agent_alone(recipe, questions, folder / "alone.sqlite"))
    rows["agent_alone_ms_per_instance"] = 1000 * alone
    rows["driver_ms_per_instance_by_difference"] = \
        rows["local_c1_ms_per_instance"] - 1000 * alone
    return rows


class KeepOpen(Backend):
    """Runs on another backend but leaves it open (one Ray start for several evals)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name

    async def run(self, session: Any, instances: Any, on_result: Any,
                  dataset_budget: Any) -> None:
        await self.inner.run(session, instances, on_result, dataset_budget)


def ray_rows(folder: Path, recipe: Path, n: int, concurrency: int) -> dict[str, float]:
    from forethought.eval.ray_backend import RayBackend

    ray_backend = RayBackend(concurrency=concurrency)
    backend = KeepOpen(ray_backend)
    start = time.perf_counter()
    ray_backend.connect()
    rows = {"ray_start_s": time.perf_counter() - start}
    warm = folder / "warm"
    warm.mkdir()
    write_dataset(warm, 20)
    start = time.perf_counter()
    asyncio.run(timed_eval(warm / "recipe.yaml", warm / "s.sqlite", backend))
    rows["ray_warm_up_s"] = time.perf_counter() - start
    store = folder / "ray.sqlite"
    elapsed, done = asyncio.run(timed_eval(recipe, store, backend))
    asyncio.run(ray_backend.close())
    rows["ray_instances_per_s"] = done / elapsed
    rows["ray_ms_per_instance"] = 1000 * elapsed / done
    return rows


def resume_rows(folder: Path, total: int, finished: int) -> dict[str, float]:
    recipe = write_dataset(folder, total)
    store_path = folder / "resume.sqlite"
    with EvalStore(store_path) as store:
        session = open_session(store, recipe=recipe)
        usage = InstanceUsage(model_calls=2, prompt_tokens=300, completion_tokens=40)
        for inst in session.pending[:finished]:
            store.record(session.eval_id, InstanceResult(
                id=inst.id, index=inst.index, question=inst.question, answer=inst.reference,
                reference=inst.reference, correct=True, score=1.0, status="ok",
                strategy="llmcompiler", usage=usage, duration_s=0.01, run_id="r"))
        eval_id = session.eval_id
    start = time.perf_counter()
    with EvalStore(store_path) as store:
        resumed = open_session(store, eval_id=eval_id)
        tracker = dataset_tracker(resumed)
        tally = Tally()
        for r in resumed.previous:
            tally.add(r)
        first = resumed.pending[0]
    elapsed = time.perf_counter() - start
    assert len(resumed.pending) == total - finished and tally.n == finished
    assert tracker.spent.model_calls == 2 * finished and first.index == finished
    env = {**os.environ, "FORETHOUGHT_HOME": str(folder / "home")}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "forethought.cli", "eval", "--resume", eval_id,
                             "--json", "--store", str(store_path), "-o",
                             str(folder / "resumed.jsonl")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, cwd=folder)
    assert proc.stdout is not None
    proc.stdout.readline()
    cli = time.perf_counter() - start
    proc.kill()
    proc.wait()
    proc.stdout.close()
    return {"resume_total": total, "resume_finished": finished, "resume_startup_s": elapsed,
            "resume_cli_s": cli}


def main() -> None:
    args = arguments()
    n = 100 if args.quick else 1000
    total, finished = (1000, 900) if args.quick else (10_000, 9_000)
    emit(machine())
    emit({"kind": "config", "instances": n, "model": "SimulatedModel, zero latency",
          "recipe": "llmcompiler + calculator, numeric metric", "ray_cpus": 2})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = write_dataset(folder, n)
        rows = local_rows(folder, recipe, n)
        driver = rows["driver_ms_per_instance"]
        emit(round_floats({"kind": "local", **rows, "target_driver_ms": TARGET_DRIVER_MS,
                           "verdict": verdict(driver, TARGET_DRIVER_MS)}, 4))
        if not args.no_ray:
            ray = ray_rows(folder, recipe, n, concurrency=8)
            emit(round_floats({"kind": "ray", **ray, "ray_over_local_c8": ray[
                "ray_instances_per_s"] / rows["local_c8_instances_per_s"]}, 4))
        resume_dir = folder / "resume"
        resume_dir.mkdir()
        resume = resume_rows(resume_dir, total, finished)
        emit(round_floats({"kind": "resume", **resume, "target_s": TARGET_RESUME_S,
                           "verdict": verdict(resume["resume_startup_s"], TARGET_RESUME_S)}, 4))


if __name__ == "__main__":
    main()
