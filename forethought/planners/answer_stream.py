"""Reading a planner's final answer out of a model reply while it streams.

A planner whose final answer is written by one model call (LLMCompiler's join, ReAct's last
step, Atom of Thoughts' final direct answer) says so through
:meth:`~forethought.planners.base.Planner.answer_stream`, returning one of these readers for
that call. :meth:`~forethought.Agent.run_stream` feeds the reader each chunk of the call's
text and passes on the answer text it releases, so the answer streams as it is written while
the reasoning around it (``Thought:`` lines, the ``Action:`` syntax) does not.

A reader only releases text it is sure belongs to the answer: it waits for the whole marker
(``Action: Finish(``, ``Answer:``) and holds back what may turn out to be the closing syntax
(a trailing ``)`` and whitespace) until more text arrives or the reply ends.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod


class AnswerStream(ABC):
    """Releases the answer part of one streamed reply, chunk by chunk."""

    @abstractmethod
    def feed(self, chunk: str) -> str:
        """Take the next chunk of the reply; return the answer text it makes certain."""

    @abstractmethod
    def finish(self) -> str:
        """The reply ended: return the answer text still held back."""


_FINISH = re.compile(r"Action[ \t]*\d*[ \t]*:[ \t]*Finish[ \t]*([(\[:])", re.IGNORECASE)
_CLOSERS = {"(": ")", "[": "]", ":": ""}


class FinishActionStream(AnswerStream):
    """The argument of ``Action: Finish(<answer>)`` (also ``Finish[...]`` and ``Finish: ...``),
    as LLMCompiler's join and ReAct write their final answer. A reply without ``Finish``
    (a ``Replan``, a tool call) releases nothing.

    Args:
        unquote: Drop quotes around the whole answer (``Finish("Paris")``), as ReAct's
            action parser does; the closing quote is held back until the reply shows it
            ends the answer.
    """

    def __init__(self, *, unquote: bool = False) -> None:
        self._unquote = unquote
        self._text = ""
        self._start: int | None = None
        """Where the answer begins in the reply (after blanks and an opening quote)."""
        self._closer = ""
        self._tail: re.Pattern[str] | None = None
        self._opened = False
        self._released = 0

    def feed(self, chunk: str) -> str:
        self._text += chunk
        if self._start is None:
            m = _FINISH.search(self._text)
            if m is None:
                return ""
            self._closer = re.escape(_CLOSERS[m.group(1)])
            self._start = m.end()
        return self._release()

    def finish(self) -> str:
        # What is still held back is the closing syntax: it is dropped, not released.
        return ""

    def _open(self) -> bool:
        """Skip the blanks (and an opening quote) before the answer; whether it has begun."""
        assert self._start is not None
        body = self._text[self._start:]
        stripped = body.lstrip()
        self._start += len(body) - len(stripped)
        if not stripped:
            return False
        quote = ""
        if self._unquote and stripped[0] in "\"'":
            quote = re.escape(stripped[0])
            self._start += 1
        # What may still be syntax, not answer: whitespace, the closing quote, and the
        # closing bracket with the punctuation ReAct tolerates after it.
        closing = rf"(?:{self._closer}\s*[.;]?\s*)?" if self._closer else ""
        self._tail = re.compile(rf"{quote}{'?' if quote else ''}\s*{closing}\Z")
        self._opened = True
        return True

    def _release(self) -> str:
        if not self._opened and not self._open():
            return ""
        assert self._start is not None and self._tail is not None
        body = self._text[self._start:]
        tail = self._tail.search(body)
        end = tail.start() if tail is not None else len(body)
        out = body[self._released:end] if end > self._released else ""
        self._released = max(self._released, end)
        return out


_ANSWER_LINE = re.compile(r"[ \t]*(?:final[ \t]+)?answer[ \t]*[:=][ \t]*", re.IGNORECASE)

_LINE_BREAK = re.compile("(\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029])")
"""Where ``str.splitlines`` breaks lines (as the answer extractors read replies)."""


class AnswerLineStream(AnswerStream):
    """The rest of an ``Answer: <answer>`` line (also ``Final answer:``), as a direct answer
    states it on its last line. A reply without such a line releases nothing here: its whole
    text is the answer, delivered when the run ends.
    """

    def __init__(self) -> None:
        self._line = ""
        """The current line, up to and including the marker once it is seen."""
        self._in_answer = False
        self._held = ""
        """Trailing whitespace of the answer line, released only if more answer follows."""
        self._started = False
        """Whether the answer's first non-blank character has been released."""
        self._done = False

    def feed(self, chunk: str) -> str:
        out: list[str] = []
        for piece in _LINE_BREAK.split(chunk):
            if not piece:
                continue
            if _LINE_BREAK.fullmatch(piece):
                if self._in_answer:
                    self._done = True  # the answer line ended; later lines are not answer
                self._in_answer, self._line, self._held = False, "", ""
                continue
            if self._done:
                continue
            if self._in_answer:
                out.append(self._answer_text(piece))
                continue
            self._line += piece
            m = _ANSWER_LINE.match(self._line)
            if m is not None:
                self._in_answer = True
                out.append(self._answer_text(self._line[m.end():]))
        return "".join(out)

    def _answer_text(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        text = self._held + text
        stripped = text.rstrip()
        self._held = text[len(stripped):]
        return stripped

    def finish(self) -> str:
        return ""

