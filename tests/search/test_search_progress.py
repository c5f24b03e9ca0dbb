"""A search's progress in its StrategyStep events: candidates and the best score so far, as the
strategy's own books have them after each batch; nothing without a driver."""

from __future__ import annotations

import asyncio

from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, EventBus, StrategyStep
from forethought.search.beam import BeamSearch
from forethought.search.best_of_n import BestOfN
from forethought.search.machine import run_offline
from forethought.search.progress import current_progress, tracking
from forethought.search.self_consistency import SelfConsistency
from tests.search.test_strategies_exact import Toy, task


def steps_of(strategy: BestOfN | BeamSearch | SelfConsistency) -> tuple[list[StrategyStep],
                                                                        float | None]:
    seen: list[Event] = []
    events = EventBus("r")
    events.subscribe(seen.append)
    ctx = RunContext(model=ScriptedModel(Toy().reply), events=events)
    result = asyncio.run(strategy.arun(ctx, task(), node_id="search"))
    return [e for e in seen if isinstance(e, StrategyStep)], result.score


def test_best_of_n_reports_its_best_score_once_the_samples_are_scored() -> None:
    steps, final = steps_of(BestOfN(n=4))
    assert [(s.step, s.actions) for s in steps] == [(1, {"rollout": 1}), (2, {"reward": 4})]
    # After the rollouts nothing is scored yet; after the scoring batch, three distinct
    # answers (A2 was sampled twice) and the top score, which is the result's.
    assert (steps[0].candidates, steps[0].best_score) == (0, None)
    assert (steps[1].candidates, steps[1].best_score, steps[1].best_answer) == (3, 0.95, "2")
    assert final == 0.95


def test_beam_progress_never_goes_down_and_ends_at_the_result() -> None:
    steps, final = steps_of(BeamSearch(width=1, expansion=2))
    scores = [s.best_score for s in steps if s.best_score is not None]
    assert scores == sorted(scores) and scores[-1] == final == 0.95
    assert steps[-1].candidates == 2 and all(s.node_id == "search" for s in steps)


def test_a_vote_has_candidates_but_no_score() -> None:
    steps, final = steps_of(SelfConsistency(n=5))
    assert steps[-1].candidates == 4 and steps[-1].best_score is None and final is None


def test_no_driver_no_progress_record_and_nested_records_are_separate() -> None:
    assert current_progress() is None
    result = run_offline(BestOfN(n=2).steps(task()), Toy())  # by hand: nothing to note into
    assert result.answer is not None and current_progress() is None
    with tracking() as outer:
        with tracking() as inner:
            inner.note(candidates=1, score=0.5, answer="x")
            assert current_progress() is inner
        assert current_progress() is outer and outer.best_score is None
    assert current_progress() is None
