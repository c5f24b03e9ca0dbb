"""The LLMCompiler-style planner against ScriptedModel: exact behaviour."""

from __future__ import annotations

import asyncio
import time

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.planners.base import planner_class, planner_names
from forethought.planners.llmcompiler import LLMCompilerPlanner, parse_join
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, PlannerEvent
from forethought.tools.base import ToolRegistry, tool

started: dict[str, float] = {}


@tool
async def fetch(name: str) -> str:
    """Fetch a value by name (takes 50 ms)."""
    started[name] = time.perf_counter()
    await asyncio.sleep(0.05)
    return f"<{name}>"


@tool
def fail(reason: str) -> str:
    """Always raises."""
    raise RuntimeError(reason)


def run(script: ScriptedModel, question: str = "Q?", *, max_replans: int = 2,
        budget: Budget | None = None, tools: tuple[str, ...] = ()) -> tuple[
            object, list[Event], RunContext]:
    events: list[Event] = []
    ctx = RunContext(model=script, tools=ToolRegistry(["calculator", fetch, fail, *tools]),
                     budget=BudgetTracker(budget=budget or Budget()))
    ctx.events.subscribe(events.append)
    outcome = asyncio.run(LLMCompilerPlanner(max_replans=max_replans).solve(ctx, question))
    return outcome, events, ctx


def purposes(script: ScriptedModel) -> list[str | None]:
    return [r.purpose for r in script.requests]


def test_plan_runs_tools_with_references_then_finishes() -> None:
    script = ScriptedModel([
        "Thought: two sums then a product.\n"
        '1. calculator(expression="3 + 4")\n'
        '2. calculator("5 + 6")\n'
        '3. calculator(expression="$1 * $2")\n'
        "4. join()\n",
        "Thought: done.\nAction: Finish(77)",
    ])
    outcome, events, _ = run(script)
    assert outcome.answer == "77" and outcome.status == "ok"  # type: ignore[attr-defined]
    assert purposes(script) == ["plan", "join"]
    join_prompt = script.requests[1].messages[-1].content
    assert '1. calculator(expression="3 + 4") -> 7' in join_prompt
    assert '3. calculator(expression="$1 * $2") -> 77' in join_prompt
    assert [e.node_id for e in events if e.kind == "node_finished"][-1] == "3"


def test_tasks_are_dispatched_while_the_plan_still_streams() -> None:
    started.clear()
    script = ScriptedModel([
        '1. fetch(name="a")\n2. fetch(name="b")\n3. fetch(name="c")\n4. join()\n',
        "Action: Finish(<a><b><c>)",
    ], chunk_delay_s=0.03)
    outcome, events, _ = run(script)
    assert outcome.answer == "<a><b><c>"  # type: ignore[attr-defined]
    plan_done = next(e.ts for e in events if e.kind == "model_call_finished")
    first_tool = next(e.ts for e in events if e.kind == "tool_call_started")
    assert first_tool < plan_done, "task 1 waited for the whole plan"
    # The three fetches overlap: all started within less than one fetch's duration.
    assert max(started.values()) - min(started.values()) < 0.1


def test_replan_after_a_failed_task_continues_numbering_and_keeps_results() -> None:
    script = ScriptedModel([
        '1. calculator(expression="2 + 2")\n2. fail(reason="disk on fire")\n3. join()\n',
        "Thought: task 2 failed.\nAction: Replan(task 2 failed; compute with $1 instead)",
        '4. calculator(expression="$1 * 10")\n5. join()\n',
        "Action: Finish(40)",
    ])
    outcome, events, _ = run(script)
    assert outcome.answer == "40"  # type: ignore[attr-defined]
    assert len(outcome.rounds) == 2  # type: ignore[attr-defined]
    assert purposes(script) == ["plan", "join", "plan", "join"]
    first_join = script.requests[1].messages[-1].content
    assert ("2. fail(reason=\"disk on fire\") -> ERROR: tool 'fail' raised RuntimeError"
            in first_join)
    assert script.requests[1].metadata["replans_left"] == "2"
    replan = script.requests[2].messages[-1].content
    assert "task 2 failed; compute with $1 instead" in replan
    assert "Number its tasks from 4" in replan
    assert any(isinstance(e, PlannerEvent) and e.action == "replan" for e in events)


