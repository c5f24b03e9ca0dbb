"""Early stopping for the sampling strategies: all samples are launched at once, their
outcomes are used as they arrive, and the rest are cancelled once the answer is decided.

- Self-consistency stops when the vote is decided (adaptive consistency): no way the samples
  still in flight could answer would change the majority, ties included (a tie goes to the
  answer sampled first *in launch order*, so a pending sample launched before the leader's
  first one could still win a tie). With a verifier as the final scorer, the decided answer
  is verified while sampling goes on, and sampling stops only if it is accepted: then the
  answer is the one the full vote and its verification would have given, always.
- Best-of-N stops at the first candidate the final scorer, a verifier, accepts. That can
  change the answer: a sample still in flight could have been accepted too, and been the
  one chosen (launched earlier, or judged with a larger share of "Yes").

Either way the result is what the synchronous strategy would return from the samples that
arrived: they are booked in launch order, by the same code, as if only they had been drawn.
Samples cancelled or left unscored are counted (``stats["cancelled_calls"]``,
``stats["dropped"]``). When the budget refuses a sample, nothing stops early: what was
admitted is collected and the result is partial, as it is synchronously.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from forethought.search.ops import (
    SearchLog,
    Spans,
    budget_error,
    read_final,
    read_rollouts,
    read_scores,
)
from forethought.search.protocol import (
    Action,
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


def decided(counts: Mapping[str, int], first: Mapping[str, int], pending: int,
            earliest: int | None) -> str | None:
    """The answer a majority vote over every sample will choose, if the ``pending`` samples
    still to come cannot change it whatever they answer; else ``None``.

    ``counts`` are the votes so far per answer, ``first`` the launch index of each answer's
    first sample; ``earliest`` is the smallest launch index among the pending samples. The
    vote breaks a tie by the first sample in launch order.
    """
    if not counts:
        return None
    leader = min(counts, key=lambda k: (-counts[k], first[k]))
    lead, leader_first = counts[leader], first[leader]
    if pending == 0:
        return leader
    assert earliest is not None
    # The worst case for the leader: every pending sample gives one rival's answer, or an
    # answer not seen yet (whose first sample would be the earliest pending one).
    if pending > lead or (pending == lead and earliest < leader_first):
        return None
    for key, count in counts.items():
        total = count + pending
        if key != leader and (total > lead or (
                total == lead and min(first[key], earliest) < leader_first)):
            return None
    return leader


@dataclass(kw_only=True)
class Sampled:
    """What a stream of rollouts left: the final states booked (launch order) and, with a
    verifier, its verdict on the decided answer's state.
    """

    finals: list[State]
    verdict: tuple[State, float | None] | None = None
    scores: list[float | None] = field(default_factory=list[float | None])


def _rollouts(task: SearchTask, n: int) -> Flow[tuple[range, State]]:
    root = task.root()
    request = task.rollout_request(root)
    launched = yield from launch([Sample(request=request, tag="rollout") for _ in range(n)])
    return launched.tickets, root


def _final(task: SearchTask, root: State, outcome: Outcome) -> State | None:
    texts = outcome.texts
    # The books are kept by read_rollouts (see _book), which counts an unreadable reply.
    return read_final(task, None, root, texts[0]) if texts else None


def _book(task: SearchTask, log: SearchLog, root: State, outcomes: list[Outcome]
          ) -> list[State]:
    """The rollouts' books, as one Sample of them all would have had them."""
    return read_rollouts(task, log, [root], [merge(outcomes)])[0]


def _stop(log: SearchLog, pending: set[int], calls: Mapping[int, int]) -> Flow[None]:
    if not pending:
        return
    stopped = yield from cancel(set(pending))
    if stopped:
        log.stats["cancelled_calls"] += sum(calls.get(t, 1) for t in stopped)
        log.stats["stopped_early"] = 1
    pending.clear()


class _Tally:
    """The vote so far over the samples that arrived."""

    def __init__(self, task: SearchTask, root: State, tickets: range) -> None:
        self.task, self.root, self.tickets = task, root, tickets
        self.outcomes: dict[int, Outcome] = {}
        self.counts: dict[str, int] = {}
        self.first: dict[str, int] = {}
        self.state_of: dict[str, State] = {}

    def add(self, ticket: int, outcome: Outcome) -> None:
        self.outcomes[ticket] = outcome
        final = _final(self.task, self.root, outcome)
        if final is None or final.answer is None:
            return
        key = self.task.normalise(final.answer)
        self.counts[key] = self.counts.get(key, 0) + 1
        index = ticket - self.tickets.start
        if index < self.first.get(key, len(self.tickets)):
            self.first[key], self.state_of[key] = index, final

    def leader(self, pending: set[int]) -> State | None:
        """The first sample of the decided answer, or ``None`` while it is not decided."""
        samples = [t for t in pending if t in self.tickets]
        if not samples:
            return None  # nothing left to save
        key = decided(self.counts, self.first, len(samples), min(samples) - self.tickets.start)
        return None if key is None else self.state_of[key]


def _verdict(task: SearchTask, verifier: Scorer, state: State, outcomes: list[Outcome]
             ) -> tuple[State, float | None]:
    return state, verifier.read(task, state, outcomes)


