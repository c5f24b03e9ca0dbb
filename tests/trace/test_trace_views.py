"""A run rebuilt from its events, and shown as a tree in the terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from inline_snapshot import snapshot
from rich.console import Console
from trace_support import HOSTILE, record_decisions, record_replan

from forethought import RunStore
from forethought.trace.model import RunTrace, build_trace
from forethought.trace.tree import print_call, print_trace


def load(store: RunStore, run_id: str) -> RunTrace:
    return build_trace(run_id, store.events(run_id, content=True), store.get_run(run_id))


def render(trace: RunTrace, *, full: bool = False, call: int | None = None) -> str:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None, highlight=False)
    if call is None:
        print_trace(trace, console, full=full)
    else:
        print_call(trace, call, console)
    return out.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def test_steps_rounds_nodes_and_calls_of_a_replanning_run(store: RunStore) -> None:
    trace = load(store, record_replan(store))
    shape = [(s.label, [n.id for n in s.nodes], [c.n for c in s.all_calls()]) for s in trace.steps]
    assert shape == snapshot([
        ("plan-1", [], [1]),
        ("round 1", ["1", "2"], [2, 3]),
        ("join-1", [], [4]),
        ("plan-2", [], [5]),
        ("round 2", ["4"], [6]),
        ("join-2", [], [7]),
    ])
    assert [(c.n, c.label, c.purpose) for c in trace.calls if c.kind == "model"] == [
        (1, "chat scripted", "plan"), (4, "chat scripted", "join"),
        (5, "chat scripted", "plan"), (7, "chat scripted", "join")]
    assert {n.id: n.status for n in trace.nodes.values()} == {
        "1": "done", "2": "failed", "4": "done"}
    assert trace.nodes["2"].error == "tool 'fail' raised RuntimeError: disk on fire"
    assert trace.nodes["4"].round == 2 and trace.nodes["4"].output == "40"
    # Usage adds up to what the run reported: each call counted once.
    assert sum(c.prompt_tokens for c in trace.calls) == trace.usage["prompt_tokens"]
    assert sum(c.completion_tokens for c in trace.calls) == trace.usage["completion_tokens"]
    assert trace.status == "ok" and trace.answer == "40" and trace.has_content
    assert all(c.duration is not None for c in trace.calls)


def test_selection_decisions_and_unknown_event_kinds_are_kept(store: RunStore) -> None:
    trace = load(store, record_decisions(store))
    (decision,) = trace.decisions
    assert decision["strategy"] == "mcts" and decision["scores"] == {"best_of_n": 0.4,
                                                                     "mcts": 0.6}
    kinds = [n["kind"] for n in trace.notes]
    assert "selection" in kinds and "plugin_custom" in kinds and "planner" in kinds
    assert trace.nodes["1"].notes[0]["kind"] == "selection"
    text = render(trace)
    assert "· selection {\"strategy\": \"mcts\", \"complexity\": 0.7" in text
    assert "· plugin_custom {}" in text


def test_the_tree_shows_every_step_node_and_call_with_costs(store: RunStore) -> None:
    run_id = record_replan(store)
    text = render(load(store, run_id))
    lines = text.splitlines()
    assert lines[0].startswith(f"run {run_id} · ok · ")
    assert "model scripted · planner llmcompiler" in lines[0]
    assert lines[1] == f"question: {store.get_run(run_id).question}"
    assert lines[2] == "answer: 40"
    assert lines[3].startswith("calls: 4 model calls · ") and lines[3].endswith(
        "· 3 tool calls · 3 nodes")
    for needle in ("├── plan-1 · planner · ", "├── round 1 · 2 nodes · ",
                   "│   ├── node 1 [tool] done ", "#2 execute_tool calculator {\"expression\": "
                   "\"2 + 2\"}", "→ 4", "node 2 [tool] failed", "disk on fire",
                   "└── join-2 · planner", "#7 chat scripted (join) ", "tok · $0.0000"):
        assert needle in text, needle
    # Content appears only on demand.
    assert "Action: Finish(40)" not in text


def test_full_shows_prompts_and_completions_as_plain_text(store: RunStore) -> None:
    text = render(load(store, record_replan(store)), full=True)
    assert "completion [stop]: 1. calculator(expression=\"2 + 2\")" in text
    assert "settings: {\"temperature\": 0.0}" in text
    assert "result: 40" in text
    # Markup in a completion is printed as written, never interpreted.
    assert HOSTILE.split("<b>")[0].strip() in text and "[bold]not markup[/bold]" in text


def test_one_call_in_full_and_the_valid_range_when_it_does_not_exist(store: RunStore) -> None:
    trace = load(store, record_replan(store))
    text = render(trace, call=4)
    assert text.splitlines()[0].startswith("#4 chat scripted (join) ")
    assert text.splitlines()[0].endswith("· in planner step join-1")
    assert "user: Question: What is 2 + 2, times ten?" in text
    assert "completion [stop]: Thought: task 2 failed." in text
    tool = render(trace, call=3)
    assert tool.startswith("#3 execute_tool fail ") and "· in node 2" in tool
    assert "arguments: {\"reason\": \"disk on fire\"}" in tool
    with pytest.raises(KeyError, match="has no call 8: its calls are numbered 1 to 7"):
        trace.call(8)


def test_a_run_kept_as_metadata_only_says_so(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite", keep="metadata")
    trace = load(store, record_replan(store))
    assert "note: no content kept (the store keeps metadata only" in render(trace)
    assert "no content kept for this call" in render(trace, call=1)
