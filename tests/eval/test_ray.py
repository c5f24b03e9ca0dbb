"""The Ray backend on a local cluster the test starts (127.0.0.1, two CPUs, no dashboard):
100 instances, one worker killed mid-run; every instance comes back exactly once, with the
same results as a local run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from forethought.eval.api import aevaluate
from forethought.eval.local import LocalBackend
from forethought.eval.plan import Overrides
from forethought.eval.ray_backend import RayBackend, check_address
from forethought.eval.results import InstanceResult, Tally
from forethought.eval.resume import Session
from tests.eval.helpers import arithmetic_recipe

# 40 ms a call on average, two calls an instance: a worker is always busy when it is killed.
MODEL = "simulated:seed=3,sleep=true,time_scale=0.05"
N = 100


class KillOneWorker:
    """A sink that SIGKILLs the worker of the third result, once."""

    def __init__(self) -> None:
        self.seen = 0
        self.killed: int | None = None
        self.after_kill: set[str] = set()

    def start(self, session: Session, tally: Tally) -> None:
        pass

    def finished(self, result: InstanceResult) -> None:
        self.seen += 1
        assert result.worker is not None
        pid = int(result.worker.rsplit(":", 1)[1])
        if self.killed is None and self.seen == 3:
            os.kill(pid, signal.SIGKILL)
            self.killed = pid
        elif self.killed is not None:
            self.after_kill.add(result.worker)

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_a_worker_killed_mid_run_has_its_instances_retried_and_counted_once(
        tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=N)
    overrides = Overrides(model=MODEL)
    local = asyncio.run(aevaluate(recipe, overrides=overrides, store=tmp_path / "l.sqlite",
                                  output=tmp_path / "local.jsonl",
                                  backend=LocalBackend(concurrency=8,
                                                       store=tmp_path / "l.sqlite")))
    killer = KillOneWorker()
    backend = RayBackend(concurrency=6)
    ray = backend.connect()
    # The local cluster binds the loopback only, and the address check knows it for Ray.
    gcs = ray.get_runtime_context().gcs_address
    assert gcs.startswith("127.0.0.1:"), gcs
    check_address(gcs)
    report = asyncio.run(aevaluate(recipe, overrides=overrides, store=tmp_path / "r.sqlite",
                                   output=tmp_path / "ray.jsonl", backend=backend,
                                   sinks=[killer]))
    assert not ray.is_initialized()  # the backend stopped the cluster it started
    assert killer.killed is not None
    with pytest.raises(ProcessLookupError):
        os.kill(killer.killed, 0)
    assert report.complete and len(report.results) == N
    assert [r.id for r in report.results] == [f"q{i}" for i in range(N)]  # each exactly once
    assert all(r.status == "ok" for r in report.results)
    assert len({r.worker for r in report.results}) >= 3  # two workers, then a replacement
    same = lambda r: (r.id, r.answer, r.correct, r.usage.model_calls, r.usage.total_tokens)
    assert [same(r) for r in report.results] == [same(r) for r in local.results]
    assert report.summary.total.usage == local.summary.total.usage
    # The runs made on the workers are in the driver's run store, with their events.
    from forethought.runtime.store import RunStore

    with RunStore(tmp_path / "r.sqlite") as runs:
        first = report.results[0]
        assert first.run_id is not None
        record = runs.get_run(first.run_id)
        assert record.answer == first.answer and record.meta["worker"] == first.worker
        events = list(runs.events(first.run_id, content=True))
        assert events[0]["kind"] == "run_started" and events[-1]["kind"] == "run_finished"
        # The calls' content made the trip too: the prompt sent and the completion received.
        started = [e for e in events if e["kind"] == "model_call_started"]
        finished = [e for e in events if e["kind"] == "model_call_finished"]
        assert len(started) == len(finished) == first.usage.model_calls
        assert first.question in json.dumps(started[0]["request"])
        assert finished[-1]["response"]


def test_events_are_made_fit_to_travel_back_from_a_worker() -> None:
    import threading

    from forethought.eval.ray_worker import _portable  # pyright: ignore[reportPrivateUsage]
    from forethought.runtime.events import ToolCallFinished

    lock = threading.Lock()
    event = _portable(ToolCallFinished(tool="t", result=lock))
    assert isinstance(event.result, str) and "lock" in event.result.lower()
    kept = _portable(ToolCallFinished(tool="t", result={"verdict": "True"}))
    assert kept.result == {"verdict": "True"}
