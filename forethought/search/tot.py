"""Tree of Thoughts: breadth-first and depth-first search over thoughts, with the model
evaluating states by value or by vote.

Yao et al., 2023, "Tree of Thoughts: Deliberate Problem Solving with Large Language Models"
(NeurIPS 2023, arXiv:2305.10601). A thought is one step; the generator proposes several from a
state (one call listing them, or one sample each); the evaluator values each new state
independently (``sure``/``likely``/``impossible`` sampled ``evaluations`` times, weighted
20/1/0.001) or votes across them. BFS (the paper's Algorithm 1, used for the Game of 24 with
breadth b = 5) keeps the b best states per level; DFS (Algorithm 2, used for crosswords)
explores the most promising child first, prunes states valued below a threshold and
backtracks, up to a limit of expansions. Final states are scored by the task's scorer (for the
Game of 24, the exact verifier).
"""

from __future__ import annotations

import random
import re
from collections.abc import Hashable
from typing import ClassVar, Literal

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.beam import rank
from forethought.search.machine import Sample, budget_hit
from forethought.search.ops import (
    Block,
    SearchLog,
    SearchStrategy,
    budget_error,
    expand,
    score,
)
from forethought.search.protocol import Flow
from forethought.search.scorers import Scorer, Staged, ValueScorer
from forethought.search.stepper import Stepper, front_open, proceed_at_option
from forethought.search.task import SearchTask, State

_CHOICE = re.compile(r"best choice is\s*\**\s*(?:choice\s*)?(\d+)", re.IGNORECASE)


def parse_vote(text: str, choices: int) -> int | None:
    """The 0-based choice a vote reply names (``The best choice is 2`` -> 1), or ``None``."""
    found = _CHOICE.findall(text)
    if not found:
        return None
    index = int(found[-1]) - 1
    return index if 0 <= index < choices else None


