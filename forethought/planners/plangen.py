"""The plangen planner: constraint, verification and selection agents around inference-time
search (PlanGEN, Parmar et al., 2025, arXiv:2502.16111), with formal checks where they exist.

For each question:

1. **Constraints.** The task's own (NATURAL PLAN's parser supplies exact ones), or the
   constraint agent's (a model writes them as data, formal checks where it can, one repair
   turn). Without a usable set the instance runs *unguided* (scored by ``unguided_scorer``),
   and a :class:`~forethought.runtime.events.ConstraintsExtracted` event says why.
2. **Verification.** The verification agent becomes the task's final scorer, so whatever
   strategy runs is constraint-guided, and its result says whether a verifier accepted it.
3. **Selection.** A fixed ``strategy`` runs as given (with ``refine`` rounds of feedback);
   otherwise the selection agent rates the instance's complexity, chooses an arm with its
   bandit (a :class:`~forethought.runtime.events.SelectionDecision` event shows every arm's
   score), runs it, and learns the reward. *Mixture of Algorithms*: while the best answer's
   verified score is under ``mixture.threshold`` and the budget allows, it chooses again
   among the arms not yet tried. The best verified answer wins; a budget that runs out
   returns the best so far, marked partial.

Recipe::

    planner:
      kind: plangen
      task: natural_plan_calendar
      arms:
        - {kind: formalise_solve}
        - {kind: best_of_n, name: zero_shot, n: 1}
        - {kind: best_of_n, n: 8, refine: 2}
      selection: {method: ucb, cost_weight: 0.25}
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import pydantic

from forethought._options import split_spec, validate_options
from forethought.agents.constraint_agent import ConstraintAgent, instance_key
from forethought.agents.constraints import ConstraintSet
from forethought.agents.formalise import FormaliseSolve, formalise
from forethought.agents.selection import Arm, Complexity, SelectionAgent
from forethought.agents.selection_stats import MemoryStats, Pull, SelectionStats, SqliteStats
from forethought.agents.verification import ConstraintScorer, VerificationAgent
from forethought.exceptions import BudgetExceeded, UserError
from forethought.planners.base import Planner, PlanOutcome
from forethought.planners.plangen_options import PlanGENOptions, build_strategy
from forethought.runtime.context import RunContext
from forethought.runtime.events import (
    ArmFinished,
    ConstraintsExtracted,
    Event,
    SelectionDecision,
)
from forethought.search.base import Strategy, StrategyResult
from forethought.search.scorers import Scorer, Staged, make_scorer
from forethought.search.task import SearchTask, build_task

NODE = "plangen"


def _rank(result: StrategyResult) -> tuple[bool, bool, float]:
    return (result.answer is not None, result.verified is True,
            -1.0 if result.score is None else result.score)


class PlanGENPlanner(Planner):
    """Constraint-guided search with per-instance strategy selection (see the module)."""

    name: ClassVar[str] = "plangen"
    Options: ClassVar[type[pydantic.BaseModel]] = PlanGENOptions

    def __init__(self, **options: Any) -> None:
        # Validated as strictly as a recipe's options: a count given as "3" is a mistake.
        self.options = validate_options("planner", self.name, PlanGENOptions, options)
        o = self.options
        self.task_kind, self.task_options = split_spec(o.task, "task")
        self.constraint_agent = ConstraintAgent()
        v = o.verification
        self.verification_agent = VerificationAgent(
            ask_model=v.ask_model, fallback_to_model=v.fallback_to_model, timeout_s=v.timeout_s)
        s = o.selection
        self.selection_agent = SelectionAgent(
            method=s.method, exploration=s.exploration, prior_weight=s.prior_weight,
            cost_weight=s.cost_weight, call_scale=s.call_scale, bins=s.bins, rate=s.rate,
            rating_weight=s.rating_weight, count_scale=s.count_scale, seed=s.seed)
        self.strategy: Strategy | None = None
        if o.strategy is not None:
            kind, strategy_options = split_spec(o.strategy, "strategy")
            self.strategy = build_strategy(kind, strategy_options, refine=o.refine)
        self.arms = [Arm(name=a.arm_name, spec={"kind": a.kind, "refine": a.refine,
                                                **a.options()},
                         strategy=build_strategy(a.kind, a.options(), refine=a.refine),
                         prior=tuple(a.prior) if isinstance(a.prior, list) else a.prior)
                     for a in o.arms]
        self.memory = MemoryStats()

    # --- the pieces -----------------------------------------------------------------------------

    def task_for(self, question: str) -> SearchTask:
        return build_task(self.task_kind, question, self.task_options)

    @staticmethod
    def family_of(task: SearchTask, kind: str) -> str:
        """The task family statistics are kept under: the task's ``domain`` metadata, else
        its kind.
        """
        return task.metadata.get("domain") or kind

    def statistics(self, ctx: RunContext) -> SelectionStats:
        """Where what is learnt is kept: the run store's file, or this planner's memory."""
        if self.options.selection.statistics == "store" and ctx.store is not None:
            return SqliteStats(ctx.store.path)
        return self.memory

    def _partial_scorer(self, task: SearchTask) -> Scorer:
        if self.options.partial_scorer is not None:
            return make_scorer(self.options.partial_scorer)
        default = task.default_scorer()
        return default.partial if isinstance(default, Staged) else default

    async def constraints(self, ctx: RunContext, task: SearchTask, family: str
                          ) -> tuple[ConstraintSet | None, str, str | None]:
        """The constraint set, where it came from, and why there is none."""
        mode = self.options.constraints
        if mode == "none":
            return None, "none", "unguided by configuration (`constraints: none`)"
        supplied = getattr(task, "constraint_set", None)
        if mode != "extract" and isinstance(supplied, ConstraintSet):
            return supplied, "task", None
        if mode == "task":
            return None, "none", (f"task {self.task_kind!r} supplies no constraint set; use "
                                  f"`constraints: extract` or `auto`")
        ident = task.metadata.get("instance_id") or task.metadata.get("instance") \
            or instance_key(task.question)
        found = await self.constraint_agent.aextract(ctx, task.question, instance_id=ident,
                                                     family=family, node_id=NODE)
        return found.constraint_set, found.source, found.error

    def _emit(self, ctx: RunContext, event: Event) -> None:
        if ctx.events.active:
            event.node_id = NODE
            ctx.events.emit(event)

    # --- solve ----------------------------------------------------------------------------------

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        task = self.task_for(question)
        family = self.family_of(task, self.task_kind)
        try:
            cs, source, error = await self.constraints(ctx, task, family)
            if cs is None and self.options.constraints == "task":
                return PlanOutcome(answer=None, status="failed", error=error)
            shown = source if cs is not None or source == "none" else f"{source} (unusable)"
            self._emit(ctx, ConstraintsExtracted(
                source=shown, family=family,
                count=0 if cs is None else len(cs), hard=0 if cs is None else len(cs.hard),
                formal=0 if cs is None else len(cs.formal),
                ids=() if cs is None else tuple(c.id for c in cs), guided=cs is not None,
                error=error))
            final: Scorer = make_scorer(self.options.unguided_scorer) if cs is None else \
                ConstraintScorer(constraint_set=cs, agent=self.verification_agent)
            task.scorer = Staged(partial=self._partial_scorer(task), final=final)
            if self.strategy is not None:
                result = await self.strategy.arun(ctx, task, node_id=NODE)
                return self._outcome(result, final)
            return await self._select(ctx, task, family, cs, final)
        except BudgetExceeded as exc:
            return PlanOutcome(answer=None, status="budget_exhausted", partial=True,
                               error=f"budget spent before any answer: {exc}")

    async def _select(self, ctx: RunContext, task: SearchTask, family: str,
                      cs: ConstraintSet | None, final: Scorer) -> PlanOutcome:
        agent = self.selection_agent
        ident = task.metadata.get("instance_id") or task.metadata.get("instance") \
            or instance_key(task.question)
        complexity = await agent.aestimate(ctx, task.question,
                                           constraints=None if cs is None else len(cs),
                                           instance_id=ident, node_id=NODE)
        bin_ = complexity.bin if cs is not None else f"unguided.{complexity.bin}"
        arms = self.arms if cs is not None else [
            a for a in self.arms if not _needs_constraints(a.strategy)]
        stats = self.statistics(ctx)
        priors = _solver_priors(arms, cs)
        mixture = self.options.mixture
        tried: set[str] = set()
        best: StrategyResult | None = None
        for round_ in range(1, (mixture.max_arms if mixture.enabled else 1) + 1):
            rng = random.Random(f"{agent.seed}|{ident}|{round_}")
            arm, scores = agent.choose(arms, stats.get(family, bin_), complexity,
                                       exclude=tried, rng=rng, priors=priors,
                                       family=stats.across_bins(family))
            if arm is None:
                break
            self._emit(ctx, SelectionDecision(
                family=family, bin=bin_, complexity=complexity.value, rating=complexity.rating,
                features=dict(complexity.features), method=agent.method,
                arms=[s.as_dict() for s in scores], chosen=arm.name, round=round_,
                reason=_reason(round_, best, complexity)))
            result = await self._pull(ctx, task, family, bin_, arm, stats)
            tried.add(arm.name)
            if best is None or _rank(result) > _rank(best):
                best = result
            if result.partial:  # the budget stopped this arm: the best so far, partial
                best.partial = True
                break
            if (best.score or 0.0) >= mixture.threshold and best.verified is not False:
                break
            if ctx.budget.exhausted() is not None:  # another arm is needed but cannot run
                best.partial = True
                break
        if best is None:
            return PlanOutcome(answer=None, status="failed", error="no arm could be chosen")
        return self._outcome(best, final)

    async def _pull(self, ctx: RunContext, task: SearchTask, family: str, bin_: str, arm: Arm,
                    stats: SelectionStats) -> StrategyResult:
        """Run ``arm`` on ``task`` and learn from it."""
        calls, tokens = ctx.budget.started_calls, ctx.budget.spent.total_tokens
        result = await arm.strategy.arun(ctx, task, node_id=NODE)
        spent_calls = ctx.budget.started_calls - calls
        spent_tokens = ctx.budget.spent.total_tokens - tokens
        quality = result.score if result.answer is not None and result.score is not None \
            else 0.0
        stats.update(family, bin_, arm.key, Pull(quality=quality,
                                                 accepted=bool(result.verified),
                                                 calls=spent_calls, tokens=spent_tokens))
        self._emit(ctx, ArmFinished(arm=arm.name, answer=result.answer, verified=result.verified,
                                    score=result.score, model_calls=spent_calls,
                                    reward=self.selection_agent.reward(quality, spent_calls),
                                    tokens=spent_tokens, status=result.status))
        return result

    @staticmethod
    def _outcome(result: StrategyResult, final: Scorer) -> PlanOutcome:
        stats = ", ".join(f"{k}={v}" for k, v in sorted(result.stats.items()))
        if isinstance(final, ConstraintScorer) and final.stats:
            stats += "; verification: " + ", ".join(
                f"{k}={v}" for k, v in sorted(final.stats.items()))
        outcome = PlanOutcome(answer=result.answer, verified=result.verified,
                              score=result.score)
        if result.partial:
            outcome.status, outcome.partial = "budget_exhausted", True
            outcome.error = f"budget spent; the answer is the best so far; {stats}"
        elif result.answer is None:
            cause = f"; first failure: {result.first_error}" if result.first_error else ""
            outcome.status, outcome.error = "failed", f"no answer; {stats}{cause}"
        elif result.verified is False:
            outcome.status = "unverified"
            outcome.error = f"the verifier rejected every candidate; {stats}"
        return outcome


def _solver_priors(arms: list[Arm], cs: ConstraintSet | None) -> dict[str, float]:
    """The prior of formalise-and-solve arms on this instance: the share of its constraints
    the formalisation expresses (1 when z3 sees everything a verifier will check; 0 when the
    set cannot be formalised at all).
    """
    solvers = [a.name for a in arms if _needs_constraints(a.strategy)]
    if not solvers or cs is None or not len(cs):
        return {}
    try:
        share = 1.0 - len(formalise(cs).skipped) / len(cs)
    except UserError:
        share = 0.0
    return dict.fromkeys(solvers, share)


def _needs_constraints(strategy: Strategy) -> bool:
    inner = getattr(strategy, "inner", None)
    return isinstance(strategy, FormaliseSolve) or isinstance(inner, FormaliseSolve)


def _reason(round_: int, best: StrategyResult | None, complexity: Complexity) -> str:
    if round_ == 1 or best is None:
        rated = "" if complexity.rating is None else f", model rating {complexity.rating:.2f}"
        note = f"; {complexity.error}" if complexity.error else ""
        return f"first choice for complexity {complexity.value:.2f}{rated}{note}"
    shown = "none" if best.score is None else f"{best.score:.2f}"
    return f"switch: best verified score so far {shown}, verified={best.verified}"


__all__ = ["PlanGENPlanner"]
