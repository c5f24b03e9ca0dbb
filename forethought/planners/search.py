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

from typing import Any, ClassVar

import pydantic

from forethought._options import Loc, nested, validate_options
from forethought.exceptions import UnknownNameError, UserError
from forethought.planners.base import Planner, PlanOutcome
from forethought.runtime.context import RunContext
from forethought.runtime.events import PlannerEvent
from forethought.search.base import Strategy, strategy_class
from forethought.search.scorers import Scorer, Staged, ToolScorer, make_scorer
from forethought.search.task import SearchTask, build_task, task_names, task_options

Spec = str | dict[str, Any]


def _kind(spec: Spec, what: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    options = dict(spec)
    kind = options.pop("kind", None)
    if not isinstance(kind, str):
        raise UserError(f"{what} {spec!r} needs a `kind`")
    return kind, options


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
        with nested(name_at=_name_at(spec)):
            kind, options = _kind(spec, "strategy")
            strategy_class(kind).from_options(options)
        return spec

    @pydantic.field_validator("task")
    @classmethod
    def _task(cls, spec: Spec) -> Spec:
        with nested(name_at=_name_at(spec)):
            kind, options = _kind(spec, "task")
            if kind not in task_names():
                raise UnknownNameError("search task", kind, task_names())
            validate_options("search task", kind, task_options(kind), options)
        return spec

    @pydantic.field_validator("scorer", "final_scorer")
    @classmethod
    def _scorer(cls, spec: Spec | None) -> Spec | None:
        if spec is not None:
            with nested(name_at=_name_at(spec)):
                make_scorer(spec)
        return spec


def _scorer(spec: Spec | Scorer | None) -> Scorer | None:
    """A scorer object as it is (a custom :class:`Verifier`, say); a spec by its kind."""
    if spec is None or isinstance(spec, Scorer):
        return spec
    return make_scorer(spec)


def _name_at(spec: Spec | None) -> Loc:
    """Where the name is in a spec: the value itself, or its ``kind`` key."""
    return ("kind",) if isinstance(spec, dict) else ()


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
            kind, options = _kind(strategy, "strategy")
            self.strategy = strategy_class(kind).from_options(options)
        self.task_kind, self.task_options = _kind(task, "task")
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
        missing = [s.tool for s in (self.scorer, self.final_scorer)
                   if isinstance(s, ToolScorer) and s.tool not in ctx.tools]
        if missing:
            # Otherwise every candidate would be unscored and the run would still end "ok".
            have = ", ".join(repr(n) for n in ctx.tools.names()) or "none"
            return PlanOutcome(answer=None, status="failed", error=(
                f"the scorer's tool {missing[0]!r} is not among the run's tools ({have})"))
        task = self.task_for(question)
        self._event(ctx, "search_started", f"{self.strategy!r} on a {self.task_kind} task")
        result = await self.strategy.arun(ctx, task, node_id="search")
        stats = ", ".join(f"{k}={v}" for k, v in sorted(result.stats.items()))
        self._event(ctx, "search_finished", f"answer={result.answer!r}; {stats}")
        outcome = PlanOutcome(answer=result.answer, verified=result.verified,
                              score=result.score)
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

    @staticmethod
    def _event(ctx: RunContext, action: str, detail: str) -> None:
        if ctx.events.active:
            ctx.events.emit(PlannerEvent(node_id="search", action=action, detail=detail))