class _Evaluation(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    proposals: int = pydantic.Field(default=5, ge=1, le=256, strict=True)
    """Thoughts generated per state: samples for a one-step proposer, the first this many
    distinct lines for a proposer that lists several (the paper's Game of 24 used all ~8)."""
    evaluation: Literal["value", "vote", "scorer"] = "value"
    """``value``: each state valued on its own; ``vote``: the model picks the best of all new
    states, ``evaluations`` times; ``scorer``: the task's own scorer (a process reward...)."""
    evaluations: int = pydantic.Field(default=3, ge=1, le=64, strict=True)
    """Value or vote samples per evaluation (the paper: 3 values, 5 votes)."""


def _evaluator(task: SearchTask, evaluation: str, evaluations: int) -> Scorer:
    task_scorer = task.effective_scorer()
    if evaluation == "value":
        final = task_scorer.final if isinstance(task_scorer, Staged) else task_scorer
        return Staged(partial=ValueScorer(samples=evaluations), final=final)
    return task_scorer


def _vote(task: SearchTask, log: SearchLog, states: list[State], evaluations: int
          ) -> Block[list[float | None]]:
    """Each state's share of ``evaluations`` votes (final states are recorded with the task's
    own score, by the caller).
    """
    outcomes = yield [Sample(request=task.vote_request(states), n=evaluations, tag="vote")]
    log.failed(outcomes)
    votes = [0] * len(states)
    counted = 0
    for text in outcomes[0].texts:
        index = parse_vote(text, len(states))
        if index is None:
            log.stats["unparseable_votes"] += 1
            continue
        votes[index] += 1
        counted += 1
    if budget_hit(outcomes):
        raise budget_error(outcomes)
    return [v / counted if counted else None for v in votes]


class BFSOptions(_Evaluation):
    breadth: int = pydantic.Field(default=5, ge=1, le=256, strict=True)
    """States kept per level (the paper's b)."""
    selection: Literal["greedy", "sample"] = "greedy"
    """Keep the best ``breadth`` states, or sample them in proportion to their values."""
    seed: int = pydantic.Field(default=0, ge=-(2**63), le=2**63 - 1, strict=True)
    """Seed of ``selection="sample"``."""
    proceed_at: float = proceed_at_option()
    """Share of a level's calls to wait for (1: all, the synchronous algorithm); below 1 the
    level proceeds without its stragglers, whose states join the next level's selection
    (see docs/search.md, "Asynchronous modes"). Not with ``evaluation="vote"``."""

    @pydantic.model_validator(mode="after")
    def _vote_waits_for_all(self) -> BFSOptions:
        if self.proceed_at < 1 and self.evaluation == "vote":
            raise ValueError(f"proceed_at={self.proceed_at!r} needs evaluation 'value' or "
                             f"'scorer': a vote compares all of a level's states in one call")
        return self


class TreeOfThoughtsBFS(SearchStrategy[BFSOptions]):
    """Tree of Thoughts, breadth-first: per level, generate thoughts from every kept state,
    evaluate the new states, keep the ``breadth`` best.
    """

    name: ClassVar[str] = "tot_bfs"
    Options: ClassVar[type[pydantic.BaseModel]] = BFSOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        o = self.options
        rng = random.Random(f"{o.seed}|{task.question}")
        cache: dict[Hashable, float | None] = {}
        voting = o.evaluation == "vote"
        stepper = Stepper[None](task, log, proceed_at=o.proceed_at, cache=cache, unique=True,
                                scorer=_evaluator(task, o.evaluation, o.evaluations),
                                scored=not voting)
        frontier = [task.root()]
        depth = 0
        while depth < stepper.max_steps:
            ready = yield from stepper.step([(None, s, o.proposals) for s in frontier])
            children = [c.state for e in ready for c in e.children]
            if not children and not stepper.in_flight:
                break
            scores = [c.score for e in ready for c in e.children]
            if voting and children:
                scores = yield from _vote(task, log, children, o.evaluations)
                finals = [c for c in children if c.final]
                if finals:  # votes rank states; final answers still get the task's score
                    yield from score(task, log, finals, cache)
            depth += 1
            log.stats["depth"] = depth
            open_ = [(s, x) for s, x in zip(children, scores, strict=True) if not s.final]
            # Lines that fell behind compete for the frontier while the front goes on, no longer.
            if not front_open(ready) and (log.has_answer() or not (open_ or stepper.in_flight)):
                break
            frontier = self._select([s for s, _ in open_], [x for _, x in open_], rng)
        yield from stepper.stop()
        return log.result()

    def _select(self, states: list[State], scores: list[float | None], rng: random.Random
                ) -> list[State]:
        b = self.options.breadth
        if self.options.selection == "greedy" or len(states) <= b:
            return [s for s, _ in rank(states, scores)][:b]
        weights = [max(x or 0.0, 1e-9) for x in scores]
        chosen: list[State] = []
        pool = list(range(len(states)))
        for _ in range(b):
            pick = rng.choices(pool, [weights[i] for i in pool])[0]
            pool.remove(pick)
            chosen.append(states[pick])
        return chosen


class DFSOptions(_Evaluation):
    breadth: int = pydantic.Field(default=5, ge=1, le=256, strict=True)
    """Children of a state explored at most, best first."""
    threshold: float = pydantic.Field(default=0.05, ge=0, le=1)
    """Prune states valued below this (0.05: every value sample said "likely", or one of
    three said "sure"); the paper's v_th."""
    max_expansions: int = pydantic.Field(default=100, ge=1, le=100_000, strict=True)
    """States expanded at most (the paper's step limit T)."""
    accept: float = pydantic.Field(default=0.8, ge=0, le=1)
    """Stop at the first final state whose score reaches this (1.0 with an exact verifier:
    a verified solution)."""


class TreeOfThoughtsDFS(SearchStrategy[DFSOptions]):
    """Tree of Thoughts, depth-first: expand the most promising state first, prune states
    valued below ``threshold``, backtrack from dead ends, stop at an accepted solution.
    """

    name: ClassVar[str] = "tot_dfs"
    Options: ClassVar[type[pydantic.BaseModel]] = DFSOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Block[StrategyResult]:
        o = self.options
        evaluator = _evaluator(task, o.evaluation, o.evaluations)
        cache: dict[Hashable, float | None] = {}
        visited: set[Hashable] = set()
        stack = [task.root()]
        while stack and log.stats["expansions"] < o.max_expansions:
            state = stack.pop()
            log.stats["expansions"] += 1
            children = (yield from expand(task, log, [state], [o.proposals]))[0]
            fresh = [c for c in children if task.key(c) not in visited]
            visited.update(task.key(c) for c in fresh)
            if not fresh:
                log.stats["dead_ends"] += 1
                continue
            if o.evaluation == "vote":
                scores = yield from _vote(task, log, fresh, o.evaluations)
                finals = [c for c in fresh if c.final]
                if finals:
                    yield from score(task, log, finals, cache)
            else:
                scores = yield from score(task, log, fresh, cache, scorer=evaluator)
            for candidate in log.candidates:
                if candidate.score is not None and candidate.score >= o.accept:
                    log.stats["accepted"] = 1
                    return log.result(candidate)
            ranked = [(s, x) for s, x in rank(fresh, scores) if not s.final]
            kept = [s for s, x in ranked if x >= o.threshold][:o.breadth]
            log.stats["pruned"] += len(ranked) - len(kept)
            stack.extend(reversed(kept))  # the best child is explored next
        return log.result()
