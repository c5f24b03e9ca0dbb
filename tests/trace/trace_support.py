"""Runs recorded for the trace tests: a re-planning run with a failing tool and hostile text,
and a run whose tool emits a selection decision and an event of a kind nobody knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forethought import Agent, RunStore, ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event
from forethought.tools.base import tool

HOSTILE = ('</script><img src="http://127.0.0.1:9/leak.png" onerror="document.title=1">'
           " [bold]not markup[/bold] & <b>not bold</b>")
"""Text a question or a completion may hold: it must show as text, never act as HTML."""

REPLAN_QUESTION = f"What is 2 + 2, times ten? {HOSTILE}"
REPLAN_SCRIPT = [
    '1. calculator(expression="2 + 2")\n2. fail(reason="disk on fire")\n3. join()\n',
    "Thought: task 2 failed.\nAction: Replan(task 2 failed; compute with $1 instead)",
    '4. calculator(expression="$1 * 10")\n5. join()\n',
    f"Thought: {HOSTILE}\nAction: Finish(40)",
]


@tool
def fail(reason: str) -> str:
    """Always raises."""
    raise RuntimeError(reason)


@dataclass(kw_only=True, slots=True)
class SelectionMade(Event):
    """What a selection agent might emit: the kind the trace views must show as decisions."""

    kind: str = "selection"
    strategy: str = ""
    complexity: float = 0.0
    scores: dict[str, float] = field(default_factory=dict[str, float])


@tool
def choose(ctx: RunContext, option: str) -> str:
    """Record a strategy decision."""
    ctx.events.emit(SelectionMade(node_id="1", strategy=option, complexity=0.7,
                                  scores={"best_of_n": 0.4, option: 0.6}))
    ctx.events.emit(Event(kind="plugin_custom"))
    return option


def record_replan(store: RunStore) -> str:
    agent = Agent(ScriptedModel(list(REPLAN_SCRIPT)), tools=["calculator", fail], store=store)
    result = agent.run(REPLAN_QUESTION)
    assert result.answer == "40", result
    return result.run_id


def record_decisions(store: RunStore) -> str:
    script = ScriptedModel(['1. choose(option="mcts")\n2. calculator(expression="1 + 1")\n'
                            "3. join()\n", "Action: Finish(2)"])
    result = Agent(script, tools=["calculator", choose], store=store).run("Pick and add.")
    assert result.answer == "2", result
    return result.run_id


def expected_ids(store: RunStore, run_id: str) -> tuple[set[str], int]:
    """The run's node ids and its number of calls, read straight from the events."""
    events: list[dict[str, Any]] = list(store.events(run_id))
    nodes = {e["node_id"] for e in events if e["kind"] == "node_added"}
    calls = sum(1 for e in events if e["kind"] in ("model_call_started", "tool_call_started"))
    return nodes, calls
