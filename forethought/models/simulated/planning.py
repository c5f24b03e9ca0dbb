"""Planning instances in the simulator: plans that neglect constraints, refinement with
feedback, constraint extraction, constraint judgements and complexity ratings.

A :class:`SimulatedPlanTask` knows an instance's constraints (as the JSON a constraint agent
should write), a few plausible constraints it does not have (*decoys*), plans a model might
write, and an *oracle* that says which constraints, true or decoy, a plan violates (for
NATURAL PLAN: the exact checkers; see ``forethought.tasks.natural_plan.simulated``). The
simulator stays domain-free: it never reads a plan, it only asks the oracle.

The behaviour, per request purpose (every rate is a :class:`Policy` parameter):

- ``rollout``/``propose`` (a plan): each of the instance's C constraints is neglected with
  probability ``plan_error``, independently, so a plan is valid with probability
  ``(1 - plan_error) ** C``: the error rate rises with the constraint count. With nothing
  neglected the plan is the reference; otherwise it is the known plan whose violations are
  closest to the neglected set (ties drawn at random), never a valid one. The default
  ``plan_error = 0.075`` is the maximum-likelihood fit of that formula to Gemini 1.5 Pro's
  published five-shot answers on the 300 NATURAL PLAN instances in the data (valid: 63 / 31 /
  33 of 100; the fit predicts 54 / 32 / 35).
- ``refine``: as a plan, but a constraint the feedback names as violated is neglected only
  with probability ``plan_error * (1 - repair_rate)``, and a named decoy is avoided when a
  known plan allows it. Feedback helps exactly as far as it is right.
- ``constraints`` (extraction, JSON): each constraint is omitted with probability
  ``extract_omission``, written without its formal check with probability
  ``1 - extract_formal``; one decoy is added with probability ``extract_hallucination``; the
  whole reply is malformed (a check kind that does not exist) with probability
  ``extract_invalid``, and a repair turn is an independent draw.
- ``verify`` (judging constraints by the model): the oracle's truth for each listed
  constraint, flipped with the judge's error rates (``judge_fpr`` on a violated constraint,
  ``judge_fnr`` on a satisfied one); an id it does not know is ``unknown``.
- ``complexity``: ``1 + 9 r`` rounded, with ``r`` the true difficulty ``1 - (1 -
  plan_error) ** C`` plus normal noise of deviation ``rating_noise``, clipped to [0, 1].
- ``judge``, ``score``, ``step``, ``value``, ``vote``: a plan is right when it violates no
  constraint of the instance (the oracle), judged with the judge's error rates.

Samples are independent given the instance; real models' mistakes are more correlated than
that, so the simulator overstates what plain resampling gains (best-of-N with a perfect
verifier most of all).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.simulated.answers import vote_reply
from forethought.models.simulated.task import SimulatedTask

if TYPE_CHECKING:
    from forethought.models.simulated.policy import Policy

PLAN_PURPOSES = frozenset({"rollout", "propose", "refine", "constraints", "verify",
                           "complexity", "judge", "score", "step", "value", "vote"})
"""The purposes this module answers for a :class:`SimulatedPlanTask`."""
AGENT_PURPOSES = frozenset({"constraints", "verify", "complexity"})
"""Purposes of the PlanGEN agents, answered for any instance (see :func:`agent_reply`)."""

_NAMED = re.compile(r"^\s*-\s*\[(?:hard|soft)\]\s*([A-Za-z0-9_][A-Za-z0-9_.:\-]*):",
                    re.MULTILINE)
_PHRASES = ("I went through the constraints one by one.", "Checking each requirement.",
            "Working through the schedule.")


@dataclass(kw_only=True, frozen=True)
class PlanConstraint:
    """A constraint as the simulator writes it when asked to extract constraints."""

    id: str
    spec: str
    """A JSON object in the constraint-set format (id, text, kind, check)."""

    @property
    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.spec)
        return loaded


Oracle = Callable[[str], frozenset[str]]
"""``oracle(plan)``: the ids (of constraints and decoys) that ``plan`` violates."""


@dataclass(kw_only=True, frozen=True)
class SimulatedPlanTask(SimulatedTask):
    """A planning instance the simulator knows: ``answer`` is the reference plan."""

    constraints: tuple[PlanConstraint, ...] = ()
    decoys: tuple[PlanConstraint, ...] = ()
    """Plausible constraints the instance does not have (hallucinated at extraction)."""
    plans: tuple[str, ...] = ()
    """Other plans a model might write (wrong ones, and other valid ones)."""
    oracle: Oracle | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.oracle is None:
            raise UserError(f"SimulatedPlanTask {self.id!r} needs an oracle (plan -> the ids "
                            f"of the constraints it violates)")
        ids = [c.id for c in (*self.constraints, *self.decoys)]
        if len(set(ids)) != len(ids):
            raise UserError(f"SimulatedPlanTask {self.id!r}: constraint and decoy ids must be "
                            f"distinct, got {ids!r}")

    @property
    def true_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.constraints)

    def violated(self, plan: str) -> frozenset[str]:
        assert self.oracle is not None
        return self.oracle(plan)

    def valid(self, plan: str) -> bool:
        return not (self.violated(plan) & self.true_ids)


def true_difficulty(policy: Policy, task: SimulatedPlanTask) -> float:
    """The chance that one plan is wrong: ``1 - (1 - plan_error) ** C``."""
    return 1.0 - (1.0 - policy.plan_error) ** len(task.constraints)


def _candidate(request: ModelRequest) -> str:
    return request.metadata.get("candidate", "")


def _last_user(request: ModelRequest) -> str:
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


def choose_plan(task: SimulatedPlanTask, neglected: frozenset[str], avoid: frozenset[str],
                rng: random.Random) -> str:
    """The plan whose violations of true constraints are closest to ``neglected`` (and that
    violates as few ``avoid`` decoys as it can); with nothing neglected and no decoy in the
    way, the reference plan. A neglected constraint is never met by a valid plan.
    """
    true = task.true_ids
    if not neglected and not (task.violated(task.answer) & avoid):
        return task.answer
    best: list[str] = []
    best_distance = None
    for plan in (task.answer, *task.plans):
        broken = task.violated(plan)
        mine = broken & true
        if neglected and not mine:
            continue
        distance = len(mine ^ neglected) + len(broken & avoid)
        if best_distance is None or distance < best_distance:
            best, best_distance = [plan], distance
        elif distance == best_distance:
            best.append(plan)
    return rng.choice(best) if best else task.answer


def _plan(policy: Policy, task: SimulatedPlanTask, rng: random.Random,
          named: frozenset[str] = frozenset()) -> str:
    fixed = policy.plan_error * (1.0 - policy.repair_rate)
    neglected = frozenset(c.id for c in task.constraints
                          if rng.random() < (fixed if c.id in named else policy.plan_error))
    decoys = frozenset(d.id for d in task.decoys) & named
    return choose_plan(task, neglected, decoys, rng)


def named_in_feedback(text: str) -> frozenset[str]:
    """The constraint ids a verifier's feedback lists as violated (``- [hard] id: ...``
    lines before "Could not be checked:").
    """
    violated = text.split("Could not be checked:", 1)[0]
    return frozenset(_NAMED.findall(violated))


def _extraction(policy: Policy, task: SimulatedPlanTask, rng: random.Random) -> str:
    if rng.random() < policy.extract_invalid:
        first = task.constraints[0].data if task.constraints else {"id": "x", "text": "x"}
        broken = {**first, "check": {"kind": "prolog", "rule": "holds(plan)."}}
        return json.dumps({"constraints": [broken]})
    out: list[dict[str, Any]] = []
    for c in task.constraints:
        if rng.random() < policy.extract_omission:
            continue
        out.append(_written(policy, c, rng))
    if task.decoys and rng.random() < policy.extract_hallucination:
        out.insert(rng.randrange(len(out) + 1), _written(policy, rng.choice(task.decoys), rng))
    return json.dumps({"constraints": out})


def _written(policy: Policy, c: PlanConstraint, rng: random.Random) -> dict[str, Any]:
    data = c.data
    if rng.random() >= policy.extract_formal:
        data.pop("check", None)
    return data


def _judgements(policy: Policy, task: SimulatedPlanTask, request: ModelRequest,
                rng: random.Random) -> str:
    ids = [i for i in request.metadata.get("constraints", "").split(",") if i]
    known = {c.id for c in (*task.constraints, *task.decoys)}
    broken = task.violated(_candidate(request))
    fpr, fnr = policy.judge_error_rates(task.difficulty)
    lines: list[str] = []
    for cid in ids:
        if cid not in known:
            lines.append(f"{cid}: unknown - I cannot tell what this requires")
            continue
        bad = cid in broken
        says_bad = (rng.random() >= fpr) if bad else (rng.random() < fnr)
        lines.append(f"{cid}: violated - the plan breaks it" if says_bad else
                     f"{cid}: satisfied")
    return "\n".join(lines)


def rating_reply(policy: Policy, difficulty: float, rng: random.Random) -> str:
    r = min(1.0, max(0.0, difficulty + rng.gauss(0.0, policy.rating_noise)))
    return f"Complexity: {1 + round(9 * r)}\nReason: how many requirements must hold at once."


def _graded(policy: Policy, task: SimulatedPlanTask, request: ModelRequest,
            rng: random.Random) -> str:
    from forethought.models.simulated.multistep import reward, verdict

    purpose = request.purpose
    if purpose == "vote":
        return vote_reply(_last_user(request), lambda block: any(
            task.valid(p) for p in (task.answer, *task.plans) if p.strip() and p in block),
            policy.judge_error_rates(task.difficulty)[0], rng,
            "Comparing the plans, choice {pick} looks the most sound.")
    good = task.valid(_candidate(request) or _last_user(request))
    if purpose == "judge":
        fpr, fnr = policy.judge_error_rates(task.difficulty)
        accept = rng.random() >= fnr if good else rng.random() < fpr
        return ("Yes\nThe plan respects every requirement." if accept
                else "No\nThe plan breaks a requirement.")
    if purpose == "value":
        return f"Considering the plan.\n{verdict(policy, good, task.difficulty, rng)}"
    return reward(policy, good, task.difficulty, rng)  # "score" and "step"


def plan_reply(policy: Policy, request: ModelRequest, task: SimulatedPlanTask,
               rng: random.Random) -> str:
    """The reply to ``request`` about a planning instance (see the module docstring)."""
    purpose = request.purpose
    if purpose in ("rollout", "propose"):
        return f"{rng.choice(_PHRASES)}\n\n{_plan(policy, task, rng)}"
    if purpose == "refine":
        named = named_in_feedback(_last_user(request))
        return f"I corrected the plan.\n\n{_plan(policy, task, rng, named)}"
    if purpose == "constraints":
        return _extraction(policy, task, rng)
    if purpose == "verify":
        return _judgements(policy, task, request, rng)
    if purpose == "complexity":
        return rating_reply(policy, true_difficulty(policy, task), rng)
    return _graded(policy, task, request, rng)


def agent_reply(policy: Policy, request: ModelRequest, task: SimulatedTask | None,
                rng: random.Random) -> str:
    """The PlanGEN agents' requests about an instance that is not a planning one: no
    constraints to extract (the simulator knows none: the caller runs unguided), every
    constraint ``unknown``, and a rating from the instance's difficulty.
    """
    if request.purpose == "constraints":
        return json.dumps({"constraints": []})
    if request.purpose == "verify":
        ids = [i for i in request.metadata.get("constraints", "").split(",") if i]
        return "\n".join(f"{i}: unknown - I cannot check this" for i in ids)
    return rating_reply(policy, 0.5 if task is None else task.difficulty, rng)


__all__ = ["AGENT_PURPOSES", "PLAN_PURPOSES", "Oracle", "PlanConstraint", "SimulatedPlanTask",
           "agent_reply", "choose_plan", "named_in_feedback", "plan_reply", "true_difficulty"]
