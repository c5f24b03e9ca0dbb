"""Iterative refinement: a candidate the verifier rejected goes back to the proposer with the
verifier's feedback, for up to ``rounds`` rounds, until one is accepted.

PlanGEN (Parmar et al., 2025, arXiv:2502.16111) calls this iterative verification: the
verification agent's feedback names what a plan gets wrong, and the plan is regenerated with
it. Self-Refine (Madaan et al., 2023, arXiv:2303.17651) is the same loop with the model as its
own critic. Feedback is only as good as the verifier that writes it: an exact checker names
the constraint that failed; a model judge only says "wrong".

Two forms, one mechanism:

- :func:`refine`, a block any strategy can run with ``yield from`` after its search;
- :class:`Refine` (registered as ``refine``), a strategy that runs another strategy and then
  refines its best rejected candidates: ``{kind: refine, strategy: {kind: best_of_n, n: 4},
  rounds: 3}``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar, cast

import pydantic

from forethought._options import Spec, nested, split_spec
from forethought.exceptions import UserError
from forethought.search.base import Candidate, Strategy, StrategyResult, strategy_class
from forethought.search.machine import Action, Sample, budget_hit
from forethought.search.ops import (
    Block,
    SearchLog,
    SearchStrategy,
    budget_error,
    read_final,
    score,
)
from forethought.search.protocol import Flow
from forethought.search.scorers import Scorer
from forethought.search.task import SearchTask, State


def _done(scorer: Scorer, candidate: Candidate, threshold: float) -> bool:
    if scorer.verifies:
        return bool(candidate.verified)
    return candidate.score is not None and candidate.score >= threshold


def _feedback(task: SearchTask, scorer: Scorer, state: State, candidate: Candidate) -> str:
    written = scorer.last_feedback(task, state)
    if written:
        return written
    shown = "unscored" if candidate.score is None else f"scored {candidate.score:.2f}"
    return (f"The answer {candidate.answer!r} was judged wrong ({shown}); the checker gave "
            f"no details. Check every requirement of the task again.")


def refine(task: SearchTask, log: SearchLog, *, rounds: int, width: int = 1,
           threshold: float = 0.9) -> Block[int]:
    """Refine the best rejected candidates of ``log`` for up to ``rounds`` rounds; returns the
    rounds run.

    Each round takes the ``width`` best-scored candidates that are not yet done (accepted by
    the task's final scorer when it is a verifier, else scored at least ``threshold``) and not
    refined before, asks the proposer for a corrected answer with the scorer's feedback on
    each (:meth:`SearchTask.refine_request`), and scores the replies like any candidate. It
    stops as soon as a candidate is done, or when nothing is left to refine.
    """
    scorer = task.effective_scorer()
    refined: set[Hashable] = set()
    for r in range(rounds):
        if any(_done(scorer, c, threshold) for c in log.candidates):
            break
        pool = [(c, s) for c in log.candidates if c.answer is not None
                and (s := log.state_of(c)) is not None and task.key(s) not in refined]
        pool.sort(key=lambda p: -1.0 if p[0].score is None else p[0].score, reverse=True)
        picked = pool[:width]
        if not picked:
            break
        actions: list[Action] = []
        for candidate, state in picked:
            refined.add(task.key(state))
            request = task.refine_request(state, _feedback(task, scorer, state, candidate))
            actions.append(Sample(request=request, n=1, tag="refine"))
        outcomes = yield actions
        log.stats["refine_rounds"] = r + 1
        fresh: list[State] = []
        for outcome in outcomes:
            log.failed([outcome])
            for text in outcome.texts:
                log.stats["refinements"] += 1
                state = read_final(task, log, task.root(), text)
                if state is None:
                    log.stats["unparseable"] += 1
                else:
                    fresh.append(state)
        if budget_hit(outcomes):
            for state in fresh:
                log.add(state, None, round=r + 1)
            raise budget_error(outcomes)
        if fresh:
            yield from score(task, log, fresh)
            for state in fresh:
                log.get(state).meta.setdefault("round", r + 1)
    return int(log.stats["refine_rounds"])


def build_search_strategy(spec: Spec | Strategy) -> SearchStrategy[Any]:
    """The strategy ``spec`` names, which must search a :class:`SearchTask` with a shared log
    (every registered search strategy does).
    """
    if isinstance(spec, Strategy):
        strategy = spec
    else:
        kind, options = split_spec(spec, "strategy")
        strategy = strategy_class(kind).from_options(options)
    if not isinstance(strategy, SearchStrategy):
        raise UserError(f"strategy {strategy!r} cannot be refined: it is not a search over a "
                        f"SearchTask")
    return cast(SearchStrategy[Any], strategy)


class RefineOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    strategy: Spec = "best_of_n"
    """The strategy whose candidates are refined: a name or ``{kind: ..., <options>}``."""
    rounds: int = pydantic.Field(default=3, ge=1, le=50, strict=True)
    """Refinement rounds at most (PlanGEN's k)."""
    width: int = pydantic.Field(default=1, ge=1, le=64, strict=True)
    """Rejected candidates refined per round (the best-scored first)."""
    threshold: float = pydantic.Field(default=0.9, ge=0, le=1)
    """When the final scorer is not a verifier: the score at which a candidate is good
    enough to stop refining (a verifier's own acceptance is used otherwise)."""

    @pydantic.field_validator("strategy")
    @classmethod
    def _strategy(cls, spec: Spec) -> Spec:
        with nested(name_at=("kind",) if isinstance(spec, dict) else ()):
            build_search_strategy(spec)
        return spec


class Refine(SearchStrategy[RefineOptions]):
    """Run ``strategy``, then refine its best rejected candidates with the verifier's feedback
    for up to ``rounds`` rounds.

    Calls: the inner strategy's, plus ``width`` proposals and their scores per round.
    """

    name: ClassVar[str] = "refine"
    Options: ClassVar[type[pydantic.BaseModel]] = RefineOptions

    def __init__(self, **options: Any) -> None:
        given = options.get("strategy")
        if isinstance(given, Strategy):  # built in code: any search strategy, registered or not
            super().__init__(**{k: v for k, v in options.items() if k != "strategy"})
            self.inner = build_search_strategy(given)
        else:
            super().__init__(**options)
            self.inner = build_search_strategy(self.options.strategy)

    def __repr__(self) -> str:
        o = self.options
        return f"Refine(strategy={self.inner!r}, rounds={o.rounds}, width={o.width})"

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        # The inner search logs into the same books, so refinement sees every candidate.
        result = yield from self.inner._search(task, log)  # pyright: ignore[reportPrivateUsage]
        o = self.options
        rounds = yield from refine(task, log, rounds=o.rounds, width=o.width,
                                   threshold=o.threshold)
        return log.result() if rounds else result
