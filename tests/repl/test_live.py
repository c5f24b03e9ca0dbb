"""The live view: the state folded from a real run's events agrees with the run's result and
with the trace's numbering of calls; the drawing shows the graph, the search and the answer;
long tool results are collapsed; text from a run is never read as markup."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console

from forethought import Agent, ScriptedModel, SearchPlanner
from forethought.repl.live_state import LiveState, NodeView, ToolLine
from forethought.repl.live_view import LiveView, render
from forethought.repl.render import collapse, tool_line
from forethought.runtime.events import Event, NodeAdded, NodeStarted
from forethought.runtime.store import RunStore
from forethought.trace.model import build_trace

PLAN = '1. calculator(expression="3 + 4")\n2. calculator(expression="2 * $1")\n3. join()'


def text_of(renderable: object, width: int = 120) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def feed_all(events: list[Event]) -> tuple[LiveState, list[ToolLine]]:
    state = LiveState(question="q")
    lines = [line for e in events if (line := state.feed(e)) is not None]
    return state, lines


def test_a_graph_run_folds_into_nodes_steps_and_spending(tmp_path: Path) -> None:
    seen: list[Event] = []
    agent = Agent(ScriptedModel([PLAN, "Action: Finish(14)"]), tools=["calculator"],
                  store=tmp_path / "runs.sqlite", subscribers=[seen.append])
    result = agent.run("What is 2 * (3 + 4)?")
    agent.close()
    state, lines = feed_all(seen)
    assert {n.id: (n.status, n.output) for n in state.nodes.values()} == {
        "1": ("done", "7"), "2": ("done", "14")}
    assert {s.id: (s.running, s.done) for s in state.steps.values()} == {
        "plan-1": (0, 1), "join-1": (0, 1)}
    u = result.usage
    assert (state.model_calls, state.prompt_tokens, state.completion_tokens) == (
        u.model_calls, u.prompt_tokens, u.completion_tokens)
    assert state.tool_calls == 2 and not state.tools_running and state.model_calls_running == 0
    # Tool calls are numbered as /trace numbers calls.
    with RunStore(tmp_path / "runs.sqlite") as db:
        trace = build_trace(result.run_id, db.events(result.run_id))
    tools = [(c.n, c.name, c.output) for c in trace.calls if c.kind == "tool"]
    assert [(line.n, line.tool, line.output) for line in lines] == tools
    drawn = text_of(render(state))
    assert "graph · 2 nodes (2 done)" in drawn and "plan-1 ✓" in drawn and "join-1 ✓" in drawn
    rows = [line.split() for line in drawn.splitlines()]
    assert ["●", "1", "1.", 'calculator(expression="3', '+', '4")', "7"] in rows


def test_a_search_run_shows_its_steps_candidates_and_best_score() -> None:
    seen: list[Event] = []
    model = ScriptedModel(lambda r: "Score: 0.8" if r.purpose == "step"
                          else "Step 1: 6 * 7 = 42\nAnswer: 42")
    agent = Agent(model, planner=SearchPlanner(strategy={"kind": "best_of_n", "n": 3}),
                  store=None, subscribers=[seen.append])
    result = agent.run("What is 6 * 7?")
    state, _ = feed_all(seen)
    (search,) = state.searches.values()
    assert search.node == "search" and search.steps == 2
    assert search.actions == {"rollout": 1, "reward": 3}
    assert (search.candidates, search.best_score, search.best_answer) == (1, result.score, "42")
    drawn = text_of(render(state))
    assert "search · step 2 · actions: 1 rollout, 3 reward · 1 candidate · best score 0.8 → 42" \
        in drawn
    assert "search_finished: answer='42'" in drawn


def test_many_nodes_show_the_running_ones_and_count_the_rest() -> None:
    state = LiveState(question="q")
    for i in range(30):
        state.feed(NodeAdded(node_id=str(i), node_kind="tool", description=f"task {i}"))
    state.feed(NodeStarted(node_id="3"))
    drawn = text_of(render(state, max_rows=5))
    assert "graph · 30 nodes (29 pending, 1 running)" in drawn
    rows = [line.split() for line in drawn.splitlines()]
    assert ["◐", "3", "task", "3"] in rows and "  … 25 more nodes" in drawn
    assert drawn.count("○") == 4 and "task 29" in drawn  # the latest pending ones


def test_long_tool_results_collapse_and_say_where_to_read_them() -> None:
    assert collapse("short") == ("short", 0)
    long = "\n".join(f"line {i}" for i in range(100))
    shown, hidden = collapse(long)
    assert shown == "line 0\nline 1\nline 2" and hidden == len(long) - len(shown)
    line = ToolLine(n=3, tool="python", arguments={"code": "print(1)"}, ended=True,
                    output="x" * 1000, duration_s=0.5)
    text = text_of(tool_line(line), width=1000)
    assert text.startswith('⚙ #3 python(code="print(1)") → ' + "x" * 240 + "  500ms\n")
    assert "… 760 more characters (/trace --call 3 shows all)" in text
    failed = ToolLine(n=4, tool="calculator", arguments={}, ended=True, error="bad [bold]x")
    assert "→ error: bad [bold]x" in text_of(tool_line(failed))  # not read as markup


def test_markup_in_a_run_is_printed_as_written() -> None:
    state = LiveState(question="q")
    state.nodes["1"] = NodeView(id="1", kind="tool", description="[red]danger[/red]",
                                status="done", output="[link=x]y")
    state.text = "**bold** and [blue]not markup[/blue]"
    drawn = text_of(render(state))
    assert "[red]danger[/red]" in drawn and "[link=x]y" in drawn
    assert "bold and [blue]not markup[/blue]" in drawn  # markdown, but no rich markup


async def test_the_first_streamed_text_is_drawn_at_once_and_the_view_leaves() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    view = LiveView(console, fps=1.0, tick_s=10.0)
    view.start("q")
    view.on_text("The answer")
    assert view.first_text_shown is not None and "The answer" in out.getvalue()
    drawn = len(out.getvalue())
    view.on_text(" continues")  # within the frame interval: drawn on the next tick
    assert len(out.getvalue()) == drawn
    state = view.stop()
    assert state is not None and state.text == "The answer continues"
    assert view.state is None
    await asyncio.sleep(0)
