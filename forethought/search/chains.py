"""The asynchronous tree-search step (see :mod:`forethought.search.stepper`): each proposal
call is a *chain* that scores its children as soon as it returns, and a step proceeds once
a quorum of its chains is in.

Late chains are handed back with the next step if they complete during it, and cancelled
then if not; a child handed back late carries its line's *lag*, so strategies can tell the
search's front (lag 0) from lines that fell behind (:func:`front_open`). The books are kept
in launch order, by the synchronous step's own code (:func:`~forethought.search.ops.read_scores`),
so with equal latencies the asynchronous step is the synchronous one.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from forethought.exceptions import BudgetExceeded
from forethought.search.ops import SearchLog, Spans, read_proposal, read_scores
from forethought.search.protocol import (
    Action,
    Arrivals,
    Flow,
    Outcome,
    Sample,
    cancel,
    launch,
    merge,
    wait,
)
from forethought.search.scorers import Scorer
from forethought.search.task import SearchTask, State

P = TypeVar("P")

GRACE = 0.25
"""How much longer than the quorum took the other chains of a step are waited for: a chain
is late only when it runs past ``(1 + GRACE)`` times the time the first ``proceed_at`` of the
step's chains took, and past :data:`GRACE_MIN_S` more than that time."""
GRACE_MIN_S = 0.01
"""The least extra wait, in seconds: with calls of a few milliseconds (a cache, a local
model), the event loop's own jitter is of the order of the calls."""


@dataclass(kw_only=True, slots=True)
class Child:
    """A child state and its score (``None``: unscored)."""

    state: State
    score: float | None
    lag: int = 0
    """Steps its line is behind the search's front: 0 when it and its ancestors came in
    time; a child handed back one step late has its parent's lag plus one."""


@dataclass(kw_only=True)
class Expansion(Generic[P]):
    """Children of one parent (asynchronously: of one of its proposal calls), scored."""

    parent: P
    children: list[Child]
    late: bool = False
    """Launched by an earlier step (asynchronous mode)."""


def front_open(ready: Sequence[Expansion[P]]) -> bool:
    """Whether the children a step handed back include a state on the search's front (lag
    0) to go on from. Lines that fell behind compete for the next step, but once the front
    has finished they do not prolong the search (synchronously every lag is 0).
    """
    return any(not c.state.final and not c.lag for e in ready for c in e.children)


@dataclass(eq=False)
class _Group(Generic[P]):
    """One parent's expansion in one step."""

    parent: P
    state: State
    width: float
    """Children taken at most (listing proposers: the width asked for)."""
    keep: float
    """Children kept of those (``keep``)."""
    flying: int = 0
    got: int = 0
    kept: int = 0
    seen: set[Hashable] = field(default_factory=set[Hashable])
    level: set[Hashable] | None = None
    """Keys of the step's children (``unique``), shared by its groups."""


@dataclass(eq=False)
class _Cohort:
    """Chains whose completion a step counts towards its quorum."""

    total: int
    done: int = 0


@dataclass(eq=False)
class _Chain(Generic[P]):
    """One proposal call and the scoring of its children."""

    group: _Group[P]
    cohort: _Cohort
    ticket: int = -1
    outcome: Outcome | None = None
    rejected: int = 0
    too_deep: int = 0
    proposed: list[State] = field(default_factory=list[State])
    """The children as :func:`expand` returns them (before ``keep`` and ``unique``)."""
    children: list[State] = field(default_factory=list[State])
    scores: list[list[Outcome | None] | None] = field(
        default_factory=list[list[Outcome | None] | None])
    """Per child: its scoring outcomes (``None`` entries in flight); ``None``: cached."""
    unscorable: set[int] = field(default_factory=set[int])
    """Children whose scoring the budget did not allow."""
    waiting: int = 0
    """Scoring actions in flight."""
    step: int = 0
    lag: int = 0
    """Its parent's lag."""
    tickets: set[int] = field(default_factory=set[int])
    """Its calls in flight."""


