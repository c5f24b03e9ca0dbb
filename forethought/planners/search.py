"""The search planner: answer a question by running a search strategy on it.

Recipes select any registered strategy, the task kind that frames the question, and optionally
the scorers::

    planner:
      kind: search
      strategy: {kind: beam, width: 4, expansion: 4}
      task: game24                     # or chain (default), or {kind: chain, max_depth: 6}
      scorer: {kind: value, samples: 3}   # optional: how partial states are scored
      final_scorer: verifier              # optional: how complete solutions are scored

The strategy's model and tool calls all go through the run's context, so the recipe's budget
bounds the search; when it runs out, the best answer found so far is returned, marked partial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pydantic

from forethought._options import Loc, Spec, name_at, nested, split_spec, validate_options
from forethought.exceptions import UnknownNameError, UserError
from forethought.planners.base import Planner, PlanOutcome, RerunTarget
from forethought.runtime.context import RunContext
from forethought.runtime.events import PlannerEvent
from forethought.search.base import Strategy, StrategyResult, strategy_class
from forethought.search.scorers import Scorer, Staged, ToolScorer, make_scorer
from forethought.search.task import SearchTask, build_task, task_names, task_options


def check_task_spec(spec: Spec) -> Spec:
    """``spec`` if it names a registered search task with valid options (a recipe check)."""
    with nested(name_at=name_at(spec)):
        kind, options = split_spec(spec, "task")
        if kind not in task_names():
            raise UnknownNameError("search task", kind, task_names())
        validate_options("search task", kind, task_options(kind), options)
    return spec


def check_strategy_spec(spec: Spec,
                        resolve: Callable[[str], type[Strategy]] = strategy_class) -> Spec:
    """``spec`` if ``resolve`` (a kind -> strategy class lookup) builds a strategy from it
    (a recipe check).
    """
    with nested(name_at=name_at(spec)):
        kind, options = split_spec(spec, "strategy")
        resolve(kind).from_options(options)
    return spec


def check_scorer_spec(spec: Spec | None) -> Spec | None:
    """``spec`` if it is ``None`` or builds a scorer (a recipe check)."""
    if spec is not None:
        with nested(name_at=name_at(spec)):
            make_scorer(spec)
    return spec


class SearchPlannerOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    strategy: Spec = "best_of_n"
    """A strategy name, or ``{kind: <name>, <option>: <value>, ...}``."""
    task: Spec = "chain"
    """How the question is framed: ``chain`` (step by step, any question) or ``game24``, or a
    mapping with ``kind`` and task options (``max_depth``, ``temperature``)."""
    scorer: Spec | None = None
    """How states are scored: judge, score, reward, value, verifier, or
    ``{kind: tool, tool: <name>}`` (default: the task's choice)."""
    final_scorer: Spec | None = None
    """How complete solutions are scored (default: the task's exact verifier if it has one,
    else ``scorer``)."""

    @pydantic.field_validator("strategy")
    @classmethod
    def _strategy(cls, spec: Spec) -> Spec:
        return check_strategy_spec(spec)

    @pydantic.field_validator("task")
    @classmethod
    def _task(cls, spec: Spec) -> Spec:
        return check_task_spec(spec)

    @pydantic.field_validator("scorer", "final_scorer")
    @classmethod
    def _scorer(cls, spec: Spec | None) -> Spec | None:
        return check_scorer_spec(spec)


    @pydantic.model_validator(mode="after")
    def _stop_early_needs_a_verifier(self) -> SearchPlannerOptions:
        # Decided here only when the recipe names the final scorer: otherwise it is the
        # task's exact verifier if the task has one, which only the task knows (the strategy
        # then refuses a non-verifying one when the search starts).
        kind, options = split_spec(self.strategy, "strategy")
        if kind == "best_of_n" and options.get("stop_early") is True \
                and self.final_scorer is not None and not make_scorer(self.final_scorer).verifies:
            raise ValueError(
                f"best_of_n stop_early stops at the first answer the final scorer accepts, "
                f"but final_scorer {self.final_scorer!r} does not verify; use a verifying "
                f"final scorer (judge, verifier, tool, or a Verifier registered with "
                f"register_scorer) or stop_early: false")
        return self


def _scorer(spec: Spec | Scorer | None) -> Scorer | None:
    """A scorer object as it is (a custom :class:`Verifier`, say); a spec by its kind."""
    if spec is None or isinstance(spec, Scorer):
        return spec
    return make_scorer(spec)


SEARCH_NODE = "search"
"""The node id of the search in a run's events, and its name for :meth:`SearchPlanner.rerun`."""


@dataclass(kw_only=True, frozen=True)
class SearchRun:
    """What a search run keeps for a re-run: nothing but which strategy ran (the question and
    the planner's task and scorers are all a new search needs).
    """

    strategy: str


def _stats(result: StrategyResult) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(result.stats.items()))


