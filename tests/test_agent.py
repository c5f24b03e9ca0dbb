"""The Agent facade: results, the run store, failures and budgets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from forethought import (
    Agent,
    Budget,
    ModelHTTPError,
    RunStore,
    ScriptedModel,
    SimulatedModel,
    UnknownNameError,
    UserError,
)

PLAN = '1. calculator(expression="6 * 7")\n2. calculator(expression="$1 + 1")\n3. join()'


def test_run_returns_answer_usage_and_run_id_and_records_everything(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    agent = Agent(ScriptedModel([PLAN, "Action: Finish(43)"]), tools=["calculator"], store=store)
    result = agent.run("What is 6 * 7 + 1?")
    assert (result.answer, result.status, result.ok, result.partial) == ("43", "ok", True, False)
    assert result.usage.model_calls == 2 and result.usage.total_tokens > 0
    run = store.get_run(result.run_id)
    assert (run.status, run.answer, run.question) == ("ok", "43", "What is 6 * 7 + 1?")
    assert run.meta == {"model": "scripted", "planner": "llmcompiler", "tools": ["calculator"]}
    kinds = [e["kind"] for e in store.events(result.run_id)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("tool_call_finished") == 2 and kinds.count("model_call_finished") == 2


def test_default_model_is_the_simulator_and_solves_arithmetic() -> None:
    agent = Agent(tools=["calculator"])
    assert isinstance(agent.model, SimulatedModel)
    result = agent.run("What is (2 + 3) * 4?")
    assert result.ok and result.answer == "20"


def test_budget_exhausted_mid_run_keeps_partial_results_and_events(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    script = ScriptedModel([PLAN, "Action: Replan(check again)", "not reached"])
    agent = Agent(script, tools=["calculator"], store=store,
                  budget=Budget(max_model_calls=2))
    result = agent.run("What is 6 * 7 + 1?")
    assert result.status == "budget_exhausted" and result.partial
    assert result.answer == "43"  # the last result computed before the budget ran out
    assert result.error is not None and "model calls 2 >= limit 2" in result.error
    run = store.get_run(result.run_id)
    assert run.status == "budget_exhausted" and run.answer == "43"
    events = list(store.events(result.run_id))
    assert [e["output"] for e in events if e["kind"] == "node_finished"] == ["42", "43"]
    assert any(e["kind"] == "budget_exhausted" for e in events)


def test_provider_error_is_raised_after_the_run_is_recorded(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    boom = ModelHTTPError("bad key", status_code=401, model="scripted")
    agent = Agent(ScriptedModel([boom]), store=store)
    with pytest.raises(ModelHTTPError, match="HTTP 401"):
        agent.run("hello?")
    (run,) = store.runs()
    assert run.status == "failed" and run.error is not None and "HTTP 401" in run.error
    assert [e["kind"] for e in store.events(run.id)][-1] == "run_finished"


def test_arun_and_the_sync_wrapper_guard() -> None:
    agent = Agent(ScriptedModel(["1. join()", "Action: Finish(yes)"] * 2), store=None)

    async def inside_loop() -> None:
        assert (await agent.arun("ok?")).answer == "yes"
        with pytest.raises(UserError, match=r"use 'await agent\.arun"):
            agent.run("ok?")

    asyncio.run(inside_loop())


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"planner": "tot"}, UnknownNameError,
     "unknown planner 'tot'; valid planners: .*'llmcompiler'"),
    ({"tools": ["calculater"]}, UnknownNameError, "unknown tool 'calculater'; valid tools:"),
    ({"model": "gpt-4o"}, UserError, "name a provider as LiteLLM expects, e.g. 'openai/gpt-4o'"),
    ({"model": "simulated:seeed=1"}, UserError, "seeed"),
])
def test_misconfiguration_is_reported_clearly(kwargs: dict[str, object], error: type[Exception],
                                             message: str) -> None:
    with pytest.raises(error, match=message):
        Agent(**kwargs)  # type: ignore[arg-type]


def test_empty_question_is_rejected() -> None:
    with pytest.raises(UserError, match="non-empty string"):
        Agent(store=None).run("  ")


def test_errors_from_run_carry_no_stray_event_loop_context() -> None:
    boom = ModelHTTPError("bad key", status_code=401, model="scripted")
    agent = Agent(ScriptedModel([boom]), store=None)
    with pytest.raises(ModelHTTPError) as info:
        agent.run("hello?")
    # The sync wrapper must not run the agent inside an `except RuntimeError:` block, or every
    # error would be chained to "no running event loop" and tracebacks would say so.
    assert not isinstance(info.value.__context__, RuntimeError)