class Chains(Generic[P]):
    """The asynchronous steps of one search (the :class:`~forethought.search.stepper.Stepper`
    options, the same meanings).
    """

    def __init__(self, task: SearchTask, log: SearchLog, *, proceed_at: float, scorer: Scorer,
                 cache: dict[Hashable, float | None] | None, unique: bool, keep: int | None,
                 childless: str | None) -> None:
        self.task = task
        self.log = log
        self.proceed_at = proceed_at
        self.scorer = scorer
        self.cache = cache
        self.unique = unique
        self.keep = keep
        self.childless = childless
        self._steps = 0
        self._now = 0.0
        self._pending: set[int] = set()
        self._calls: dict[int, int] = {}
        self._proposals: dict[int, _Chain[P]] = {}
        self._owners: dict[int, tuple[_Chain[P], int, int]] = {}
        self._groups: set[_Group[P]] = set()
        self._incomplete: set[_Chain[P]] = set()
        self._ready: list[_Chain[P]] = []
        self._refusal: BudgetExceeded | None = None
        self._lags: dict[Hashable, int] = {}
        """The lag of each child handed back behind the front (by key)."""

    @property
    def in_flight(self) -> bool:
        """Whether calls of earlier steps are still running (asynchronous mode)."""
        return bool(self._pending)

    @property
    def expected(self) -> int:
        """Children still expected from calls in flight: those asked of proposals still
        running, and those being scored.
        """
        per_call = max(1, self.task.steps_per_call)
        total = sum(len(c.children) - len(c.unscorable) for c in self._incomplete
                    if c.outcome is not None)
        for g in self._groups:
            total += int(min(g.flying * per_call, max(0.0, min(g.width, g.keep) - g.kept)))
        return total

    def stop(self) -> Flow[None]:
        """Cancel what is still in flight (it is charged, and counted in ``stats``)."""
        if not self._pending:
            return
        stopped = yield from cancel(set(self._pending))
        if stopped:
            self.log.stats["cancelled_calls"] += sum(self._calls.get(t, 1) for t in stopped)
        if self._incomplete:
            self.log.stats["late_dropped"] += len(self._incomplete)
        self._pending.clear()
        self._incomplete.clear()
        self._groups.clear()

    def step(self, parents: Sequence[tuple[P, State, int]]) -> Flow[list[Expansion[P]]]:
        """Launch the chains of ``parents``' expansions; return what is ready once the quorum
        of this step's chains (and the grace) is in.
        """
        self._steps += 1
        task = self.task
        per_call = task.steps_per_call
        level: set[Hashable] | None = set() if self.unique else None
        chains: list[_Chain[P]] = []
        actions: list[Action] = []
        for parent, state, width in parents:
            if width <= 0 or state.final:
                continue
            calls = width if per_call <= 1 else math.ceil(width / per_call)
            group = _Group(parent=parent, state=state, level=level, flying=calls,
                           width=float(width) if per_call > 1 else math.inf,
                           keep=math.inf if self.keep is None else self.keep)
            request = task.propose_request(state)
            lag = self._lags.get(task.key(state), 0) if self._lags else 0
            for _ in range(calls):
                actions.append(Sample(request=request, tag="propose"))
                chains.append(_Chain(group=group, cohort=_Cohort(total=0), step=self._steps,
                                     lag=lag))
            self._groups.add(group)
        if chains and self._refusal is None:
            launched = yield from launch(actions)
            self._now = launched.at
            cohort = _Cohort(total=len(chains))
            for chain, ticket in zip(chains, launched.tickets, strict=True):
                chain.ticket, chain.cohort = ticket, cohort
                self._proposals[ticket] = chain
                chain.tickets.add(ticket)
                self._calls[ticket] = 1
            self._pending.update(launched.tickets)
            self._incomplete.update(chains)
        else:  # nothing new: this step waits for the late chains of earlier steps
            for group in {c.group for c in chains}:
                self._groups.discard(group)
            cohort = _Cohort(total=len(self._incomplete))
            for chain in self._incomplete:
                chain.cohort = cohort
        yield from self._until_quorum(cohort)
        yield from self._drop_stale()
        return self._hand_back()

    def _drop_stale(self) -> Flow[None]:
        """Cancel the chains already late at the end of the previous step: a result is
        folded into the next step, no further (so stragglers cannot keep a search going).
        """
        stale = [c for c in self._incomplete if c.step < self._steps]
        if not stale or self._refusal is not None:
            return
        tickets = {t for c in stale for t in c.tickets}
        stopped = yield from cancel(tickets)
        self.log.stats["cancelled_calls"] += sum(self._calls.get(t, 1) for t in stopped)
        self.log.stats["late_dropped"] += len(stale)
        for t in tickets:
            self._pending.discard(t)
            self._calls.pop(t, None)
            self._proposals.pop(t, None)
            self._owners.pop(t, None)
        for chain in stale:
            self._incomplete.discard(chain)
            if chain.outcome is None:  # its proposal was still running
                chain.group.flying -= 1
                if chain.group.flying == 0:
                    self._groups.discard(chain.group)

    def _until_quorum(self, cohort: _Cohort) -> Flow[None]:
        start = self._now
        need = math.ceil(self.proceed_at * cohort.total)
        deadline: float | None = None
        while cohort.done < cohort.total and self._pending:
            if self._refusal is not None:  # the budget is spent: collect what was admitted
                arrivals = yield from wait(set(self._pending), at_least=len(self._pending))
                yield from self._absorb(arrivals)
                continue
            if deadline is None and cohort.done >= need:
                deadline = self._now + max((self._now - start) * GRACE, GRACE_MIN_S)
            if deadline is not None and self._now >= deadline:
                break
            arrivals = yield from wait(self._pending, until=deadline)
            self._now = arrivals.now
            yield from self._absorb(arrivals)

    def _absorb(self, arrivals: Arrivals) -> Flow[None]:
        """File what arrived (in launch order) and launch the scoring of new children."""
        for a in arrivals.items:
            if a.outcome.budget_exceeded and self._refusal is None:
                error = a.outcome.error
                assert isinstance(error, BudgetExceeded)
                self._refusal = error
        actions: list[Action] = []
        owners: list[tuple[_Chain[P], int, int]] = []
        for a in arrivals.items:
            self._pending.discard(a.ticket)
            self._calls.pop(a.ticket, None)
            chain = self._proposals.pop(a.ticket, None)
            if chain is not None:
                chain.tickets.discard(a.ticket)
                self._proposed(chain, a.outcome, actions, owners)
            else:
                chain, child, index = self._owners.pop(a.ticket)
                chain.tickets.discard(a.ticket)
                scores = chain.scores[child]
                assert scores is not None
                scores[index] = a.outcome
                chain.waiting -= 1
            if chain.waiting == 0 and chain.outcome is not None and chain in self._incomplete:
                self._complete(chain)
        if actions:
            launched = yield from launch(actions)
            for owner, ticket, action in zip(owners, launched.tickets, actions, strict=True):
                self._owners[ticket] = owner
                owner[0].tickets.add(ticket)
                self._calls[ticket] = max(action.n, 0) if isinstance(action, Sample) else 1
            self._pending.update(launched.tickets)

    def _proposed(self, chain: _Chain[P], outcome: Outcome, actions: list[Action],
                  owners: list[tuple[_Chain[P], int, int]]) -> None:
        """A proposal returned: its children, as :func:`expand` would keep them, each with
        its scoring launched (unless cached).
        """
        task, group = self.task, chain.group
        chain.outcome = outcome
        group.flying -= 1
        if group.flying == 0:
            self._groups.discard(group)
        for text in outcome.texts:
            proposal = read_proposal(task, self.log, group.state, text)
            chain.rejected += len(proposal.rejected)
            for child in proposal.states:
                if not child.final and child.depth >= task.max_depth:
                    chain.too_deep += 1
                    continue
                if task.steps_per_call > 1:
                    key = task.key(child)
                    if key in group.seen:
                        continue
                    group.seen.add(key)
                group.got += 1
                if group.got > group.width:
                    continue
                chain.proposed.append(child)
                group.kept += 1
                if group.kept > group.keep:
                    continue
                if group.level is not None:
                    key = task.key(child)
                    if key in group.level:
                        continue
                    group.level.add(key)
                self._add_child(chain, child, actions, owners)

    def _add_child(self, chain: _Chain[P], child: State, actions: list[Action],
                   owners: list[tuple[_Chain[P], int, int]]) -> None:
        index = len(chain.children)
        chain.children.append(child)
        if self.cache is not None and self.task.key(child) in self.cache:
            chain.scores.append(None)
            return
        acts = self.scorer.actions(self.task, child)
        slots: list[Outcome | None] = [None] * len(acts)
        chain.scores.append(slots)
        if acts and self._refusal is not None:
            chain.unscorable.add(index)
            return
        for i, act in enumerate(acts):
            actions.append(act)
            owners.append((chain, index, i))
        chain.waiting += len(acts)

    def _complete(self, chain: _Chain[P]) -> None:
        self._incomplete.discard(chain)
        chain.cohort.done += 1
        self._ready.append(chain)

    def _hand_back(self) -> list[Expansion[P]]:
        """The completed chains, in launch order, with the books kept as the synchronous
        step keeps them: first every proposal (per parent), then every score.
        """
        ready = sorted(self._ready, key=lambda c: c.ticket)
        self._ready = []
        late = sum(1 for c in ready if c.step < self._steps)
        if late:
            self.log.stats["late"] += late
        self._book_proposals(ready)
        if any(c.outcome is not None and c.outcome.budget_exceeded for c in ready):
            # Proposals were refused: stop as the synchronous step does, its final
            # children recorded unscored (scores in by then are not used).
            for state in (s for c in ready for s in c.proposed if s.final):
                self.log.add(state, None)
            assert self._refusal is not None
            raise self._refusal
        if self.childless is not None:
            self.log.stats[self.childless] += sum(1 for c in ready if not c.children)
        expansions = self._book_scores(ready)
        if self._refusal is not None:
            raise self._refusal
        return expansions

    def _book_proposals(self, ready: list[_Chain[P]]) -> None:
        log = self.log
        by_group: dict[_Group[P], list[_Chain[P]]] = {}
        for chain in ready:
            by_group.setdefault(chain.group, []).append(chain)
        for chains in by_group.values():
            # The same counters, created the same way, as expand() keeps them.
            merged = merge([c.outcome for c in chains if c.outcome is not None])
            log.stats["proposals"] += len(merged.texts)
            log.failed([merged])
            if merged.texts:
                log.stats["unparseable"] += sum(c.rejected for c in chains)
            too_deep = sum(c.too_deep for c in chains)
            if too_deep:
                log.stats["too_deep"] += too_deep

    def _book_scores(self, ready: list[_Chain[P]]) -> list[Expansion[P]]:
        states: list[State] = []
        spans: Spans = []
        outcomes: list[Outcome] = []
        for chain in ready:
            for i, (child, mine) in enumerate(zip(chain.children, chain.scores, strict=True)):
                if i in chain.unscorable:
                    continue
                states.append(child)
                if mine is None:
                    spans.append(None)
                    continue
                spans.append((len(outcomes), len(mine)))
                outcomes.extend(o if o is not None else Outcome() for o in mine)
        values = iter(read_scores(self.task, self.log, states, spans, outcomes, self.scorer,
                                  self.cache))
        expansions: list[Expansion[P]] = []
        for chain in ready:
            lag = chain.lag + self._steps - chain.step
            children: list[Child] = []
            for i, child in enumerate(chain.children):
                if lag:
                    key = self.task.key(child)
                    self._lags[key] = min(lag, self._lags.get(key, lag))
                if i not in chain.unscorable:
                    children.append(Child(state=child, score=next(values), lag=lag))
                elif child.final:  # as expand() keeps them when the budget ran out
                    self.log.add(child, None)
            expansions.append(Expansion(parent=chain.group.parent, children=children,
                                        late=chain.step < self._steps))
        return expansions
