"""The verification agent: a candidate judged against its instance's constraints, formal checks
first, and a :class:`~forethought.search.scorers.Scorer` so any strategy can be guided by it.

For one candidate the agent

1. runs every formal check at once (:func:`~forethought.agents.constraints.check_constraints`:
   z3, sandboxed Python, registered checkers; exact and cheap). A check that does not parse
   or times out is ``unknown``, never ``violated``;
2. asks the model, in one call, only about the constraints without a formal check (and, with
   ``fallback_to_model``, those whose check gave no answer), unless a hard constraint is
   already violated (``ask_model="unless_rejected"``: the candidate is wrong whatever the
   model says);
3. combines both into a :class:`~forethought.agents.constraints.Verdict`: a score in
   -100..100, acceptance, and feedback naming each violated constraint.

If the model call fails, the candidate is *unscored* (the scorer returns ``None``, strategies
rank it below every scored one) and the failure is counted in :attr:`ConstraintScorer.stats`;
the formal part of the verdict is kept for feedback.

As a scorer (:class:`ConstraintScorer`), the verdict becomes a value in [0, 1] that keeps the
verdict's order and puts every accepted candidate above every rejected one (see
:func:`verdict_value`); the scorer is a verifier that accepts exactly what the verdict
accepts. Best-of-N, Tree of Thoughts, beam search, REBASE, particle filtering and MCTS take it
as their value or reward: they become *constraint-guided*.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, ClassVar, Literal

from forethought.agents import prompts
from forethought.agents.constraints import (
    DEFAULT_TIMEOUT_S,
    Constraint,
    ConstraintResult,
    ConstraintSet,
    Status,
    Verdict,
    check_constraints,
)
from forethought.exceptions import BudgetExceeded, RunError, UserError
from forethought.models.base import Model
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.runtime.context import RunContext
from forethought.search.machine import Action, Invoke, Outcome
from forethought.search.scorers import Scorer

if TYPE_CHECKING:
    from forethought.search.task import SearchTask, State

AskModel = Literal["always", "unless_rejected", "never"]

_JUDGEMENT = re.compile(
    r"^\s*(?:[-*\u2022]\s+)?\**[`'\"]?(?P<id>[A-Za-z0-9_][A-Za-z0-9_.:\-]*?)[`'\"]?\**"
    r"\s*[:=]\s*\**"
    r"(?P<status>satisfied|violated|unknown|yes|no|ok|broken|met|unmet)\**\b\s*"
    r"(?:[-\u2013\u2014:,]\s*)?(?P<reason>.*?)\s*$", re.IGNORECASE)
_STATUS: dict[str, Status] = {"satisfied": "satisfied", "yes": "satisfied", "ok": "satisfied",
                              "met": "satisfied", "violated": "violated", "no": "violated",
                              "broken": "violated", "unmet": "violated", "unknown": "unknown"}


def parse_judgements(text: str, constraints: list[Constraint]) -> list[ConstraintResult]:
    """One result per constraint from a judge's reply (``<id>: satisfied|violated|unknown -
    reason`` lines). A constraint the reply does not judge is ``unknown``; the first line
    about a constraint counts.
    """
    wanted = {c.id: c for c in constraints}
    found: dict[str, ConstraintResult] = {}
    for line in text.splitlines():
        m = _JUDGEMENT.match(line)
        if m is None or m.group("id") not in wanted or m.group("id") in found:
            continue
        status = _STATUS[m.group("status").casefold()]
        reason = m.group("reason") or ("the model judged it " + status)
        found[m.group("id")] = ConstraintResult(constraint=wanted[m.group("id")],
                                                status=status, reason=reason, method="model")
    return [found.get(c.id) or ConstraintResult(
        constraint=c, status="unknown", method="model",
        reason="the model gave no judgement of it") for c in constraints]


def verdict_value(verdict: Verdict) -> float:
    """The verdict's score as a scorer's value in [0, 1], accepted candidates first.

    Accepted: ``0.5 + score / 200`` (in [0.5, 1], 1 when every constraint is satisfied).
    Not accepted: ``(score + 100) / 400`` (in [0, 0.5): below 0.25 when a hard constraint is
    violated, from 0.25 when none is but one could not be confirmed). The order of verdict
    scores is kept within each group, and 0.5 is the acceptance threshold.
    """
    if verdict.accepted:
        return 0.5 + verdict.score / 200.0
    return min(0.4999, (verdict.score + 100.0) / 400.0)


@dataclass(kw_only=True, frozen=True)
class Verification:
    """The verification of one candidate."""

    verdict: Verdict
    scored: bool = True
    """``False``: the model call needed for the constraints without a formal check failed
    (the verdict then holds the formal results only, for feedback)."""
    model_calls: int = 0
    error: str | None = None

    @property
    def value(self) -> float | None:
        """The scorer's value (``None`` when unscored)."""
        return verdict_value(self.verdict) if self.scored else None


