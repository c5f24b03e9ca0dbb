"""The question asked now, when an agent shows the conversation before it."""

from __future__ import annotations

CONVERSATION_MARKER = "The question to answer now (it may refer to the conversation above):"
"""The line an agent puts before the question when it shows the planner the conversation so
far (``forethought.agents.history.CONTEXT_TEMPLATE``; a test checks that they agree)."""


def current_part(text: str) -> str:
    """``text`` without the conversation before it, if an agent prefixed one: the simulator
    answers the question asked now (it cannot resolve what a follow-up refers to).
    """
    head, marker, question = text.rpartition(CONVERSATION_MARKER)
    del head
    return question.strip() if marker else text
