"""What the run store keeps of each call: content, caps, metadata only, old stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from trace_support import REPLAN_QUESTION, REPLAN_SCRIPT, record_replan

from forethought import Agent, RunStore, ScriptedModel, UserError
from forethought.exceptions import ModelError
from forethought.models.messages import Choice, ModelRequest, ModelResponse, Usage
from forethought.runtime import call_content
from forethought.runtime.call_content import CUT_MARKER
from forethought.runtime.events import EventBus, ModelCallStarted, ToolCallFinished
from forethought.trace.model import build_trace

PLAN = '1. calculator(expression="6 * 7")\n2. join()'


def calls(store: RunStore, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in store.events(run_id, content=True) if e["kind"] == kind]


def test_each_model_call_keeps_messages_settings_completion_and_usage(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    script = ScriptedModel(list(REPLAN_SCRIPT))
    run_id = Agent(script, tools=["calculator", "clock"], store=store).run(REPLAN_QUESTION).run_id
    started = calls(store, run_id, "model_call_started")
    finished = calls(store, run_id, "model_call_finished")
    assert len(started) == len(finished) == len(script.requests) == 4
    for event, sent in zip(started, script.requests, strict=True):
        assert event["request"]["messages"] == [
            {"role": m.role, "content": m.content} for m in sent.messages]
        assert event["request"]["settings"] == {"temperature": 0.0}
    assert [e["response"]["choices"][0]["text"] for e in finished] == REPLAN_SCRIPT
    assert all(e["response"]["model"] == "scripted" for e in finished)
    assert finished[0]["usage"]["model_calls"] == 1 and finished[0]["usage"]["prompt_tokens"] > 0
    # The plain event stream (what the events table keeps) has no content fields.
    plain = [e for e in store.events(run_id) if e["kind"] == "model_call_started"]
    assert "request" not in plain[0] and plain[0]["call_id"] == 1


def test_each_tool_call_keeps_its_arguments_and_whole_result(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = record_replan(store)
    started = calls(store, run_id, "tool_call_started")
    finished = calls(store, run_id, "tool_call_finished")
    assert [e["arguments"] for e in started] == [
        {"expression": "2 + 2"}, {"reason": "disk on fire"}, {"expression": "4 * 10"}]
    # Start and finish pair by call id (tool calls are numbered apart from model calls).
    assert sorted(e["call_id"] for e in started) == sorted(e["call_id"] for e in finished) \
        == [1, 2, 3]
    by_id = {e["call_id"]: e for e in finished}
    assert by_id[1]["result"] == "4" and by_id[3]["result"] == "40"
    assert "result" not in by_id[2]  # the failed call has an error, no result
    assert by_id[2]["error"] == "tool 'fail' raised RuntimeError: disk on fire"


def test_every_text_field_is_capped_with_a_marker_saying_how_much_was_cut(
        tmp_path: Path) -> None:
    long_question = "Q" * 5000
    long_reply = "R" * 3000
    store = RunStore(tmp_path / "runs.sqlite", max_field_chars=1000)
    join_reply = f"{long_reply}\nAction: Finish(42)"
    script = ScriptedModel([PLAN, join_reply])
    run_id = Agent(script, tools=["calculator"], store=store).run(long_question).run_id
    plan_request = calls(store, run_id, "model_call_started")[0]["request"]
    user = plan_request["messages"][-1]["content"]
    full = script.requests[0].messages[-1].content
    assert user == full[:1000] + CUT_MARKER.format(len(full) - 1000)
    join = calls(store, run_id, "model_call_finished")[1]["response"]["choices"][0]["text"]
    assert join == "R" * 1000 + CUT_MARKER.format(len(join_reply) - 1000)
    # The run's own record is not content: the question stays whole there.
    assert store.get_run(run_id).question == long_question


def test_a_huge_tool_result_is_capped_in_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite", max_field_chars=50)
    bus = EventBus("r")
    store.start_run("r")
    bus.subscribe(store.record)
    bus.emit(ToolCallFinished(tool="t", call_id=1, output="x" * 500, result={"rows": ["y" * 99]}))
    (event,) = store.events("r", content=True)
    text = '{"rows": ["' + "y" * 99 + '"]}'
    assert event["result"] == text[:50] + CUT_MARKER.format(len(text) - 50)


def test_metadata_only_keeps_the_events_and_no_content(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "runs.sqlite", keep="metadata")
    # Metadata only must not even convert the content (the store's hot path stays cheap).
    def refuse(*args: object) -> dict[str, Any]:
        raise AssertionError("content converted in metadata-only mode")

    monkeypatch.setattr(call_content, "request_content", refuse)
    run_id = record_replan(store)
    events = list(store.events(run_id, content=True))
    assert [e["kind"] for e in events] == [e["kind"] for e in store.events(run_id)]
    assert not any(k in e for e in events for k in ("request", "response", "result"))
    rows = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM event_content").fetchone()
    assert rows == (0,)
    assert build_trace(run_id, events).has_content is False


def test_keep_comes_from_the_environment_and_bad_settings_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORETHOUGHT_STORE_KEEP", "metadata")
    assert RunStore(tmp_path / "a.sqlite").keep == "metadata"
    assert RunStore(tmp_path / "a.sqlite", keep="content").keep == "content"
    monkeypatch.setenv("FORETHOUGHT_STORE_KEEP", "everything")
    with pytest.raises(UserError, match="FORETHOUGHT_STORE_KEEP must be one of 'content', "
                                        "'metadata', got 'everything'"):
        RunStore(tmp_path / "b.sqlite")
    with pytest.raises(UserError, match="keep must be one of 'content', 'metadata', got 'all'"):
        RunStore(tmp_path / "b.sqlite", keep="all")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="max_field_chars must be >= 1, got 0"):
        RunStore(tmp_path / "b.sqlite", keep="content", max_field_chars=0)


def test_a_failed_call_keeps_what_arrived_before_the_failure(tmp_path: Path) -> None:
    partial = ModelResponse(choices=[Choice(text="1. calculator(expr")], usage=Usage(
        prompt_tokens=10, completion_tokens=3, model_calls=1), model="scripted")
    error = ModelError("stream cut")
    error.partial = partial
    store = RunStore(tmp_path / "runs.sqlite")
    agent = Agent(ScriptedModel([error]), tools=["calculator"], store=store)
    with pytest.raises(ModelError):
        agent.run("What is 1 + 1?")
    (run,) = store.runs()
    (finished,) = calls(store, run.id, "model_call_finished")
    assert finished["error"] == "ModelError: stream cut"
    assert finished["response"]["choices"][0]["text"] == "1. calculator(expr"
    assert finished["usage"]["completion_tokens"] == 3


def test_content_fields_are_references_and_stay_out_of_to_dict() -> None:
    request = ModelRequest(messages=())
    event = ModelCallStarted(model="m", call_id=1, request=request)
    assert event.request is request
    assert "request" not in event.to_dict() and event.to_dict()["call_id"] == 1


OLD_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, created REAL NOT NULL, finished REAL,
    status TEXT NOT NULL, question TEXT, answer TEXT, error TEXT, usage TEXT, meta TEXT);
CREATE TABLE events (run_id TEXT NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,
    ts REAL NOT NULL, kind TEXT NOT NULL, node_id TEXT, data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq));
"""
OLD_EVENTS = [  # as the first release wrote them: no tool call ids, no content
    ("run_started", None, '{"question": "q?"}'),
    ("model_call_started", "plan-1", '{"model": "m", "purpose": "plan", "call_id": 1}'),
    ("node_added", "1", '{"node_kind": "tool", "deps": [], "description": "1. t()"}'),
    ("node_added", "2", '{"node_kind": "tool", "deps": [], "description": "2. t()"}'),
    ("model_call_finished", "plan-1", '{"model": "m", "call_id": 1, "usage": '
     '{"prompt_tokens": 5, "completion_tokens": 2, "cost_usd": 0.0, "latency_s": 0.1, '
     '"model_calls": 1}, "cached": false, "error": null}'),
    ("node_started", "1", '{"attempt": 1}'),
    ("tool_call_started", "1", '{"tool": "t", "arguments": {"x": 1}}'),
    ("node_started", "2", '{"attempt": 1}'),
    ("tool_call_started", "2", '{"tool": "t", "arguments": {"x": 2}}'),
    ("tool_call_finished", "2", '{"tool": "t", "output": "two", "duration_s": 0.01}'),
    ("node_finished", "2", '{"output": "two"}'),
    ("tool_call_finished", "1", '{"tool": "t", "output": "one", "duration_s": 0.02}'),
    ("node_finished", "1", '{"output": "one"}'),
    ("run_finished", None, '{"status": "ok", "answer": "done"}'),
]