@dataclass(kw_only=True)
class VerificationAgent:
    """Judges candidates against a :class:`ConstraintSet`: formal checks first, the model for
    the rest (see the module docstring).
    """

    model: Model | None = None
    """The judge model (``None``: the run's model)."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Time limit of each formal check (a check may set its own)."""
    ask_model: AskModel = "unless_rejected"
    """When to ask the model about constraints without a formal check: ``always``,
    ``unless_rejected`` (not when a hard constraint already failed a formal check), or
    ``never`` (they stay unknown, so no candidate with one is accepted)."""
    fallback_to_model: bool = True
    """Also ask the model about constraints whose formal check gave no answer."""
    temperature: float | None = 0.0

    def __post_init__(self) -> None:
        if self.ask_model not in ("always", "unless_rejected", "never"):
            raise UserError(f"ask_model must be 'always', 'unless_rejected' or 'never', got "
                            f"{self.ask_model!r}")
        if not self.timeout_s > 0:
            raise UserError(f"timeout_s must be a positive number of seconds, got "
                            f"{self.timeout_s!r}")

    def judge_request(self, question: str, candidate: str, constraints: list[Constraint],
                      *, instance_id: str = "") -> ModelRequest:
        listed = "\n".join(f"- {c.id} ({c.kind}): {c.text}" for c in constraints)
        user = prompts.JUDGE_USER.format(question=question or "(not given)",
                                         candidate=candidate, constraints=listed)
        return ModelRequest(
            messages=(Message.system(prompts.JUDGE_SYSTEM), Message.user(user)),
            purpose="verify", settings=ModelSettings(temperature=self.temperature),
            metadata={"instance_id": instance_id, "question": question,
                      "candidate": candidate, "constraints": ",".join(c.id for c in constraints)})

    def _to_ask(self, cs: ConstraintSet, formal: list[ConstraintResult]) -> list[Constraint]:
        if self.ask_model == "never":
            return []
        if self.ask_model == "unless_rejected" and any(
                r.status == "violated" and r.constraint.kind == "hard" for r in formal):
            return []
        failed = {r.id for r in formal if r.status == "unknown"} if self.fallback_to_model \
            else set[str]()
        return [c for c in cs if c.check is None or c.id in failed]

    async def averify(self, ctx: RunContext, cs: ConstraintSet, candidate: str, *,
                      question: str = "", node_id: str | None = None) -> Verification:
        """The verification of ``candidate`` against ``cs``.

        Raises:
            BudgetExceeded: the budget ran out before the model call (the formal checks, which
                spend no budget, have run).
        """
        formal = await check_constraints(ctx, cs, candidate, timeout_s=self.timeout_s)
        ask = self._to_ask(cs, formal)
        if not ask:
            return Verification(verdict=Verdict.of(cs, formal))
        request = self.judge_request(question, candidate, ask, instance_id=cs.instance_id)
        try:
            response = await ctx.complete(request, model=self.model, node_id=node_id)
        except BudgetExceeded:
            raise
        except (RunError, OSError) as exc:
            return Verification(verdict=Verdict.of(cs, formal), scored=False, model_calls=1,
                                error=f"{type(exc).__name__}: {exc}")
        judged = parse_judgements(response.text, ask)
        replaced = {r.id for r in judged}
        results = [r for r in formal if r.id not in replaced] + judged
        return Verification(verdict=Verdict.of(cs, results), model_calls=1)


@dataclass(kw_only=True, eq=False)
class ConstraintScorer(Scorer):
    """The verification agent as a scorer of final states: a verifier that accepts what the
    :class:`Verdict` accepts. Partial states are not judged (wrap it in
    :class:`~forethought.search.scorers.Staged` for step-level search).

    ``stats`` counts ``verified`` candidates, ``formal_only`` ones (no model call needed),
    ``model_judged`` ones and ``verifier_failures`` (a model call failed: unscored).
    """

    kind: ClassVar[str] = "constraints"
    verifies: ClassVar[bool] = True
    threshold: ClassVar[float] = 0.5
    constraint_set: ConstraintSet
    agent: VerificationAgent = field(default_factory=VerificationAgent)
    verifications: dict[str, Verification] = field(default_factory=dict[str, Verification])
    """The latest verification of each candidate text."""
    stats: Counter[str] = field(default_factory=Counter[str])

    def accepts(self, score: float) -> bool:
        return score >= self.threshold

    def _exact(self, text: str) -> Verification | None:
        """A verification that needs no repeat: made by formal checks alone (exact)."""
        known = self.verifications.get(text)
        return known if known is not None and known.model_calls == 0 else None

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        if not state.final or state.answer is None or self._exact(state.answer) is not None:
            return []
        run = partial(self.agent.averify, cs=self.constraint_set, candidate=state.answer,
                      question=task.question)
        return [Invoke(fn=lambda ctx: run(ctx), tag="verify")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        if not state.final:
            return None
        if state.answer is None:
            return 0.0  # a final state that states no answer is wrong, and certainly so
        cached = self._exact(state.answer)
        if cached is not None and not outcomes:
            return cached.value
        if not outcomes:
            return None
        if not outcomes[0].ok:
            if not outcomes[0].budget_exceeded:  # it crashed; the search keeps the error
                self.stats["verifier_failures"] += 1
            return None
        verification = outcomes[0].value
        assert isinstance(verification, Verification)
        self.verifications[state.answer] = verification
        self.stats["verified"] += 1
        self.stats["model_judged" if verification.model_calls else "formal_only"] += 1
        if not verification.scored:
            self.stats["verifier_failures"] += 1
        return verification.value

    def cost(self, state: State) -> int:
        return int(any(c.check is None for c in self.constraint_set))

    def last_feedback(self, task: SearchTask, state: State) -> str | None:
        known = self.verifications.get(state.answer or "")
        return None if known is None else known.verdict.feedback

    def verdict(self, answer: str) -> Verdict | None:
        """The latest verdict on ``answer`` (``None``: not verified)."""
        known = self.verifications.get(answer)
        return None if known is None else known.verdict


__all__ = ["ConstraintScorer", "Verification", "VerificationAgent", "parse_judgements",
           "verdict_value"]