def test_replans_are_bounded() -> None:
    script = ScriptedModel(['1. join()', "Action: Replan(try again)"] * 2)
    outcome, _, _ = run(script, max_replans=1)
    assert outcome.status == "failed"  # type: ignore[attr-defined]
    assert outcome.error == "no answer after 1 re-plans"  # type: ignore[attr-defined]
    assert purposes(script) == ["plan", "join", "plan", "join"]
    assert script.requests[3].metadata["replans_left"] == "0"
    assert "must reply with Finish" in script.requests[3].messages[0].content


def test_bad_plan_lines_are_reported_to_the_join_not_raised() -> None:
    script = ScriptedModel([
        '1. calculator(expression="1 + 1")\n'
        "2. calculator(expression=$5)\n"          # dangling: task 5 never exists
        '3. nosuchtool(x="y")\n'                 # unknown tool
        "4. calculator(expression=oops)\n"        # unparseable argument
        '5. calculator(expression="$6 + 1")\n'    # cycle with 6
        '6. calculator(expression="$5 + 1")\n'
        '7. calculator(expression="1 + 1", extra=2)\n'  # wrong arguments for the tool
        "8. join()\n",
        "Action: Finish(2)",
    ])
    outcome, _, _ = run(script)
    assert outcome.answer == "2"  # type: ignore[attr-defined]
    observations = script.requests[1].messages[-1].content.splitlines()
    by_task = {line.split(".")[0]: line for line in observations if line[:1].isdigit()}
    assert by_task["1"].endswith("-> 2")
    assert "-> SKIPPED" in by_task["2"] or "$5" in by_task["2"]
    assert ("unknown tool 'nosuchtool'; available tools: 'calculator', 'fail', 'fetch'"
            in by_task["3"])
    assert "bare name 'oops'" in by_task["4"]
    assert "cycle in task graph" in by_task["5"] and "cycle in task graph" in by_task["6"]
    assert "extra: Extra inputs are not permitted" in by_task["7"]


def test_join_without_action_uses_the_reply() -> None:
    script = ScriptedModel(["1. join()", "The answer is 12."])
    outcome, events, _ = run(script)
    assert outcome.answer == "The answer is 12."  # type: ignore[attr-defined]
    assert any(isinstance(e, PlannerEvent) and e.action == "join_unparsed" for e in events)


def test_plan_without_join_still_runs_its_tasks() -> None:
    script = ScriptedModel(['1. calculator(expression="6 * 7")', "Action: Finish(42)"])
    outcome, events, _ = run(script)
    assert outcome.answer == "42"  # type: ignore[attr-defined]
    assert any(isinstance(e, PlannerEvent) and e.action == "plan_unterminated" for e in events)


def test_budget_exhausted_returns_best_answer_so_far_marked_partial() -> None:
    script = ScriptedModel([
        '1. calculator(expression="6 * 7")\n2. join()', "Action: Replan(more)",
        "never used"])
    outcome, events, ctx = run(script, budget=Budget(max_model_calls=2))
    assert outcome.status == "budget_exhausted"  # type: ignore[attr-defined]
    assert outcome.partial is True and outcome.answer == "42"  # type: ignore[attr-defined]
    assert ctx.budget.started_calls == 2
    assert any(e.kind == "budget_exhausted" for e in events)


def test_join_parsing() -> None:
    assert parse_join("Thought: ok\nAction: Finish(42)") == ("finish", "42")
    assert parse_join("action: replan(need (more) data)") == ("replan", "need (more) data")
    assert parse_join("Action: Finish(multi\nline)") == ("finish", "multi\nline")
    assert parse_join("no action here") is None


def test_requests_are_deterministic_and_describe_tools() -> None:
    script = ScriptedModel(["1. join()", "Action: Finish(x)"])
    run(script)
    plan: ModelRequest = script.requests[0]
    assert plan.settings.temperature == 0.0
    assert "- calculator(expression)" in plan.messages[0].content
    assert plan.metadata["tools"] == "calculator,fetch,fail"


def test_registry_and_options() -> None:
    assert "llmcompiler" in planner_names()
    cls = planner_class("llmcompiler")
    assert cls.from_options({"max_replans": 0}).max_replans == 0  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="invalid options for planner 'llmcompiler': max_replan"):
        cls.from_options({"max_replan": 1})
