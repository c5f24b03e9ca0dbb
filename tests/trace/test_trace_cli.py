"""``forethought runs``, ``forethought trace`` and ``python -m forethought``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from trace_support import record_replan
from typer.testing import CliRunner

from forethought import RunStore
from forethought.cli import app

runner = CliRunner()


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        run_id = record_replan(store)
    return path, run_id


def test_runs_list_as_a_table_and_as_json_lines(recorded: tuple[Path, str]) -> None:
    path, run_id = recorded
    result = runner.invoke(app, ["runs", "list", "--store", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header, row, footer = result.output.strip().splitlines()
    assert header.split() == ["run", "started", "status", "time", "calls", "tokens", "cost",
                              "question"]
    assert row.startswith(run_id) and " ok " in row and "What is 2 + 2, times ten?" in row
    assert footer == "1 of 1 runs"
    result = runner.invoke(app, ["runs", "list", "--store", str(path), "--json"])
    (line,) = result.output.strip().splitlines()
    record = json.loads(line)
    assert (record["id"], record["status"], record["answer"]) == (run_id, "ok", "40")
    assert record["usage"]["model_calls"] == 4


def test_runs_show_by_prefix(recorded: tuple[Path, str]) -> None:
    path, run_id = recorded
    result = runner.invoke(app, ["runs", "show", run_id[:12], "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert f"run {run_id} · ok" in result.output
    assert "planner: llmcompiler" in result.output and "tools: [\"calculator\", \"fail\"]" \
        in result.output
    assert "#3 execute_tool fail" in result.output and "disk on fire" in result.output
    result = runner.invoke(app, ["runs", "show", "last", "--store", str(path), "--json"])
    shown = json.loads(result.output)
    assert shown["id"] == run_id and shown["nodes"] == 3 and len(shown["calls"]) == 7
    assert shown["calls"][2] == {"n": 3, "kind": "tool", "name": "fail", "node_id": "2",
                                 "purpose": None, "duration_s": shown["calls"][2]["duration_s"],
                                 "usage": {}, "error": "tool 'fail' raised RuntimeError: "
                                                       "disk on fire"}


def test_runs_export_jsonl_has_the_run_then_every_event_with_content(
        recorded: tuple[Path, str], tmp_path: Path) -> None:
    path, run_id = recorded
    result = runner.invoke(app, ["runs", "export", run_id, "--jsonl", "--store", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.strip().splitlines()]
    assert lines[0]["kind"] == "run" and lines[0]["id"] == run_id
    store = RunStore(path)
    assert lines[1:] == list(store.events(run_id, content=True))
    assert lines[2]["kind"] == "model_call_started" and lines[2]["request"]["messages"]
    out = tmp_path / "run.json"
    result = runner.invoke(app, ["runs", "export", run_id, "--store", str(path), "-o", str(out)])
    assert result.exit_code == 0 and result.output == ""
    document = json.loads(out.read_text())
    assert document["run"]["id"] == run_id and len(document["events"]) == len(lines) - 1


def test_trace_prints_the_tree_a_call_or_writes_a_page(recorded: tuple[Path, str],
                                                       tmp_path: Path) -> None:
    path, run_id = recorded
    result = runner.invoke(app, ["trace", "last", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "├── round 1 · 2 nodes" in result.output and "└── join-2 · planner" in result.output
    result = runner.invoke(app, ["trace", run_id, "--store", str(path), "--full"])
    assert "completion [stop]: Thought: task 2 failed." in result.output
    result = runner.invoke(app, ["trace", run_id, "--store", str(path), "--call", "6"])
    assert result.output.startswith("#6 execute_tool calculator")
    page = tmp_path / "out" / "trace.html"
    result = runner.invoke(app, ["trace", run_id, "--store", str(path), "--html", str(page)])
    assert result.exit_code == 0 and result.output.startswith(f"wrote {page} (")
    assert "3 nodes, 7 calls" in result.output and page.stat().st_size > 10_000


@pytest.mark.parametrize(("args", "message"), [
    (["trace", "nope"], "error: no run 'nope' in "),
    (["trace"], "error: which run? pass a run id (or `last`)"),
    (["trace", "last", "--call", "99"], "has no call 99: its calls are numbered 1 to 7"),
    (["trace", "--eval", "e1"], "error: --eval EVAL_ID takes --html FILE and no run id"),
    (["trace", "last", "--eval", "e1", "--html", "x.html"], "--eval EVAL_ID takes --html"),
    (["runs", "show", "nope"], "error: no run 'nope'"),
    (["runs", "export", "nope", "--jsonl"], "error: no run 'nope'"),
])
def test_bad_arguments_exit_2_with_one_line(recorded: tuple[Path, str], args: list[str],
                                            message: str) -> None:
    path, _ = recorded
    result = runner.invoke(app, [*args, "--store", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_reading_a_store_that_does_not_exist_never_creates_one(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    for args in (["runs", "list"], ["trace", "last"], ["runs", "show", "x"]):
        result = runner.invoke(app, [*args, "--store", str(missing)])
        assert result.exit_code == 2
        assert f"error: no run store at {missing}: runs are recorded there by" in result.output
    assert not missing.exists()


def test_trace_eval_without_an_eval_reader_says_so(recorded: tuple[Path, str],
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A build without the eval package: no factory installed, and none to import (whether
    # an earlier test imported forethought.eval.trace_reader or not).
    from forethought.trace import eval_page

    monkeypatch.setattr(eval_page, "_factory", None)
    monkeypatch.setattr(eval_page, "EVAL_PACKAGE", "forethought.eval._no_trace_reader_here")
    path, _ = recorded
    result = runner.invoke(app, ["trace", "--eval", "e1", "--html", str(tmp_path / "e.html"),
                                 "--store", str(path)])
    assert result.exit_code == 2
    assert "cannot read evaluations: no reader for the eval tables" in result.output


def test_python_dash_m_forethought_runs_the_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "forethought", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "runs", "trace", "recipe", "mcp"):
        assert f"│ {command} " in proc.stdout, command
    proc = subprocess.run([sys.executable, "-m", "forethought", "trace", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "--html" in proc.stdout and "--call" in proc.stdout
