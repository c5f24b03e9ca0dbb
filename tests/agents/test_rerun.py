"""Re-running one node of a finished run: what each planner calls a node, what runs again and
what is kept, another strategy for the decision, the run store's record, conversations whose
last turn is replaced, and every way a re-run can be refused."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from forethought import (
    Agent,
    Budget,
    ModelRequest,
    ScriptedModel,
    SearchPlanner,
    UnknownNameError,
    UserError,
    tool,
)
from forethought.runtime.store import RunStore

PLAN = ('1. draw(label="a")\n2. draw(label="b")\n3. add(x="$1", y="$2")\n'
        '4. draw(label="c")\n5. join()')


class Dice:
    """A tool whose result changes at every call, so a re-run shows what ran again."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def draw(self, label: str) -> int:
        """Draw the next number for ``label``."""
        self.calls.append(label)
        return 10 * len(self.calls)


def compiler_agent(dice: Dice, store: Path | None = None) -> tuple[Agent, ScriptedModel]:
    @tool
    def draw(label: str) -> int:
        """Draw a number."""
        return dice.draw(label)

    @tool
    def add(x: int, y: int) -> int:
        """Add two numbers."""
        return int(x) + int(y)

    def model(request: ModelRequest) -> str:
        if request.purpose == "plan":
            return PLAN
        if request.purpose == "join":
            results = dict(re.findall(r"^(\d+)\..*-> (\S+)$", request.messages[-1].content,
                                      re.M))
            return f"Action: Finish({results['3']} and {results['4']})"
        if request.purpose in ("rollout", "propose"):
            return "Step 1: read the results.\nAnswer: 99"
        return "Score: 0.5"

    scripted = ScriptedModel(model)
    return Agent(scripted, tools=[draw, add], store=store), scripted


def test_a_task_runs_again_with_what_depends_on_it_and_the_rest_is_kept(
        tmp_path: Path) -> None:
    dice = Dice()
    agent, model = compiler_agent(dice, tmp_path / "runs.sqlite")
    first = agent.run("Draw and add.")
    assert first.answer == "30 and 30" and dice.calls == ["a", "b", "c"]
    assert [t.node for t in agent.rerun_targets(first)] == ["1", "2", "3", "4", "join"]

    again = agent.rerun(first, "2")
    # Task 2 drew again (40), task 3 added again (10 + 40); tasks 1 and 4 kept their results.
    assert dice.calls == ["a", "b", "c", "b"]
    assert again.answer == "50 and 30" and again.ok and again.run_id != first.run_id
    assert again.rounds[0].outputs == {"1": 10, "2": 40, "3": 50, "4": 30}
    assert [r.purpose for r in model.requests].count("plan") == 1  # never planned again
    # The re-run of the re-run starts from the new results.
    assert agent.rerun(again, "1").answer == "90 and 30"  # 50 + 40

    with RunStore(tmp_path / "runs.sqlite") as db:
        record = db.get_run(again.run_id)
        assert record.meta["rerun_of"] == first.run_id and record.meta["node"] == "2"
        assert record.status == "ok" and record.answer == "50 and 30"
        kinds = [e["kind"] for e in db.events(again.run_id)]
        assert kinds.count("tool_call_started") == 2 and "planner" in kinds
    agent.close()


def test_join_decides_again_over_the_same_results_or_with_a_strategy() -> None:
    dice = Dice()
    agent, model = compiler_agent(dice)
    first = agent.run("Draw and add.")
    same = agent.rerun(first, "join")
    assert same.answer == first.answer and dice.calls == ["a", "b", "c"]
    voted = agent.rerun(first, "join", strategy={"kind": "self_consistency", "n": 3})
    assert voted.answer == "99" and dice.calls == ["a", "b", "c"]
    rollout = [r for r in model.requests if r.purpose == "rollout"][-1]
    assert "3. add(x=\"$1\", y=\"$2\") -> 30" in rollout.messages[-1].content
    # The strategy also decides after a task runs again.
    assert agent.rerun(first, "4", strategy="best_of_n").answer == "99"
    assert dice.calls == ["a", "b", "c", "c"]


def test_the_search_planner_has_one_node_the_whole_search() -> None:
    model = ScriptedModel(lambda r: "Step 1: 6 * 7 = 42\nAnswer: 42" if r.purpose != "reward"
                          else "Score: 0.9")
    agent = Agent(model, planner=SearchPlanner(strategy={"kind": "best_of_n", "n": 2}),
                  store=None)
    first = agent.run("What is 6 * 7?")
    assert [t.node for t in agent.rerun_targets(first)] == ["search"]
    before = len(model.requests)
    again = agent.rerun(first, "search", strategy={"kind": "self_consistency", "n": 3})
    assert again.answer == "42" and len(model.requests) - before == 3  # three votes, no scores
    with pytest.raises(UserError, match=r"has no node 'join' to re-run; its nodes: search"):
        agent.rerun(first, "join")