def strategy_outcome(result: StrategyResult, outcome: PlanOutcome) -> PlanOutcome:
    """``outcome`` with the answer a strategy chose, its score and what the status is."""
    outcome.answer, outcome.verified, outcome.score = result.answer, result.verified, \
        result.score
    stats = _stats(result)
    if result.partial:
        outcome.status, outcome.partial = "budget_exhausted", True
        outcome.error = f"budget spent during the search; {stats}"
    elif result.answer is None:
        cause = f"; first failure: {result.first_error}" if result.first_error else ""
        outcome.status = "failed"
        outcome.error = f"the search found no answer; {stats}{cause}"
    elif result.verified is False:
        outcome.status = "unverified"
        outcome.error = (f"the verifier rejected every candidate; the answer is the best "
                         f"of them; {stats}")
    return outcome


class SearchPlanner(Planner):
    """Frame the question as a search task and run a strategy on it."""

    name: ClassVar[str] = "search"
    Options: ClassVar[type[pydantic.BaseModel]] = SearchPlannerOptions

    def __init__(self, *, strategy: Spec | Strategy = "best_of_n", task: Spec = "chain",
                 scorer: Spec | Scorer | None = None,
                 final_scorer: Spec | Scorer | None = None) -> None:
        if isinstance(strategy, Strategy):
            self.strategy = strategy
        else:
            kind, options = split_spec(strategy, "strategy")
            self.strategy = strategy_class(kind).from_options(options)
        self.task_kind, self.task_options = split_spec(task, "task")
        task_options(self.task_kind)  # fails early, naming the valid kinds
        self.scorer = _scorer(scorer)
        self.final_scorer = _scorer(final_scorer)

    @classmethod
    def tools_named(cls, options: pydantic.BaseModel) -> list[tuple[Loc, str]]:
        assert isinstance(options, SearchPlannerOptions)
        named: list[tuple[Loc, str]] = []
        for key in ("scorer", "final_scorer"):
            spec: Spec | None = getattr(options, key)
            if isinstance(spec, dict):
                tool = spec.get("tool")
                if spec.get("kind") == "tool" and isinstance(tool, str):
                    named.append(((key, "tool"), tool))
        return named

    def task_for(self, question: str) -> SearchTask:
        """The search task the question becomes, with the configured scorers."""
        task = build_task(self.task_kind, question, self.task_options)
        task.scorer = self._scorer(task)
        return task

    def _scorer(self, task: SearchTask) -> Scorer | None:
        if self.scorer is None and self.final_scorer is None:
            return None
        default = task.default_scorer()
        partial = self.scorer or (default.partial if isinstance(default, Staged) else default)
        final = self.final_scorer or (
            (default.final if isinstance(default, Staged) else default) if task.has_verifier
            else partial)
        return partial if partial is final else Staged(partial=partial, final=final)

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        return await self._search(ctx, question, self.strategy)

    def rerun_targets(self, state: Any) -> list[RerunTarget]:
        """The search is the run's one node: re-running it is searching again."""
        del state
        return [RerunTarget(node=SEARCH_NODE, description="the whole search (the search "
                            "planner's only node), with the same task and scorers")]

    async def rerun(self, ctx: RunContext, question: str, state: Any, node: str,
                    strategy: Strategy | None) -> PlanOutcome:
        """Search again, with ``strategy`` if given (the planner's own otherwise)."""
        if not isinstance(state, SearchRun):
            raise UserError(f"cannot re-run {node!r}: the run was not made by the search "
                            f"planner")
        if node != SEARCH_NODE:
            raise UserError(f"the search planner's runs have one node, {SEARCH_NODE!r} (the "
                            f"whole search), not {node!r}")
        self._event(ctx, "rerun", f"searching again with "
                    f"{strategy if strategy is not None else self.strategy!r}")
        return await self._search(ctx, question, strategy or self.strategy)

    async def _search(self, ctx: RunContext, question: str, strategy: Strategy
                      ) -> PlanOutcome:
        missing = [s.tool for s in (self.scorer, self.final_scorer)
                   if isinstance(s, ToolScorer) and s.tool not in ctx.tools]
        if missing:
            # Otherwise every candidate would be unscored and the run would still end "ok".
            have = ", ".join(repr(n) for n in ctx.tools.names()) or "none"
            return PlanOutcome(answer=None, status="failed", error=(
                f"the scorer's tool {missing[0]!r} is not among the run's tools ({have})"))
        task = self.task_for(question)
        self._event(ctx, "search_started", f"{strategy!r} on a {self.task_kind} task")
        result = await strategy.arun(ctx, task, node_id=SEARCH_NODE)
        self._event(ctx, "search_finished", f"answer={result.answer!r}; {_stats(result)}")
        return strategy_outcome(result, PlanOutcome(answer=None,
                                                    state=SearchRun(strategy=repr(strategy))))

    @staticmethod
    def _event(ctx: RunContext, action: str, detail: str) -> None:
        if ctx.events.active:
            ctx.events.emit(PlannerEvent(node_id=SEARCH_NODE, action=action, detail=detail))