def write_old_store(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO runs VALUES ('old-1', 100.0, 101.0, 'ok', 'q?', 'done', NULL, "
               "'{\"model_calls\": 1}', '{\"model\": \"m\"}')")
    for seq, (kind, node, data) in enumerate(OLD_EVENTS, 1):
        full = f'{{"kind": "{kind}", "run_id": "old-1", "node_id": ' \
               f'{"null" if node is None else repr(node).replace(chr(39), chr(34))}, ' \
               f'"ts": {100 + seq / 100}, {data[1:]}'
        db.execute("INSERT INTO events VALUES ('old-1', ?, ?, ?, ?, ?)",
                   (seq, 100 + seq / 100, kind, node, full))
    db.commit()
    db.close()


def test_a_store_from_before_the_content_table_opens_reads_and_traces(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    write_old_store(path)
    store = RunStore(path)
    assert [r.id for r in store.runs()] == ["old-1"]
    events = list(store.events("old-1", content=True))
    assert len(events) == len(OLD_EVENTS)
    trace = build_trace("old-1", events, store.get_run("old-1"))
    # Tool calls without ids pair with their finish by node and tool.
    tools = [c for c in trace.calls if c.kind == "tool"]
    assert [(c.node_id, c.arguments, c.output) for c in tools] == [
        ("1", {"x": 1}, "one"), ("2", {"x": 2}, "two")]
    assert [s.label for s in trace.steps] == ["plan-1", "round 1"]
    assert trace.has_content is False and trace.status == "ok"
    # New runs go into the old file, with content.
    record_replan(store)
    assert len(store.runs()) == 2
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM event_content").fetchone()[0] > 0


def test_a_file_that_is_not_a_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(UserError, match=f"{path} is not a forethought run store"):
        RunStore(path)


def test_runs_are_found_by_id_prefix_or_last(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    with pytest.raises(UserError, match=r"no runs in .* yet"):
        store.resolve_run_id("last")
    for run_id, created in (("20250101-aaa1", 1.0), ("20250101-aab2", 2.0), ("20250102-ccc", 3.0)):
        store.start_run(run_id)
        store._conn.execute("UPDATE runs SET created=? WHERE id=?", (created, run_id))  # pyright: ignore[reportPrivateUsage]
    assert store.resolve_run_id("20250101-aab2") == "20250101-aab2"
    assert store.resolve_run_id("20250102") == "20250102-ccc"
    assert store.resolve_run_id("last") == "20250102-ccc"
    with pytest.raises(UserError, match=r"run prefix '20250101-aa' matches several runs in .*: "
                                        r"'20250101-aab2', '20250101-aaa1'"):
        store.resolve_run_id("20250101-aa")
    with pytest.raises(UserError, match=r"no run 'zzz' in .*; `forethought runs list` shows"):
        store.resolve_run_id("zzz")
    with pytest.raises(UserError, match="which run"):
        store.resolve_run_id("")
