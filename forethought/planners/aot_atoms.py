"""How Atom of Thoughts answers an atomic question: one direct model call, or any Strategy.

An :class:`AtomSolver` turns a self-contained question into an answer. :class:`DirectAnswer`
makes one model call; :class:`StrategyAnswer` hands the question to a registered search
strategy (best-of-N, self-consistency, tree search...) and takes the answer it chose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.runtime.context import RunContext
from forethought.search.base import Strategy
from forethought.search.task import SearchTask, build_task

ANSWER_SYSTEM = """\
Answer the question. Think briefly, then give the final answer alone on the last line as
Answer: <the answer>"""

_ANSWER_LINE = re.compile(r"^\s*(?:final\s+)?answer\s*[:=]\s*(.*?)\s*$", re.IGNORECASE)


def extract_answer(text: str) -> str | None:
    """The last ``Answer: ...`` line of a reply, else the whole reply; ``None`` if empty."""
    for line in reversed(text.splitlines()):
        m = _ANSWER_LINE.match(line)
        if m and m.group(1):
            return m.group(1)
    stripped = text.strip()
    return stripped or None


@dataclass(kw_only=True)
class AtomAnswer:
    """The answer to one atomic question."""

    question: str
    answer: str | None
    """``None`` when no answer could be extracted."""
    partial: bool = False
    """The budget ran out while answering: the answer is the best found so far."""


class AtomSolver(Protocol):
    """Anything that answers a self-contained question through the run context."""

    async def solve(self, ctx: RunContext, question: str, *, node_id: str | None = None
                    ) -> AtomAnswer: ...


@dataclass(kw_only=True)
class DirectAnswer:
    """One model call (``purpose="answer"``, temperature 0) per question."""

    settings: ModelSettings = field(default_factory=lambda: ModelSettings(temperature=0.0))
    """Sampling settings of the call (greedy by default, so the response cache serves
    re-runs)."""

    async def solve(self, ctx: RunContext, question: str, *, node_id: str | None = None
                    ) -> AtomAnswer:
        request = ModelRequest(
            messages=(Message.system(ANSWER_SYSTEM), Message.user(f"Question: {question}")),
            purpose="answer", settings=self.settings, metadata={"question": question})
        response = await ctx.complete(request, node_id=node_id)
        return AtomAnswer(question=question, answer=extract_answer(response.text))


def chain_task(question: str) -> SearchTask:
    """The default task a strategy searches for an atomic question: a generic step-by-step
    solution (the ``chain`` search task).
    """
    return build_task("chain", question)


@dataclass(kw_only=True)
class StrategyAnswer:
    """Answers with a search strategy: ``strategy.arun(ctx, make_task(question))``."""

    strategy: Strategy
    make_task: Callable[[str], Any] = chain_task
    """Builds the strategy's task (a :class:`SearchTask`) from the question."""

    async def solve(self, ctx: RunContext, question: str, *, node_id: str | None = None
                    ) -> AtomAnswer:
        result = await self.strategy.arun(ctx, self.make_task(question), node_id=node_id)
        return AtomAnswer(question=question, answer=result.answer, partial=result.partial)
