"""One step of a tree search: expand states, score their children, hand back what is ready.

Beam search, REBASE, particle filtering and Tree of Thoughts BFS all repeat the same step:
ask for children of some states, score each child, then select among the scored children.
:class:`Stepper` runs that step in one of two modes.

- ``proceed_at=1`` (the default): the synchronous step, one batch of proposals then one batch
  of scores (:func:`~forethought.search.ops.expand` and :func:`~forethought.search.ops.score`).
  The step waits for its slowest call.
- ``proceed_at=q < 1``: the asynchronous step. Each proposal call is a *chain*: as soon as it
  returns, its children's scoring calls are launched, without waiting for the other
  proposals. The step ends once a share ``q`` of its chains have completed and every other
  chain has either completed too or run :data:`GRACE` longer than it took those (so with
  equal latencies nothing is late; see :data:`GRACE_MIN_S` too). Chains still running then
  are *late*: if they complete during the next step, their scored children are handed back
  with that step's own, one step behind them (their *lag* is one more than their parent's);
  if not, they are cancelled then. Strategies rank late children with the others, but end
  when the *front* (the children of lag 0) has finished: a line that fell behind competes
  while the search goes on and never prolongs it (:func:`front_open`). A strategy ends by
  :meth:`Stepper.stop`, which cancels what is still in flight.

Whatever the mode, the children handed back are in launch order and the search log's books
(counters, candidates, verdicts, the score cache) are kept in that order, as the synchronous
step keeps them: when every chain of every step completes in time, the asynchronous mode
makes the same calls and returns the same children as the synchronous one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar

import pydantic

from forethought.exceptions import UserError
from forethought.search.chains import GRACE, GRACE_MIN_S, Chains, Child, Expansion, front_open
from forethought.search.ops import SearchLog, expand, score
from forethought.search.protocol import Flow
from forethought.search.scorers import Scorer
from forethought.search.task import SearchTask, State

__all__ = ["GRACE", "GRACE_MIN_S", "Child", "Expansion", "Stepper", "front_open",
           "proceed_at_option"]

P = TypeVar("P")

def proceed_at_option() -> Any:
    """The ``proceed_at`` option of the strategies that step (1, the synchronous algorithm, by
    default; shown in a strategy's repr only when set).
    """
    return pydantic.Field(default=1.0, gt=0, le=1, strict=True, repr=False)


class Stepper(Generic[P]):
    """Runs the steps of one search (see the module). ``scorer`` defaults to the task's;
    ``cache`` saves re-scoring a state seen before; ``unique`` drops a step's children equal
    to an earlier one of the same step; ``keep`` keeps at most that many children per parent;
    ``scored=False`` hands children back unscored (synchronous mode only); ``childless``
    names a counter of the expansions left without a child (kept between the proposals' and
    the scores' counters, in the order a strategy's books always had them).
    """

    def __init__(self, task: SearchTask, log: SearchLog, *, proceed_at: float = 1.0,
                 scorer: Scorer | None = None, cache: dict[Hashable, float | None] | None = None,
                 unique: bool = False, keep: int | None = None, scored: bool = True,
                 childless: str | None = None) -> None:
        if not 0 < proceed_at <= 1:
            raise UserError(f"proceed_at must be in (0, 1], got {proceed_at!r}")
        if proceed_at < 1 and not scored:
            raise UserError("an asynchronous step (proceed_at < 1) scores each child as it "
                            "comes; it cannot hand children back unscored")
        self.task = task
        self.log = log
        self.proceed_at = proceed_at
        self.scorer = scorer if scorer is not None else task.effective_scorer()
        self.cache = cache
        self.unique = unique
        self.keep = keep
        self.scored = scored
        self.childless = childless
        self._chains: Chains[P] | None = None if proceed_at >= 1 else Chains(
            task, log, proceed_at=proceed_at, scorer=self.scorer, cache=cache, unique=unique,
            keep=keep, childless=childless)

    @property
    def max_steps(self) -> int:
        """A bound on a search's steps: its depth limit when synchronous (each step goes one
        step deeper); asynchronously four times it, a bound for lines that fell behind.
        """
        return self.task.max_depth * (1 if self._chains is None else 4)

    @property
    def in_flight(self) -> bool:
        """Whether calls of earlier steps are still running (asynchronous mode)."""
        return self._chains is not None and self._chains.in_flight

    @property
    def expected(self) -> int:
        """Children still expected from calls in flight (asynchronous mode)."""
        return 0 if self._chains is None else self._chains.expected

    def step(self, parents: Sequence[tuple[P, State, int]]) -> Flow[list[Expansion[P]]]:
        """Expand each ``(parent, state, width)``: ``width`` children of ``state``, scored.
        Returns the expansions ready, in launch order (late ones of earlier steps first).
        """
        if self._chains is not None:
            return (yield from self._chains.step(parents))
        return (yield from self._batch(parents))

    def stop(self) -> Flow[None]:
        """Cancel what is still in flight (it is charged, and counted in ``stats``)."""
        if self._chains is not None:
            yield from self._chains.stop()

    # --- synchronous ------------------------------------------------------------------------

    def _batch(self, parents: Sequence[tuple[P, State, int]]) -> Flow[list[Expansion[P]]]:
        task, log = self.task, self.log
        states = [s for _, s, _ in parents]
        groups = yield from expand(task, log, states, [w for _, _, w in parents])
        if self.keep is not None:
            groups = [g[:self.keep] for g in groups]
        if self.unique:
            seen: set[Hashable] = set()
            kept: list[list[State]] = []
            for group in groups:
                kept.append([])
                for child in group:
                    key = task.key(child)
                    if key not in seen:
                        seen.add(key)
                        kept[-1].append(child)
            groups = kept
        if self.childless is not None:
            log.stats[self.childless] += sum(1 for g in groups if not g)
        children = [c for g in groups for c in g]
        scores: list[float | None] = [None] * len(children)
        if self.scored:
            scores = yield from score(task, log, children, self.cache, scorer=self.scorer)
        values = iter(scores)
        return [Expansion(parent=p, children=[Child(state=c, score=next(values)) for c in g])
                for (p, _, _), g in zip(parents, groups, strict=True)]
