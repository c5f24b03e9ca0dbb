"""The Verifier base, scorer registration and scorer objects in the search planner."""

from __future__ import annotations

import asyncio

import pytest

from forethought import (
    Action,
    Agent,
    Compute,
    Outcome,
    RunContext,
    Scorer,
    ScorerOptions,
    ScriptedModel,
    SearchPlanner,
    SearchTask,
    State,
    ToolScorer,
    UnknownNameError,
    UserError,
    Verifier,
    VerifierScorer,
    register_scorer,
)
from forethought.search import scorers


class Even(Verifier):
    """Accepts even answers; the feedback says what was wrong."""

    kind = "even"

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        return [Compute(fn=lambda: int(state.answer or "1") % 2 == 0, tag="verify")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        return (1.0 if outcomes[0].value else 0.0) if outcomes[0].ok else None

    def feedback(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> str:
        return "" if outcomes[0].value else f"{state.answer} is odd"


def test_the_built_in_verifiers_are_verifiers() -> None:
    assert isinstance(VerifierScorer(), Verifier) and isinstance(ToolScorer(tool="t"), Verifier)
    assert Even.verifies and Even().accepts(1.0) and not Even().accepts(0.99)


def test_verify_judges_one_answer_through_the_context() -> None:
    ctx = RunContext(model=ScriptedModel([]))
    odd = asyncio.run(Even().verify(ctx, "An even number?", "7"))
    assert (odd.accepted, odd.score, odd.feedback) == (False, 0.0, "7 is odd")
    even = asyncio.run(Even().verify(ctx, "An even number?", "8"))
    assert (even.accepted, even.score) == (True, 1.0)
    broken = asyncio.run(Even().verify(ctx, "An even number?", "eight"))
    assert (broken.accepted, broken.score) == (False, None)  # could not tell: not accepted


def test_a_verifier_object_is_the_search_planners_final_scorer() -> None:
    samples = ["Step 1: 3 + 4.\nAnswer: 7", "Step 1: 4 + 4.\nAnswer: 8"]
    model = ScriptedModel(lambda r: samples[len(model.requests) % 2])
    planner = SearchPlanner(strategy={"kind": "best_of_n", "n": 4}, final_scorer=Even())
    result = Agent(model, planner=planner, store=None).run("An even sum?")
    assert (result.output, result.verified, result.status) == ("8", True, "ok")
    only_odd = ScriptedModel(lambda r: samples[0])
    result = Agent(only_odd, planner=SearchPlanner(strategy={"kind": "best_of_n", "n": 2},
                                                  final_scorer=Even()), store=None).run("?")
    assert (result.status, result.verified, result.output) == ("unverified", False, "7")


@pytest.fixture
def scratch_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scorers, "_KINDS", dict(scorers._KINDS))  # pyright: ignore[reportPrivateUsage]


@pytest.mark.usefixtures("scratch_scorers")
def test_register_scorer_names_a_kind_for_recipes() -> None:
    def make(options: ScorerOptions) -> Scorer:
        return Even()

    register_scorer("even", make)
    register_scorer("even", make)  # the same factory again is harmless
    assert isinstance(SearchPlanner(final_scorer="even").final_scorer, Even)
    assert isinstance(scorers.make_scorer({"kind": "even", "samples": 2}), Even)
    with pytest.raises(UserError, match="scorer kind 'even' is taken; pass replace=True"):
        register_scorer("even", lambda o: Even())
    register_scorer("even", lambda o: Even(), replace=True)
    with pytest.raises(UserError, match="scorer kind 'judge' is taken by a built-in scorer"):
        register_scorer("judge", make, replace=True)
    with pytest.raises(UserError, match="invalid scorer kind 'no spaces'"):
        register_scorer("no spaces", make)
    with pytest.raises(UnknownNameError, match=r"unknown scorer 'odd'; valid scorers: .*'even'"):
        scorers.make_scorer("odd")