def until_decided(task: SearchTask, log: SearchLog, n: int, verifier: Scorer | None
                  ) -> Flow[Sampled]:
    """Self-consistency's ``n`` samples, stopped once the vote is decided (and, with a
    ``verifier``, its answer accepted). Raises :class:`BudgetExceeded` as
    :func:`~forethought.search.ops.rollout` does.
    """
    tickets, root = yield from _rollouts(task, n)
    tally = _Tally(task, root, tickets)
    pending = set(tickets)
    checking: tuple[State, range] | None = None
    checks: dict[int, Outcome] = {}
    verdict: tuple[State, float | None] | None = None
    refused = False
    while pending:
        arrivals = yield from wait(pending)
        refused = refused or arrivals.budget_hit
        for a in arrivals.items:
            pending.discard(a.ticket)
            if a.ticket in tickets:
                tally.add(a.ticket, a.outcome)
            else:
                checks[a.ticket] = a.outcome
        if checking is not None and len(checks) == len(checking[1]) and verifier is not None:
            verdict = _verdict(task, verifier, checking[0], [checks[t] for t in checking[1]])
        if verdict is not None and verifier is not None and verdict[1] is not None \
                and verifier.accepts(verdict[1]):
            yield from _stop(log, pending, {})
            break
        if refused or checking is not None or verdict is not None:
            continue  # no early stop now: collect the rest
        leader = tally.leader(pending)
        if leader is None:
            continue
        if verifier is None:
            yield from _stop(log, pending, {})
            break
        acts = verifier.actions(task, leader)
        if acts:  # verified while the sampling goes on
            launched = yield from launch(acts)
            checking = (leader, launched.tickets)
            pending.update(launched.tickets)
        else:
            verdict = _verdict(task, verifier, leader, [])
            if verdict[1] is not None and verifier.accepts(verdict[1]):
                yield from _stop(log, pending, {})
                break
    arrived = [tally.outcomes[t] for t in tickets if t in tally.outcomes]
    finals = _book(task, log, root, arrived)
    if refused:
        for state in finals:
            log.add(state, None)
        raise budget_error(arrived)
    return Sampled(finals=finals, verdict=verdict)


@dataclass(eq=False)
class _Scoring:
    """One sample's final state and the outcomes of its scoring actions."""

    state: State
    outcomes: list[Outcome | None]
    unscorable: bool = False

    @property
    def done(self) -> bool:
        return self.unscorable or all(o is not None for o in self.outcomes)


def until_accepted(task: SearchTask, log: SearchLog, n: int, scorer: Scorer) -> Flow[Sampled]:
    """Best-of-N's ``n`` samples, each scored as it arrives, stopped at the first one the
    verifier ``scorer`` accepts. Raises :class:`BudgetExceeded` as
    :func:`~forethought.search.ops.score` does.
    """
    tickets, root = yield from _rollouts(task, n)
    pending = set(tickets)
    calls: dict[int, int] = {}
    outcomes: dict[int, Outcome] = {}
    scoring: dict[int, _Scoring] = {}
    owners: dict[int, tuple[_Scoring, int]] = {}
    refused = accepted = False
    while pending and not accepted:
        arrivals = yield from wait(pending)
        refused = refused or arrivals.budget_hit
        actions: list[Action] = []
        owned: list[tuple[_Scoring, int]] = []
        done: list[_Scoring] = []
        for a in arrivals.items:
            pending.discard(a.ticket)
            calls.pop(a.ticket, None)
            if a.ticket in owners:
                sample, i = owners.pop(a.ticket)
                sample.outcomes[i] = a.outcome
                if sample.done:
                    done.append(sample)
                continue
            outcomes[a.ticket] = a.outcome
            final = _final(task, root, a.outcome)
            if final is None:
                continue
            acts = scorer.actions(task, final)
            sample = scoring[a.ticket] = _Scoring(state=final, outcomes=[None] * len(acts),
                                                  unscorable=bool(acts) and refused)
            if not acts:
                done.append(sample)
            elif not refused:
                actions.extend(acts)
                owned.extend((sample, i) for i in range(len(acts)))
        accepted = any(_accepts(task, scorer, s) for s in done)
        if actions and not accepted:
            launched = yield from launch(actions)
            for ticket, owner, action in zip(launched.tickets, owned, actions, strict=True):
                owners[ticket] = owner
                calls[ticket] = max(action.n, 0) if isinstance(action, Sample) else 1
            pending.update(launched.tickets)
    yield from _stop(log, pending, calls)
    return _book_scored(task, log, root, tickets, outcomes, scoring, scorer, refused)


def _accepts(task: SearchTask, scorer: Scorer, sample: _Scoring) -> bool:
    if sample.unscorable:
        return False
    value = scorer.read(task, sample.state, [o for o in sample.outcomes if o is not None])
    return value is not None and scorer.accepts(value)


def _book_scored(task: SearchTask, log: SearchLog, root: State, tickets: range,
                 outcomes: dict[int, Outcome], scoring: dict[int, _Scoring], scorer: Scorer,
                 refused: bool) -> Sampled:
    """The samples that completed, booked as the synchronous strategy books them."""
    complete = [t for t in tickets if t in outcomes and (t not in scoring or scoring[t].done)]
    dropped = len(outcomes) - len(complete)
    if dropped:  # sampled, but their scoring was cancelled
        log.stats["dropped"] += dropped
    booked = _book(task, log, root, [outcomes[t] for t in complete])
    states: list[State] = []
    spans: Spans = []
    flat: list[Outcome] = []
    for state, t in zip(booked, [t for t in complete if t in scoring], strict=True):
        sample = scoring[t]
        if sample.unscorable:
            log.add(state, None)
            continue
        states.append(state)
        spans.append((len(flat), len(sample.outcomes)))
        flat.extend(o for o in sample.outcomes if o is not None)
    scores = read_scores(task, log, states, spans, flat, scorer)
    if refused:
        raise budget_error([outcomes[t] for t in complete] + flat)
    return Sampled(finals=states, scores=scores)
