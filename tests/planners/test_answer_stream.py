"""Answer readers: however a reply is chunked, what they release is the answer the planner
reads from the whole reply, and nothing of the syntax around it."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from forethought import AnswerLineStream, AnswerStream, FinishActionStream
from forethought.planners.aot_atoms import extract_answer
from forethought.planners.llmcompiler import parse_join
from forethought.planners.react_actions import Finish, parse_action
from forethought.tools.base import ToolRegistry


def released(reader: AnswerStream, chunks: list[str]) -> str:
    return "".join(reader.feed(c) for c in chunks) + reader.finish()


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in pairwise(points)]


answers = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
                  min_size=1, max_size=40).filter(
    lambda a: a.strip() and a.splitlines() == [a])  # one line, by str.splitlines' rules


@given(answer=answers, thought=st.text(max_size=30).filter(lambda t: "ction" not in t),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_a_join_finish_streams_exactly_what_the_join_parser_reads(
        answer: str, thought: str, cuts: list[int]) -> None:
    reply = f"Thought: {thought}\nAction: Finish({answer})"
    expected = parse_join(reply)
    assert expected is not None and expected[0] == "finish"
    assert released(FinishActionStream(), chunked(reply, cuts)) == expected[1]


@given(answer=answers, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
       bracket=st.sampled_from(["(", "["]), tail=st.sampled_from(["", ".", " ", ";\n"]))
def test_a_react_finish_streams_exactly_what_the_action_parser_reads(
        answer: str, cuts: list[int], bracket: str, tail: str) -> None:
    core = answer.strip()
    # Finish[...] cannot carry a ']'; an answer that opens a quote it does not close is the
    # documented case where the stream and the parser differ (see the test below).
    assume(not (bracket == "[" and "]" in answer))
    assume(not (core[0] in "\"'" and (len(core) < 2 or core[-1] != core[0])))
    closer = ")" if bracket == "(" else "]"
    reply = f"Thought: done\nAction: Finish{bracket}{answer}{closer}{tail}"
    action = parse_action(reply, ToolRegistry())
    assert isinstance(action, Finish)
    assert released(FinishActionStream(unquote=True), chunked(reply, cuts)) == action.answer


def test_quotes_around_a_react_answer_are_dropped_as_the_parser_drops_them() -> None:
    for reply in ('Action: Finish("Paris")', "Action: Finish( 'Paris' ).",
                  'Action: Finish("a "quoted" word")'):
        action = parse_action(reply, ToolRegistry())
        assert isinstance(action, Finish)
        assert released(FinishActionStream(unquote=True), list(reply)) == action.answer
    # An opening quote never closed: the quote was part of the answer, but it was held back
    # (it could not be known in time), so the stream diverges and the result is authoritative.
    assert released(FinishActionStream(unquote=True), ['Action: Finish("a) b)']) == "a) b"


@given(answer=answers, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_an_answer_line_streams_exactly_what_the_direct_answer_reads(
        answer: str, cuts: list[int]) -> None:
    reply = f"Reasoning: some steps.\nAnswer: {answer}\n"
    assert released(AnswerLineStream(), chunked(reply, cuts)) == extract_answer(reply)


@pytest.mark.parametrize("reply", [
    "Thought: not yet\nAction: Replan(the second task failed)",
    'Thought: look it up\nAction: calculator(expression="2 + 2")',
    "The answer is 4.",
])
def test_replies_without_a_finish_release_nothing(reply: str) -> None:
    assert released(FinishActionStream(), list(reply)) == ""


def test_an_answer_line_reader_ignores_text_after_its_line() -> None:
    reply = "Reasoning: two and two.\nFinal answer:   four  \nThat is all."
    assert released(AnswerLineStream(), list(reply)) == "four"
    assert released(AnswerLineStream(), ["No marker at all."]) == ""
