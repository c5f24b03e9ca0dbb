"""Budget accounting and the SQLite run store."""

from __future__ import annotations

from pathlib import Path

import pytest

from forethought.exceptions import BudgetExceeded, UserError
from forethought.models.messages import Message, ModelRequest, Usage
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import EventBus, NodeStarted, RunStarted
from forethought.runtime.store import RunStore

REQUEST = ModelRequest(messages=(Message.user("hello there"),))


def test_budget_rejects_negative_limits() -> None:
    with pytest.raises(UserError, match=r"Budget\.max_tokens must be >= 0, got -1"):
        Budget(max_tokens=-1)


@pytest.mark.parametrize(("budget", "reason"), [
    (Budget(max_model_calls=2), "model calls 2 >= limit 2"),
    (Budget(max_tokens=5), "tokens"),
    (Budget(max_cost_usd=0.0), "cost"),
    (Budget(max_seconds=0.0), "elapsed"),
])
async def test_each_limit_stops_further_calls(budget: Budget, reason: str) -> None:
    ctx = RunContext(model=ScriptedModel(lambda r: "a reply of some length"),
                     budget=BudgetTracker(budget=budget))
    async def spend() -> None:
        for _ in range(5):
            await ctx.complete(REQUEST)

    with pytest.raises(BudgetExceeded, match=reason):
        await spend()
    assert ctx.budget.started_calls <= 2


async def test_failed_calls_release_their_slot_and_are_counted() -> None:
    ctx = RunContext(model=ScriptedModel([RuntimeError("provider down"), "ok"]),
                     budget=BudgetTracker(budget=Budget(max_model_calls=2)))
    with pytest.raises(RuntimeError):
        await ctx.complete(REQUEST)
    assert ctx.budget.in_flight == 0
    assert (await ctx.complete(REQUEST)).text == "ok"
    with pytest.raises(BudgetExceeded):
        await ctx.complete(REQUEST)


def test_usage_arithmetic() -> None:
    a = Usage(prompt_tokens=1, completion_tokens=2, cost_usd=0.5, latency_s=1, model_calls=1)
    b = a + a
    assert (b.total_tokens, b.cost_usd, b.model_calls) == (6, 1.0, 2)
    a.add(b)
    assert a.total_tokens == 9


def test_store_records_runs_and_events(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunStore(path, batch_size=2) as store:
        store.start_run("r1", question="q?", meta={"model": "m"})
        bus = EventBus("r1")
        bus.subscribe(store.record)
        bus.emit(RunStarted(question="q?"))
        for i in range(5):
            bus.emit(NodeStarted(node_id=str(i)))
        store.finish_run("r1", status="ok", answer="42", usage={"model_calls": 3})
    reopened = RunStore(path)
    run = reopened.get_run("r1")
    assert (run.status, run.answer, run.question, run.usage, run.meta) == (
        "ok", "42", "q?", {"model_calls": 3}, {"model": "m"})
    events = list(reopened.events("r1"))
    assert [e["kind"] for e in events] == ["run_started"] + ["node_started"] * 5
    assert [e["node_id"] for e in events[1:]] == ["0", "1", "2", "3", "4"]
    assert [r.id for r in reopened.runs()] == ["r1"]
    with pytest.raises(KeyError, match="no run 'nope'"):
        reopened.get_run("nope")
    reopened.close()
