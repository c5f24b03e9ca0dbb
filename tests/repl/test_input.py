"""Typing: multi-line input, Ctrl-C at the prompt, history, and completion of commands and of
every kind of name (models, planners, strategies and their options, tools, budget keys, recipe
files, runs, re-runnable nodes, file paths)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from forethought.planners.base import planner_names
from forethought.repl.args import CommandError, options, split, value
from forethought.repl.completion import ReplCompleter
from forethought.search.base import strategy_names
from forethought.tools.base import builtin_tools
from tests.repl.conftest import Driver

ROOT = Path(__file__).resolve().parents[2]


def completions(driver: Driver, text: str) -> list[str]:
    completer = ReplCompleter(driver.repl)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]


async def test_multi_line_questions_and_ctrl_c_at_the_prompt(driver: Driver) -> None:
    # A backslash at the end of a line and Esc Enter start a new line, a paste keeps its
    # lines; Ctrl-C at the prompt drops what was typed; a line feed (an Enter typed ahead
    # while the terminal was not in raw mode) sends.
    driver.pipe.send_text("A question\\\rin lines:\x1b\r\x1b[200~pasted\nlines\x1b[201~\r")
    driver.pipe.send_text("never asked\x03")
    driver.pipe.send_text("What is 2 * (3 + 4)?\n")
    out = await driver.run("/usage")
    questions = [e.text for e in driver.session.transcript if e.kind == "question"]
    assert questions == ["A question\nin lines:\npasted\nlines", "What is 2 * (3 + 4)?"]
    assert "\n14\n" in out and "session: 2 runs" in out
    history = driver.repl.prompt.history.get_strings()
    assert history == [*questions, "/usage"]


def test_commands_complete_by_prefix(driver: Driver) -> None:
    assert completions(driver, "/") == [f"/{name}" for name in (
        "help", "model", "planner", "strategy", "tools", "budget", "recipe", "usage", "runs",
        "trace", "rerun", "save", "load", "clear", "exit")]
    assert completions(driver, "/mo") == ["/model"]
    assert completions(driver, "/re") == ["/recipe", "/rerun"]
    assert completions(driver, "What is 2 + 2?") == []


def test_names_complete_for_each_command(driver: Driver) -> None:
    assert "simulated:sleep=true" in completions(driver, "/model ")
    assert completions(driver, "/model open") == ["openai/"]
    assert completions(driver, "/planner ") == planner_names()
    assert completions(driver, "/planner search ") == ["strategy=", "task=", "scorer=",
                                                      "final_scorer="]
    assert completions(driver, "/strategy ") == strategy_names()
    assert completions(driver, "/strategy beam w") == ["width="]
    assert completions(driver, "/tools ") == ["add", "remove"]
    assert completions(driver, "/tools add ") == sorted(builtin_tools())
    assert completions(driver, "/tools remove ") == ["calculator"]
    assert "calls=" in completions(driver, "/budget ") and "off" in completions(driver,
                                                                                "/budget ")
    assert completions(driver, "/help pl") == ["planner"]
    assert completions(driver, "/nope ") == []


def test_recipe_files_and_paths_complete(driver: Driver, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert "recipes/game24.yaml" in completions(driver, "/recipe ")
    assert completions(driver, "/recipe recipes/qu") == ["recipes/quickstart.yaml"]
    (tmp_path / "saved-session.json").write_text("{}")
    assert completions(driver, f"/load {tmp_path}/sav") == ["ed-session.json"]


async def test_runs_and_nodes_complete_once_there_is_a_run(driver: Driver) -> None:
    assert completions(driver, "/rerun ") == []
    await driver.run("What is 2 * (3 + 4)?")
    run = driver.session.runs[-1].run_id
    assert completions(driver, "/trace ")[:2] == [run, "last"]
    assert completions(driver, "/rerun ") == ["1", "2", "join"]
    assert completions(driver, "/rerun join ") == ["--strategy"]
    assert completions(driver, "/rerun join --strategy ") == strategy_names()


def test_command_words_and_values() -> None:
    assert split('/save "my file.json"') == ["/save", "my file.json"]
    assert options(["n=3", "aggregation=weighted", "sleep=true", "p=0.5", "xs=[1, 2]"]) == {
        "n": 3, "aggregation": "weighted", "sleep": True, "p": 0.5, "xs": [1, 2]}
    assert value("simulated:seed=3") == "simulated:seed=3" and value("") == ""
    with pytest.raises(CommandError, match="expected key=value, got '=3'"):
        options(["=3"])
    with pytest.raises(CommandError, match="at most 10,000 characters"):
        value("x" * 10_001)