def test_bad_re_runs_are_refused_before_anything_runs() -> None:
    dice = Dice()
    agent, model = compiler_agent(dice)
    first = agent.run("Draw and add.")
    calls = len(model.requests)
    with pytest.raises(UserError, match=r"no node '9' to re-run; its nodes: 1, 2, 3, 4, join"):
        agent.rerun(first, "9")
    with pytest.raises(UserError, match="a node is a non-empty name, got ''"):
        agent.rerun(first, "")
    with pytest.raises(UnknownNameError, match="unknown strategy 'nope'; valid strategies"):
        agent.rerun(first, "join", strategy="nope")
    with pytest.raises(UserError, match="invalid options for strategy 'best_of_n'"):
        agent.rerun(first, "join", strategy={"kind": "best_of_n", "n": "lots"})
    other = Agent(ScriptedModel(["x"]), planner="search", store=None)
    with pytest.raises(UserError, match="was made by planner 'llmcompiler'; this agent's "
                                        "planner is 'search'"):
        other.rerun(first, "join")
    assert len(model.requests) == calls and dice.calls == ["a", "b", "c"]

    react = Agent(ScriptedModel(["Thought: t\nAction: Finish(1)"]), planner="react",
                  store=None)
    done = react.run("q?")
    with pytest.raises(UserError, match=r"cannot re-run nodes \(its steps form one chain"):
        react.rerun(done, "1")


def test_a_task_whose_tool_is_gone_cannot_run_again() -> None:
    dice = Dice()
    agent, _ = compiler_agent(dice)
    first = agent.run("Draw and add.")
    agent.tools.remove("add")
    with pytest.raises(UserError, match="task 3 calls 'add', which the agent no longer has"):
        agent.rerun(first, "1")
    assert agent.rerun(first, "4").answer == "30 and 40"  # 3 is not needed again: kept


def test_a_budget_spent_during_the_re_run_is_a_result_not_an_error() -> None:
    dice = Dice()
    agent, _ = compiler_agent(dice)
    first = agent.run("Draw and add.")
    spent = agent.rerun(first, "2", budget=Budget(max_model_calls=0))
    assert spent.status == "budget_exhausted" and spent.partial
    # A spent budget refuses tool calls too; as in any run cut short by the budget, the
    # answer is the result of the last task that has one (task 4's, kept).
    assert spent.answer == "30" and dice.calls == ["a", "b", "c"]


def test_a_conversation_re_run_replaces_its_last_turn(tmp_path: Path) -> None:
    dice = Dice()
    agent, _ = compiler_agent(dice, tmp_path / "runs.sqlite")
    conv = agent.chat()
    with pytest.raises(UserError, match="no turn taken in this process to re-run"):
        asyncio.run(conv.arerun("join"))
    conv.run("Draw and add.")
    before = list(conv.messages)
    again = asyncio.run(conv.arerun("2"))
    assert conv.turns == 1 and conv.last_result is again
    assert conv.messages[:-len(again.new_messages)] == () and conv.messages[-1].content == \
        "50 and 30"
    assert len(conv.messages) == len(again.new_messages) and before[-1].content == "30 and 30"
    agent.close()

    resumed = compiler_agent(Dice(), tmp_path / "runs.sqlite")[0].chat(conv.id)
    assert resumed.turns == 1 and resumed.messages == conv.messages


def test_a_conversation_continues_with_another_agent(tmp_path: Path) -> None:
    dice = Dice()
    agent, _ = compiler_agent(dice, tmp_path / "runs.sqlite")
    conv = agent.chat()
    conv.run("Draw and add.")
    other, _ = compiler_agent(dice, tmp_path / "runs.sqlite")
    moved = conv.continue_with(other)
    assert (moved.id, moved.turns, moved.messages) == (conv.id, 1, conv.messages)
    assert moved.agent is other and moved.last_result is conv.last_result
    moved.run("Draw and add.")
    assert asyncio.run(moved.arerun("join")).ok  # the last turn's run is re-runnable
    agent.close()
    other.close()
    third = compiler_agent(Dice(), tmp_path / "runs.sqlite")[0]
    assert third.chat(conv.id).turns == 2
    third.close()
