"""Every slash command driven through the pipe input: what it prints and what it changes;
every bad use prints what was wrong and the usage, never a traceback, and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from forethought.repl.commands import COMMANDS
from forethought.runtime.store import RunStore
from tests.repl.conftest import Driver

ROOT = Path(__file__).resolve().parents[2]


async def test_help_lists_every_command_and_explains_one(driver: Driver) -> None:
    out = await driver.run("/help", "/help rerun", "/?")
    for command in COMMANDS.values():
        assert command.usage in out
    assert "/rerun [NODE [--strategy NAME [key=value ...]]]" in out  # brackets, not markup
    assert "The search planner's node is the whole search" in out
    assert out.count("/exit") >= 2  # /? is /help


async def test_settings_commands_change_the_next_run(driver: Driver, store: Path) -> None:
    out = await driver.run(
        "/model simulated:seed=3", "/planner search", "/strategy self_consistency n=3",
        "/budget calls=10 seconds=60", "/tools add clock", "/tools", "/tools remove clock",
        "/model", "/planner", "/strategy", "/budget", "What is 17 * 23?")
    assert "model: simulated:seed=3" in out and 'strategy: {"kind": "self_consistency", ' \
        '"n": 3}' in out
    assert "clock       The current date and time" in out
    assert 'budget per run: {"max_seconds": 60.0, "max_model_calls": 10}' in out \
        or 'budget per run: {"max_model_calls": 10, "max_seconds": 60' in out
    assert driver.session.settings == {
        "name": "repl", "model": "simulated:seed=3", "tools": ["calculator"],
        "planner": {"kind": "search", "strategy": {"kind": "self_consistency", "n": 3}},
        "budget": {"max_seconds": 60, "max_model_calls": 10}}
    (run,) = driver.session.runs
    assert run.status == "ok" and run.model_calls == 3  # three votes
    with RunStore(store) as db:
        record = db.get_run(run.run_id)
    assert record.meta["planner"] == "search" and record.answer == "391"


async def test_a_settings_change_keeps_the_conversation(driver: Driver) -> None:
    await driver.run("What is 2 * (3 + 4)?", "/model simulated:seed=5",
                     "/planner llmcompiler max_replans=1", "What is 17 * 23?")
    conversation = driver.session.conversation
    assert conversation.turns == 2
    questions = [m.content for m in conversation.messages if m.role == "user"]
    assert questions == ["What is 2 * (3 + 4)?", "What is 17 * 23?"]
    assert conversation.last_result.answer == "391"


BAD = {
    "/bogus": "unknown command /bogus",
    "/": "a command name follows the slash",
    "/model a b": "give one model name",
    "/model gpt-4o": "name a provider as LiteLLM expects",
    "/planner nope": "unknown planner 'nope'",
    "/planner llmcompiler max_replans=lots": "planner.max_replans",
    "/strategy beam": "planner 'llmcompiler' takes no strategy",
    "/budget calls=0": "budget.max_model_calls: Input should be greater than 0",
    "/budget calls": "expected key=value, got 'calls'",
    "/budget calls=1 calls=2": "option 'calls' is given twice",
    "/tools add nope": "unknown tool 'nope'",
    "/tools remove nope": "no tool 'nope' in the settings",
    "/tools frob": "unknown use of /tools",
    "/trace": "no run in this session yet",
    "/rerun join": "no run of this conversation to re-run yet",
    "/save": "/save takes one file name",
    "/load": "/load takes one file name",
    "/load missing.json": "no such file: missing.json",
    '/save "unclosed': "close the quote",
    "/clear now": "/clear takes no arguments",
    "/usage x": "/usage takes no arguments",
    "/runs x": "expected a number of runs to show",
    "/help nope": "unknown command /nope",
    "/recipe missing.yaml": "no such file",
    "/exit now": "/exit takes no arguments",
}


async def test_bad_commands_say_what_is_wrong_and_show_the_usage(driver: Driver) -> None:
    before = driver.session.settings
    out = await driver.run(*BAD)
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(BAD)
    for line, expected in zip(BAD.values(), errors, strict=True):
        assert line in expected
    for command in ("/model", "/planner", "/strategy", "/budget", "/tools", "/trace",
                    "/rerun", "/save", "/load", "/clear", "/usage", "/runs", "/exit"):
        assert f"usage: {COMMANDS[command[1:]].usage}" in out
    assert driver.session.settings == before and driver.session.runs == []


async def test_usage_runs_and_trace_read_the_run_store(driver: Driver, store: Path,
                                                       tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    out = await driver.run("What is 2 * (3 + 4)?", "/usage", "/runs 5", "/trace",
                           "/trace --call 1", f"/trace last --html {page}", "/trace --call 99")
    (run,) = driver.session.runs
    with RunStore(store) as db:
        usage = db.get_run(run.run_id).usage
    assert f"session: 1 run · {usage['model_calls']} model calls · " \
           f"{usage['prompt_tokens']}+{usage['completion_tokens']} tok" in out
    assert out.count(run.run_id) >= 4 and "1 of 1 runs in" in out
    assert "├── plan-1 · planner" in out and "join-1 · planner" in out
    assert "#1 chat simulated (plan)" in out and "system: You are a planner." in out
    assert page.is_file() and f"wrote {page}" in out and run.run_id in page.read_text()
    assert "has no call 99: its calls are numbered 1 to 4" in out


async def test_rerun_lists_the_nodes_and_replaces_the_last_answer(driver: Driver) -> None:
    out = await driver.run("What is 2 * (3 + 4)?", "/rerun",
                           "/rerun join --strategy self_consistency n=3", "/usage")
    first, again = driver.session.runs
    assert "nodes of run" in out and "join  the last decision, over the same results" in out
    assert "1     1. calculator(expression=\"3 + 4\")" in out
    assert again.rerun_of == first.run_id and again.model_calls == 3
    assert f"(re-run of {first.run_id})" in out
    conversation = driver.session.conversation
    assert conversation.turns == 1 and conversation.last_result.run_id == again.run_id
    assert conversation.messages[-1].content == conversation.last_result.answer


async def test_recipe_shows_the_settings_and_takes_a_recipe_files(driver: Driver) -> None:
    out = await driver.run("/recipe", f"/recipe {ROOT / 'recipes' / 'game24.yaml'}",
                           "/strategy")
    assert "planner:\n  kind: llmcompiler" in out
    assert "settings: from" in out and "(game24)" in out
    assert driver.session.summary()["planner"] == "search"
    assert 'strategy: {"kind": "tot_bfs", "breadth": 5, "proposals": 8}' in out


async def test_clear_starts_a_new_conversation_and_exit_leaves(driver: Driver) -> None:
    await driver.run("What is 2 * (3 + 4)?", "/clear", "/exit", "What is 17 * 23?")
    assert driver.session.conversation.turns == 0
    assert [e.text for e in driver.session.transcript] == ["/exit"]
    assert len(driver.session.runs) == 1  # nothing after /exit ran


async def test_save_writes_json_that_names_its_format(driver: Driver, tmp_path: Path) -> None:
    target = tmp_path / "my session.json"
    out = await driver.run("What is 2 * (3 + 4)?", f'/save "{target}"')
    data = json.loads(target.read_text())
    assert data["format"] == "forethought-repl-session" and data["version"] == 1
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "tool", "assistant",
                                                     "tool", "assistant"]
    assert f"saved the session to {target}: settings, 6 messages, 1 question, 1 run" in out
