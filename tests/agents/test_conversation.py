"""Message history and conversations: what a run records, how prior turns reach the planner,
summaries of long histories, storage and resumption, foreign histories."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from forethought import Agent, HistoryPolicy, Message, ModelRequest, ScriptedModel, UserError
from forethought.agents.history import messages_from_json, messages_to_json, prefix_keys


def calculator_model(request: ModelRequest) -> str:
    """Stands in for a model: plans one calculator call from the question it is shown,
    reading "that" from the conversation context; joins with the last result."""
    question = request.metadata.get("question", "")
    if request.purpose == "plan":
        numbers = re.findall(r"\d+", question.rsplit("The question to answer now", 1)[-1])
        if "twice" in question:
            numbers = [re.findall(r"Assistant: (\d+)", question)[-1], "2"]
        return f'1. calculator(expression="{numbers[0]} * {numbers[1]}")\n2. join()'
    if request.purpose == "join":
        results = re.findall(r"-> (\S+)", request.messages[-1].content)
        return f"Action: Finish({results[-1]})"
    if request.purpose == "summarize":
        return "The user asked for products; the answers were " + ", ".join(
            re.findall(r"Assistant: (\d+)", request.messages[-1].content))
    raise AssertionError(f"unexpected purpose {request.purpose!r}")


def plans(model: ScriptedModel) -> list[str]:
    return [r.messages[-1].content for r in model.requests if r.purpose == "plan"]


def test_a_runs_messages_are_the_question_its_tool_calls_and_the_answer() -> None:
    agent = Agent(ScriptedModel(calculator_model), tools=["calculator"], store=None)
    result = agent.run("What is 6 times 7?")
    user, call, tool_result, answer = result.messages
    assert (user.role, user.content) == ("user", "What is 6 times 7?")
    assert call.role == "assistant" and call.tool_calls[0].name == "calculator"
    assert call.tool_calls[0].arguments == '{"expression": "6 * 7"}'
    assert (tool_result.role, tool_result.content) == ("tool", "42")
    assert tool_result.tool_call_id == call.tool_calls[0].id
    assert (answer.role, answer.content) == ("assistant", "42")
    assert result.new_messages == result.messages


def test_history_continues_a_conversation_and_reaches_the_planner() -> None:
    model = ScriptedModel(calculator_model)
    agent = Agent(model, tools=["calculator"], store=None)
    first = agent.run("What is 17 times 3?")
    second = agent.run("And if it were twice as many?", history=first.messages)
    assert (first.output, second.output) == ("51", "102")
    prompt = plans(model)[-1]
    assert "This question continues a conversation" in prompt
    assert "User: What is 17 times 3?\nAssistant called calculator(" in prompt
    assert "calculator returned: 51\nAssistant: 51" in prompt
    assert prompt.endswith("The question to answer now (it may refer to the conversation "
                           "above):\nAnd if it were twice as many?")
    assert second.messages[:4] == first.messages and second.new_messages == second.messages[4:]
    assert "continues a conversation" not in plans(model)[0]  # no history, no preamble


def test_a_conversation_keeps_its_turns_in_the_store_and_resumes_by_id(
        tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    agent = Agent(ScriptedModel(calculator_model), tools=["calculator"], store=path)
    conv = agent.chat()
    assert conv.run("What is 17 times 3?").output == "51"
    assert conv.run("And twice that?").output == "102"
    assert conv.turns == 2 and len(conv.messages) == 8
    agent.close()

    again = Agent(ScriptedModel(calculator_model), tools=["calculator"], store=path)
    (info,) = again.conversations()
    assert (info.id, info.turns, info.title) == (conv.id, 2, "What is 17 times 3?")
    resumed = again.chat(conv.id)
    assert resumed.messages == conv.messages and resumed.turns == 2
    third = resumed.run("And twice that?")
    assert third.output == "204"
    assert resumed.turns == 3
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT t.turn, t.question, t.status, r.status FROM "
                          "conversation_turns t JOIN runs r ON r.id = t.run_id "
                          "WHERE t.conversation_id=? ORDER BY t.turn", (conv.id,)).fetchall()
    assert rows == [(1, "What is 17 times 3?", "ok", "ok"), (2, "And twice that?", "ok", "ok"),
                    (3, "And twice that?", "ok", "ok")]


def test_resuming_an_unknown_or_storeless_conversation_is_a_clear_error(
        tmp_path: Path) -> None:
    agent = Agent(ScriptedModel(calculator_model), tools=["calculator"],
                  store=tmp_path / "runs.sqlite")
    kept = agent.chat()
    kept.run("What is 2 times 3?")
    with pytest.raises(UserError, match=rf"no conversation 'c-nope' in .*runs.sqlite \(most "
                                        rf"recent: '{kept.id}'\)"):
        agent.chat("c-nope")
    with pytest.raises(UserError, match="messages= applies to new conversations only"):
        agent.chat(kept.id, messages=[Message.user("hi")])
    storeless = Agent(ScriptedModel([]), store=None)
    with pytest.raises(UserError, match="cannot resume conversation 'c-1': this agent keeps "
                                        "no run store"):
        storeless.chat("c-1")
    with pytest.raises(UserError, match="keeps no run store"):
        storeless.conversations()


def test_a_failed_turn_is_not_added_and_the_conversation_goes_on(tmp_path: Path) -> None:
    replies: list[Any] = ['1. calculator(expression="2 * 3")\n2. join()', "Action: Finish(6)",
                          RuntimeError("provider down"),
                          '1. calculator(expression="6 * 2")\n2. join()', "Action: Finish(12)"]
    agent = Agent(ScriptedModel(replies), tools=["calculator"], store=tmp_path / "r.sqlite")
    conv = agent.chat()
    conv.run("2 * 3?")
    with pytest.raises(Exception, match="provider down"):
        conv.run("and doubled?")
    assert conv.turns == 1 and len(conv.messages) == 4
    assert conv.run("and doubled?").output == "12" and conv.turns == 2
    stored = agent.chat(conv.id)
    assert stored.turns == 2 and stored.messages == conv.messages


def test_a_conversation_answers_one_question_at_a_time() -> None:
    agent = Agent(ScriptedModel(calculator_model, delay_s=0.05), tools=["calculator"],
                  store=None)
    conv = agent.chat()

    async def both() -> None:
        first = asyncio.create_task(conv.arun("What is 2 times 3?"))
        await asyncio.sleep(0.01)
        with pytest.raises(UserError, match="is answering a question already"):
            await conv.arun("What is 4 times 5?")
        await first

    asyncio.run(both())
    assert conv.turns == 1


def test_a_foreign_history_with_unknown_tools_is_kept_as_text_with_a_warning() -> None:
    model = ScriptedModel(calculator_model)
    agent = Agent(model, tools=["calculator"], store=None)
    foreign = [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "content": "How far is Lyon from Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function",
             "function": {"name": "web_search", "arguments": '{"q": "Lyon Paris km"}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "465 km"},
        {"role": "assistant", "content": [{"type": "text", "text": "About 465 km."}]},
    ]
    with pytest.warns(UserWarning, match=r"the history calls tools this agent does not have "
                                         r"\('web_search'; its tools: 'calculator'\); those "
                                         r"calls and their results are kept as text"):
        result = agent.run("What is 465 times 2?", history=foreign)
    assert result.output == "930"
    prompt = plans(model)[0]
    assert "System: You are a travel agent." in prompt
    assert 'Assistant called web_search({"q": "Lyon Paris km"})' in prompt
    assert "web_search returned: 465 km\nAssistant: About 465 km." in prompt
    assert result.messages[2].tool_calls[0].name == "web_search"


@pytest.mark.parametrize(("history", "message"), [
    ("User: hi", "history must be a list of messages .* got str"),
    ({"role": "user", "content": "hi"}, "history must be a list of messages .* got dict"),
    ([{"role": "robot", "content": "hi"}], r"history\[0\] is not a valid chat message: role: "
                                           r"Input should be 'system', 'user', 'assistant' or "
                                           r"'tool'"),
    ([Message.user("a"), {"role": "user", "content": "b", "mood": "x"}],
     r"history\[1\] is not a valid chat message: mood: Extra inputs are not permitted"),
    ([42], r"history\[0\] must be a Message or a chat message dict, got 42"),
])
def test_malformed_histories_name_the_bad_message(history: Any, message: str) -> None:
    agent = Agent(ScriptedModel([]), store=None)
    with pytest.raises(UserError, match=message):
        agent.run("q?", history=history)
    assert agent.model.requests == []  # type: ignore[attr-defined]  # nothing started


def long_history(turns: int) -> list[Message]:
    out: list[Message] = []
    for i in range(turns):
        out += [Message.user(f"What is {i} times 2? " + "padding " * 40),
                Message.assistant(str(i * 2))]
    return out


def test_a_long_history_is_summarised_once_then_incrementally() -> None:
    model = ScriptedModel(calculator_model)
    policy = HistoryPolicy(max_chars=1500, keep_turns=2)
    agent = Agent(model, tools=["calculator"], store=None, history_policy=policy)
    history = long_history(6)
    agent.run("What is 3 times 3?", history=history)
    summaries = [r for r in model.requests if r.purpose == "summarize"]
    assert len(summaries) == 1
    assert "What is 0 times 2?" in summaries[0].messages[-1].content
    assert "What is 4 times 2?" not in summaries[0].messages[-1].content  # kept verbatim
    prompt = plans(model)[-1]
    assert "Summary of the earlier conversation: The user asked for products; the answers " \
           "were 0, 2, 4, 6" in prompt
    assert "User: What is 4 times 2?" in prompt and "User: What is 5 times 2?" in prompt

    agent.run("What is 3 times 3?", history=history)  # the same prefix: no second summary
    assert len([r for r in model.requests if r.purpose == "summarize"]) == 1
    agent.run("What is 3 times 3?", history=[*history, *long_history(1)])
    third = [r for r in model.requests if r.purpose == "summarize"]
    assert len(third) == 2  # the new older turn is added to the cached summary
    assert third[1].messages[-1].content.startswith("Summary so far: The user asked")


def test_summaries_survive_in_the_store(tmp_path: Path) -> None:
    history = long_history(6)
    policy = HistoryPolicy(max_chars=1500, keep_turns=2)
    model = ScriptedModel(calculator_model)
    for _ in range(2):
        model = ScriptedModel(calculator_model)
        agent = Agent(model, tools=["calculator"], store=tmp_path / "runs.sqlite",
                      history_policy=policy)
        agent.run("What is 3 times 3?", history=history)
        agent.close()
    assert [r.purpose for r in model.requests] == ["plan", "join"]  # the summary was stored


def test_without_summaries_older_turns_are_left_out_with_a_note() -> None:
    model = ScriptedModel(calculator_model)
    agent = Agent(model, tools=["calculator"], store=None,
                  history_policy=HistoryPolicy(max_chars=1500, keep_turns=1, summarize=False))
    agent.run("What is 3 times 3?", history=long_history(5))
    prompt = plans(model)[-1]
    assert "(8 earlier messages left out)\nUser: What is 4 times 2?" in prompt
    assert not any(r.purpose == "summarize" for r in model.requests)


def test_history_policy_values_are_checked() -> None:
    with pytest.raises(UserError, match=r"HistoryPolicy\.max_chars must be an integer >= 1, "
                                        r"got 0"):
        HistoryPolicy(max_chars=0)


def test_messages_round_trip_through_their_storage_form() -> None:
    agent = Agent(ScriptedModel(calculator_model), tools=["calculator"], store=None)
    messages = agent.run("What is 6 times 7?").messages
    assert messages_from_json(messages_to_json(messages)) == messages
    keys = prefix_keys(messages)
    assert len(set(keys)) == len(messages) and prefix_keys(messages[:2]) == keys[:2]


def test_a_conversation_turn_taken_with_iter_is_busy_only_while_entered() -> None:
    agent = Agent(ScriptedModel(calculator_model), tools=["calculator"], store=None)
    conv = agent.chat()

    async def talk() -> None:
        first = conv.iter("What is 2 times 3?")
        second = conv.iter("What is 4 times 5?")  # created, not entered: not busy
        async with first:
            with pytest.raises(UserError, match="is answering a question already"):
                await second.__aenter__()
            async for _ in first:
                pass
        async with conv.iter("What is 4 times 5?") as third:
            assert [e async for e in third][-1].kind == "run_finished"

    asyncio.run(talk())
    assert conv.turns == 2 and [m.content for m in conv.messages if m.role == "user"] == [
        "What is 2 times 3?", "What is 4 times 5?"]
