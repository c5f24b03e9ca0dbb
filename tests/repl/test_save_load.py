"""/save then /load reproduces the session: settings, conversation (resumed from the run store
when it is there, started from the saved messages when it is not), transcript and runs; the
next question sees the conversation. Bad files are refused and change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forethought.repl.session_file import SessionFile
from forethought.runtime.store import RunStore
from tests.repl.conftest import driving


async def saved_session(store: Path, target: Path) -> dict[str, Any]:
    with driving(store) as first:
        await first.run("What is 2 * (3 + 4)?", "/model simulated:seed=4",
                        "/budget calls=20", "What is 17 * 23?", f"/save {target}")
        s = first.session
        return {"settings": s.settings, "messages": list(s.conversation.messages),
                "transcript": list(s.transcript), "runs": list(s.runs),
                "id": s.conversation.id}


async def test_load_puts_the_saved_session_back_and_the_next_question_sees_it(
        store: Path, tmp_path: Path) -> None:
    target = tmp_path / "session.json"
    before = await saved_session(store, target)
    with driving(store) as second:
        out = await second.run(f"/load {target}", "What is 5 * 5?")
        s = second.session
        assert s.settings == before["settings"]
        assert s.conversation.id == before["id"]  # the stored conversation, resumed
        assert list(s.conversation.messages[:len(before["messages"])]) == before["messages"]
        assert s.conversation.turns == 3
        assert s.transcript[:len(before["transcript"])] == before["transcript"]
        assert s.runs[:2] == before["runs"] and len(s.runs) == 3
        last = s.runs[-1].run_id
    # The transcript was shown again: both questions and both answers.
    assert "› What is 2 * (3 + 4)?" in out and "› What is 17 * 23?" in out
    assert out.index("\n14\n") < out.index("\n391\n") < out.index("\n25\n")
    with RunStore(store) as db:
        plan = next(e for e in db.events(last, content=True) if e["kind"] ==
                    "model_call_started")
    prompt = plan["request"]["messages"][-1]["content"]
    assert "This question continues a conversation" in prompt
    assert "User: What is 17 * 23?" in prompt and "Assistant: 391" in prompt


async def test_a_session_loaded_with_another_store_starts_from_its_messages(
        store: Path, tmp_path: Path) -> None:
    target = tmp_path / "session.json"
    before = await saved_session(store, target)
    with driving(tmp_path / "elsewhere.sqlite") as other:
        await other.run(f"/load {target}")
        s = other.session
        assert s.conversation.id != before["id"]  # not in this store: a new conversation
        assert list(s.conversation.messages) == before["messages"]
        assert s.settings == before["settings"] and s.runs == before["runs"]


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not a saved session (not valid JSON"),
    ('{"a": 1}', 'it has "format": "forethought-repl-session"'),
    (None, "settings: Field required"),
    ("settings-bad", "model: model 'gpt-4o': name a provider"),
    ("messages-bad", "history[0] is not a valid chat message"),
])
async def test_bad_session_files_are_refused_and_change_nothing(
        store: Path, tmp_path: Path, content: str | None, message: str) -> None:
    good = tmp_path / "good.json"
    await saved_session(store, good)
    data = json.loads(good.read_text())
    bad = tmp_path / "bad.json"
    if content is None:
        del data["settings"]
        bad.write_text(json.dumps(data))
    elif content == "settings-bad":
        data["settings"]["model"] = "gpt-4o"
        bad.write_text(json.dumps(data))
    elif content == "messages-bad":
        data["messages"][0] = {"role": "robot", "content": "hi"}
        bad.write_text(json.dumps(data))
    else:
        bad.write_text(content)
    with driving(store) as driver:
        before = driver.session.settings
        out = await driver.run(f"/load {bad}")
        assert message in out and "Traceback" not in out and "usage: /load FILE" in out
        assert driver.session.settings == before and driver.session.runs == []


def test_the_file_format_is_pinned() -> None:
    assert set(SessionFile.model_fields) == {
        "format", "version", "saved", "settings", "source", "base_dir", "conversation_id",
        "messages", "transcript", "runs", "store"}
