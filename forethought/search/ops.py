"""The building blocks strategies share: expand states, roll them out, score them, and keep
the books (candidates, counters, the best answer so far).

Each block is a small step machine that strategies call with ``yield from``. A block uses
whatever a batch produced, records it, and then raises :class:`BudgetExceeded` if the budget
ran out during the batch, so a strategy only has to catch that once, around its whole search,
and return :meth:`SearchLog.result` with ``partial=True``.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import Counter
from collections.abc import Generator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import pydantic

from forethought.exceptions import BudgetExceeded
from forethought.search.base import Candidate, Strategy, StrategyResult, validate_options
from forethought.search.progress import current_progress
from forethought.search.protocol import Action, Flow, Outcome, Sample, StepMachine, budget_hit
from forethought.search.scorers import Scorer
from forethought.search.task import Proposal, SearchTask, State

T = TypeVar("T")
Block = Generator[list[Action], list[Outcome], T]
"""A step machine returning ``T``."""


def budget_error(outcomes: list[Outcome]) -> BudgetExceeded:
    """The budget refusal among ``outcomes`` (to re-raise it)."""
    for o in outcomes:
        if isinstance(o.error, BudgetExceeded):
            return o.error
    return BudgetExceeded("budget spent during the search")


@dataclass(kw_only=True)
class SearchLog:
    """The books of one search: every final candidate with its score, and counters.

    Counters (``stats``): ``proposals`` and ``rollouts`` (completions asked for),
    ``unparseable`` (steps or solutions the task's parser rejected), ``scored`` and
    ``unscored`` (states the scorer could not value), ``failed_calls`` (actions that failed for
    another reason than the budget), ``too_deep`` (paths abandoned at ``max_depth``).
    """

    task: SearchTask
    stats: Counter[str] = field(default_factory=Counter[str])
    candidates: list[Candidate] = field(default_factory=list[Candidate])
    first_error: str | None = None
    """The first failure other than the budget, verbatim (a provider's HTTP 400 message...)."""
    _seen: dict[Hashable, Candidate] = field(default_factory=dict[Hashable, Candidate])
    _states: dict[int, State] = field(default_factory=dict[int, State])
    """The final state of each candidate, by ``id(candidate)`` (to verify it later)."""

    def failed(self, outcomes: Sequence[Outcome]) -> None:
        """Count one failed call if any of ``outcomes`` failed for another reason than the
        budget, keeping the first such error's message.
        """
        errors = [o.error for o in outcomes if o.error is not None and not o.budget_exceeded]
        if errors:
            self.stats["failed_calls"] += 1
            if self.first_error is None:
                self.first_error = str(errors[0]) or type(errors[0]).__name__

    def unreadable(self, exc: Exception) -> None:
        """Count a reply the task raised on while reading it, keeping the first error."""
        self.stats["unreadable"] += 1
        if self.first_error is None:
            self.first_error = (f"{type(self.task).__name__} could not read a reply: "
                                f"{type(exc).__name__}: {exc}")

    def add(self, state: State, score: float | None, **meta: Any) -> Candidate:
        """Record a final state, once per distinct state: a state reached again keeps its
        best score (each arrival is a sample, scored on its own) and counts in
        ``meta["samples"]``.
        """
        key = self.task.key(state)
        known = self._seen.get(key)
        if known is not None:
            if score is not None:
                known.score = score if known.score is None else max(known.score, score)
            known.meta["samples"] = known.meta.get("samples", 1) + 1
            candidate = known
        else:
            candidate = Candidate(text=self.task.render(state), answer=state.answer,
                                  score=score, steps=list(state.steps), meta=dict(meta))
            self._seen[key] = candidate
            self._states[id(candidate)] = state
            self.candidates.append(candidate)
        if (progress := current_progress()) is not None:
            progress.note(candidates=len(self.candidates), score=score, answer=state.answer)
        return candidate

    def has_answer(self) -> bool:
        """Whether any candidate so far states an answer."""
        return any(c.answer is not None for c in self.candidates)

    def state_of(self, candidate: Candidate) -> State | None:
        return self._states.get(id(candidate))

    @staticmethod
    def judge(candidate: Candidate, scorer: Scorer, value: float | None) -> None:
        """Record a verifier's ``value`` on ``candidate``: accepted once any arrival of it is."""
        if not scorer.verifies or value is None:
            return
        accepted = scorer.accepts(value)
        candidate.verified = accepted or bool(candidate.verified)

    def get(self, state: State) -> Candidate:
        """The candidate recorded for ``state`` (recorded now, unscored, if it was not)."""
        known = self._seen.get(self.task.key(state))
        return known if known is not None else self.add(state, None)

    def best(self) -> Candidate | None:
        """The best candidate so far: the highest score among scored ones (the first on a
        tie); with none scored, the first of the answer sampled most often.
        """
        scored = [c for c in self.candidates if c.score is not None and c.answer is not None]
        if scored:
            return max(scored, key=lambda c: c.score if c.score is not None else -1.0)
        return majority(self.task, self.candidates,
                        [float(c.meta.get("samples", 1)) for c in self.candidates])

    def result(self, chosen: Candidate | None = None, *, partial: bool = False
               ) -> StrategyResult:
        """The strategy's result; ``chosen`` defaults to :meth:`best`."""
        pick = chosen if chosen is not None else self.best()
        stats: dict[str, int | float] = dict(self.stats)
        stats["candidates"] = len(self.candidates)
        return StrategyResult(answer=None if pick is None else pick.answer,
                              candidates=list(self.candidates), partial=partial,
                              verified=None if pick is None else pick.verified,
                              score=None if pick is None else pick.score, stats=stats,
                              first_error=self.first_error)


def majority(task: SearchTask, candidates: Sequence[Candidate],
             weights: Sequence[float] | None = None) -> Candidate | None:
    """The first candidate of the answer with the most votes (or the largest weight sum)."""
    index = vote(task, [c.answer for c in candidates], weights)
    return None if index is None else candidates[index]


def vote(task: SearchTask, answers: Sequence[str | None],
         weights: Sequence[float] | None = None) -> int | None:
    """The index of the first occurrence of the answer with the most votes (or the largest
    sum of ``weights``), answers compared in the task's normal form; ``None`` if none.
    """
    totals: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        key = task.normalise(answer)
        totals[key] = totals.get(key, 0.0) + (1.0 if weights is None else weights[i])
        first.setdefault(key, i)
    if not totals:
        return None
    top = max(totals.values())
    return min(first[key] for key, total in totals.items() if total == top)


def tally(task: SearchTask, answers: Sequence[str | None]) -> Counter[str]:
    """How many times each normalised answer occurs."""
    return Counter(task.normalise(a) for a in answers if a is not None)


def softmax(values: Sequence[float], temperature: float = 1.0) -> list[float]:
    """``exp(v / t)`` normalised, computed stably."""
    if not values:
        return []
    scaled = [v / temperature for v in values]
    top = max(scaled)
    exps = [math.exp(v - top) for v in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def expand(task: SearchTask, log: SearchLog, states: Sequence[State], widths: Sequence[int]
           ) -> Block[list[list[State]]]:
    """Ask for ``widths[i]`` children of ``states[i]``, all in one batch.

    A proposer that returns one step per call gets ``widths[i]`` calls; one that lists several
    (``task.steps_per_call > 1``) gets as many calls as needed to list that many, and the
    first ``widths[i]`` distinct children are kept. Rejected steps are counted, paths past
    ``max_depth`` without an answer dropped.
    """
    per_call = task.steps_per_call
    plan: list[tuple[int, int]] = []
    actions: list[Action] = []
    for i, (state, width) in enumerate(zip(states, widths, strict=True)):
        if width <= 0 or state.final:
            continue
        calls = width if per_call <= 1 else math.ceil(width / per_call)
        actions.append(Sample(request=task.propose_request(state), n=calls, tag="propose"))
        plan.append((i, width))
    children: list[list[State]] = [[] for _ in states]
    if not actions:
        return children
    outcomes = yield actions
    for (i, width), outcome in zip(plan, outcomes, strict=True):
        texts = outcome.texts  # a new list per access: take it once
        log.stats["proposals"] += len(texts)
        log.failed([outcome])
        got: list[State] = []
        seen: set[Hashable] = set()
        for text in texts:
            proposal = read_proposal(task, log, states[i], text)
            log.stats["unparseable"] += len(proposal.rejected)
            for child in proposal.states:
                if not child.final and child.depth >= task.max_depth:
                    log.stats["too_deep"] += 1
                    continue
                if per_call > 1:
                    key = task.key(child)
                    if key in seen:
                        continue
                    seen.add(key)
                got.append(child)
        children[i] = got[:width] if per_call > 1 else got
    if budget_hit(outcomes):
        for state in (c for group in children for c in group if c.final):
            log.add(state, None)
        raise budget_error(outcomes)
    return children


def read_final(task: SearchTask, log: SearchLog | None, state: State, text: str
               ) -> State | None:
    """``task.parse_rollout(state, text)``; ``None`` also when the task raises on the reply.

    A reply is a model's text: whatever it holds, a task that cannot read it has an unusable
    candidate, not a reason to end the run. The error is counted (``unreadable``) and the
    first one kept in ``log``, so a task's own bug still shows.
    """
    try:
        return task.parse_rollout(state, text)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        if log is not None:
            log.unreadable(exc)
        return None


def read_proposal(task: SearchTask, log: SearchLog | None, state: State, text: str
                  ) -> Proposal:
    """``task.parse_proposal(state, text)``; a task that raises on the reply rejects it
    (see :func:`read_final`).
    """
    try:
        return task.parse_proposal(state, text)
    except Exception as exc:  # noqa: BLE001 - see read_final
        if log is not None:
            log.unreadable(exc)
        return Proposal(rejected=[f"the task could not read the reply: {exc}"])


def rollout(task: SearchTask, log: SearchLog, states: Sequence[State], n: int = 1
            ) -> Block[list[list[State]]]:
    """``n`` complete solutions continuing from each of ``states``, in one batch; replies
    with no usable answer are counted as unparseable.
    """
    actions: list[Action] = [Sample(request=task.rollout_request(s), n=n, tag="rollout")
                             for s in states]
    if not actions:
        return []
    outcomes = yield actions
    finals = read_rollouts(task, log, states, outcomes)
    if budget_hit(outcomes):
        for state in (s for group in finals for s in group):
            log.add(state, None)
        raise budget_error(outcomes)
    return finals


def read_rollouts(task: SearchTask, log: SearchLog, states: Sequence[State],
                  outcomes: Sequence[Outcome]) -> list[list[State]]:
    """The final states in each of ``states``' rollout outcomes, counted in the log."""
    finals: list[list[State]] = []
    for state, outcome in zip(states, outcomes, strict=True):
        texts = outcome.texts
        log.stats["rollouts"] += len(texts)
        log.failed([outcome])
        done: list[State] = []
        for text in texts:
            final = read_final(task, log, state, text)
            if final is None:
                log.stats["unparseable"] += 1
            else:
                done.append(final)
        finals.append(done)
    return finals


Spans = list[tuple[int, int] | None]
"""Where each state's scoring actions sit in a batch (start, count); ``None``: cached."""


def plan_scores(task: SearchTask, states: Sequence[State], scorer: Scorer,
                cache: dict[Hashable, float | None] | None = None
                ) -> tuple[list[Action], Spans]:
    """The actions that score ``states`` (none for one in ``cache``), and where each
    state's are.
    """
    actions: list[Action] = []
    spans: Spans = []
    for state in states:
        if cache is not None and task.key(state) in cache:
            spans.append(None)
            continue
        acts = scorer.actions(task, state)
        spans.append((len(actions), len(acts)))
        actions.extend(acts)
    return actions, spans


def read_scores(task: SearchTask, log: SearchLog, states: Sequence[State], spans: Spans,
                outcomes: Sequence[Outcome], scorer: Scorer,
                cache: dict[Hashable, float | None] | None = None) -> list[float | None]:
    """Each state's score from the outcomes of :func:`plan_scores`' actions; final states
    are recorded as candidates with their scores (and verdicts), fresh scores cached.
    """
    scores: list[float | None] = []
    for state, span in zip(states, spans, strict=True):
        if span is None:
            assert cache is not None
            value = cache[task.key(state)]
        else:
            start, count = span
            mine = list(outcomes[start:start + count])
            value = scorer.read(task, state, mine)
            log.failed(mine)
            log.stats["scored" if value is not None else "unscored"] += 1
            if cache is not None and not any(o.budget_exceeded for o in mine):
                cache[task.key(state)] = value
        scores.append(value)
        if state.final:
            log.judge(log.add(state, value), scorer, value)
    return scores


def score(task: SearchTask, log: SearchLog, states: Sequence[State],
          cache: dict[Hashable, float | None] | None = None, *, scorer: Scorer | None = None
          ) -> Block[list[float | None]]:
    """Score ``states`` with ``scorer`` (default: the task's), in one batch; final states are
    recorded as candidates with their scores. ``cache`` (by :meth:`SearchTask.key`) saves
    re-scoring a state seen before.
    """
    scorer = scorer if scorer is not None else task.effective_scorer()
    actions, spans = plan_scores(task, states, scorer, cache)
    outcomes: list[Outcome] = (yield actions) if actions else []
    scores = read_scores(task, log, states, spans, outcomes, scorer, cache)
    if budget_hit(outcomes):
        raise budget_error(outcomes)
    return scores


def finalise(log: SearchLog, body: Flow[StrategyResult]) -> Flow[StrategyResult]:
    """Run a strategy's search ``body``; when the budget runs out, return the best answer so
    far, marked partial.
    """
    try:
        return (yield from body)
    except BudgetExceeded:
        log.stats["budget_exhausted"] = 1
        return log.result(partial=True)


def verify_choice(task: SearchTask, log: SearchLog, result: StrategyResult
                  ) -> Block[StrategyResult]:
    """Make ``result`` say whether its answer was verified, when the task's final scorer is a
    verifier (the exact verifier, a tool, a judge).

    Candidates no verifier has judged yet (a vote never scores) are verified now, in one
    batch. If the strategy's choice was rejected but another candidate was accepted, the
    accepted one (best scored, then most sampled) becomes the answer: a search never returns
    an answer its own verifier rejected while it holds one the verifier accepted. If every
    candidate was rejected, the strategy's choice stands with ``verified=False`` (status
    ``unverified``). When the budget stops the verification, the result is partial.
    """
    verifier = task.effective_scorer()
    if not verifier.verifies:
        return result
    pending = [state for c in log.candidates if c.answer is not None and c.verified is None
               and (state := log.state_of(c)) is not None]
    if pending:
        try:
            yield from verify_states(task, log, pending, verifier)
        except BudgetExceeded:
            result.partial = True
            log.stats["budget_exhausted"] = 1
    accepted = [c for c in log.candidates if c.verified and c.answer is not None]
    chosen = _chosen(task, log, result.answer)
    if chosen is not None and (chosen.verified or not accepted):
        pick = chosen
    elif accepted:
        pick = max(accepted, key=lambda c: (-1.0 if c.score is None else c.score,
                                            float(c.meta.get("samples", 1))))
        log.stats["verifier_changed_answer"] = 1
    else:
        return result
    result.answer = pick.answer
    result.verified = pick.verified
    result.score = pick.score
    result.stats.update(log.stats)
    return result


def _chosen(task: SearchTask, log: SearchLog, answer: str | None) -> Candidate | None:
    """The candidate behind ``answer``: an accepted one if several give it."""
    if answer is None:
        return None
    key = task.normalise(answer)
    same = [c for c in log.candidates if c.answer is not None and task.normalise(c.answer) == key]
    return next((c for c in same if c.verified), same[0] if same else None)


def verify_states(task: SearchTask, log: SearchLog, states: Sequence[State], verifier: Scorer
                  ) -> Block[None]:
    """Run ``verifier`` on final ``states`` in one batch and record its verdicts; a candidate
    left unscored by the search takes the verifier's score.
    """
    actions: list[Action] = []
    spans: list[tuple[int, int]] = []
    for state in states:
        acts = verifier.actions(task, state)
        spans.append((len(actions), len(acts)))
        actions.extend(acts)
    outcomes: list[Outcome] = (yield actions) if actions else []
    for state, (start, count) in zip(states, spans, strict=True):
        mine = outcomes[start:start + count]
        value = verifier.read(task, state, mine)
        log.stats["verified" if value is not None else "unverifiable"] += 1
        candidate = log.get(state)
        if candidate.score is None:
            candidate.score = value
        log.judge(candidate, verifier, value)
    if budget_hit(outcomes):
        raise budget_error(outcomes)


OptionsT = TypeVar("OptionsT", bound=pydantic.BaseModel)


class SearchStrategy(Strategy, Generic[OptionsT]):
    """A strategy over a :class:`SearchTask`: its options are validated once at construction,
    and its search logs every candidate so :func:`finalise` can return the best so far,
    marked partial, when the budget runs out. Subclasses set ``name`` and ``Options`` and
    write :meth:`_search`.
    """

    options: OptionsT

    def __init__(self, **options: Any) -> None:
        self.options = cast(OptionsT, validate_options(self.name, self.Options, options))

    def steps(self, task: SearchTask) -> StepMachine:
        log = SearchLog(task=task)
        result = yield from finalise(log, self._search(task, log))
        return (yield from verify_choice(task, log, result))

    @abstractmethod
    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        """The search proper, as a step machine returning the chosen result."""
