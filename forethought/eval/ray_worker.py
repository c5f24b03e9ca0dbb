"""What runs inside a Ray worker: the recipe's agent, built once per worker process from the
recipe text the driver ships, answering one instance per task.

Each worker keeps one event loop in a background thread, so the agent (and its model's
clients, its started tool sets) lives across tasks. The run's events are collected in memory
and shipped back with the result: the driver writes them to its run store, so a run on any
machine can be traced from the driver.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pickle
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from forethought.eval.plan import EvalSpec
from forethought.eval.solve import solve, strategy_label
from forethought.runtime.rendering import render_output

if TYPE_CHECKING:
    from forethought.agents.agent import Agent
    from forethought.eval.datasets import Instance
    from forethought.eval.metrics import Metric
    from forethought.runtime.events import Event


E = TypeVar("E", bound="Event")


@dataclass(kw_only=True)
class RunRecord:
    """A run as the driver's store records it."""

    run_id: str
    question: str
    meta: dict[str, Any]
    events: list[Event] = field(default_factory=list["Event"])


@dataclass(kw_only=True)
class TaskOutcome:
    """What one Ray task returns."""

    result: dict[str, Any] | None
    """The instance's result line (``None``: never ``None`` on Ray, kept for symmetry)."""
    run: RunRecord | None
    worker: str


@dataclass(kw_only=True)
class _Worker:
    agent: Agent
    metric: Metric
    spec: EvalSpec
    label: str
    runs: dict[str, list[Event]] = field(default_factory=dict[str, list["Event"]])

    def record(self, event: Event) -> None:
        self.runs.setdefault(event.run_id, []).append(_portable(event))


def _portable(event: E) -> E:
    """``event`` fit to travel back to the driver: a tool's result that cannot be pickled (a
    handle, a client) is replaced by its text, as the model saw it.
    """
    result = getattr(event, "result", None)
    if result is not None and not isinstance(result, str | int | float | bool | list | dict):
        try:
            pickle.dumps(result)
        except Exception:  # noqa: BLE001 - anything unpicklable becomes its rendering
            event.result = render_output(result)  # type: ignore[attr-defined]
    return event


_loop: asyncio.AbstractEventLoop | None = None
_workers: dict[str, _Worker] = {}
_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="forethought-ray-loop",
                             daemon=True).start()
            _loop = loop
        return _loop


def _run(coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, _event_loop()).result()


def _worker(spec_json: dict[str, Any]) -> _Worker:
    key = hashlib.sha256(json.dumps(spec_json, sort_keys=True).encode()).hexdigest()
    worker = _workers.get(key)
    if worker is None:
        from forethought.recipes import build_agent

        spec = EvalSpec.from_json(spec_json)
        agent: Agent = build_agent(spec.recipe(), model=spec.model, store=None)
        worker = _Worker(agent=agent, metric=spec.build_metric(), spec=spec,
                         label=strategy_label(agent))
        agent.subscribers.append(worker.record)
        _run(agent.__aenter__())  # tool sets start once per worker and live with it
        _workers[key] = worker
    return worker


def run_instance(spec_json: dict[str, Any], instance: Instance) -> TaskOutcome:
    """The Ray task: run and score ``instance`` with the agent ``spec_json`` describes."""
    where = f"{socket.gethostname()}:{os.getpid()}"
    worker = _worker(spec_json)
    before = set(worker.runs)
    result = _run(solve(worker.agent, instance, worker.metric, simulate=worker.spec.simulate,
                        strategy=worker.label, worker=where))
    new = [run_id for run_id in worker.runs if run_id not in before]
    run: RunRecord | None = None
    if new:
        run_id = new[-1]
        events = worker.runs.pop(run_id)
        agent = worker.agent
        run = RunRecord(run_id=run_id, question=instance.question, events=events,
                        meta={"model": agent.model.name, "planner": agent.planner.name,
                              "tools": agent.tools.names(), "worker": where})
    for run_id in new[:-1]:
        worker.runs.pop(run_id, None)
    return TaskOutcome(result=None if result is None else result.to_dict(), run=run,
                       worker=where)
