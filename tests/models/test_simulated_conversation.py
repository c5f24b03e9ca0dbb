"""The simulator answers the question asked now when an agent shows it the conversation before
the question (it cannot resolve what a follow-up refers to, and does not pretend to)."""

from __future__ import annotations

from forethought import Agent, ModelRequest, SearchPlanner
from forethought.agents.history import CONTEXT_TEMPLATE
from forethought.models.messages import Message
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.context import CONVERSATION_MARKER, current_part


def test_the_marker_is_the_one_agents_write() -> None:
    assert CONVERSATION_MARKER in CONTEXT_TEMPLATE
    asked = CONTEXT_TEMPLATE.format(context="User: What is 2 * (3 + 4)?\nAssistant: 14",
                                    question="What is 17 * 23?")
    assert current_part(asked) == "What is 17 * 23?"
    assert current_part("What is 2 + 2?") == "What is 2 + 2?"


def test_a_follow_up_is_resolved_from_the_question_asked_now() -> None:
    model = SimulatedModel()
    asked = CONTEXT_TEMPLATE.format(context="User: What is 2 * (3 + 4)?\nAssistant: 14",
                                    question="What is 17 * 23?")
    for request in (ModelRequest(messages=(Message.user("x"),), metadata={"question": asked}),
                    ModelRequest(messages=(Message.user(asked),))):
        reference = model.reference(request)
        assert reference is not None and reference.answer == "391"


def test_a_conversation_with_the_simulator_answers_each_question() -> None:
    agent = Agent("simulated", planner=SearchPlanner(strategy={"kind": "self_consistency",
                                                              "n": 5}), store=None)
    conv = agent.chat()
    assert conv.run("What is 2 * (3 + 4)?").answer == "14"
    assert conv.run("What is 17 * 23?").answer == "391"
