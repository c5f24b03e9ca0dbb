"""The Agent facade: model, tools, planner and budget in one object."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from forethought._sync import run_sync
from forethought.exceptions import BudgetExceeded, ForethoughtError, UserError
from forethought.models.base import Model
from forethought.models.messages import Usage
from forethought.models.registry import resolve_model
from forethought.planners.base import Planner, PlanOutcome, PlanStatus, planner_class
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import EventBus, RunFinished, RunStarted, Subscriber
from forethought.runtime.executor import GraphResult
from forethought.runtime.store import RunStore
from forethought.tools.base import Tool, ToolRegistry, Toolset, resolve_tool

DEFAULT_STORE: Literal["default"] = "default"

DEADLINE_GRACE_S = 0.5
"""How long a planner may take, after the run's ``max_seconds``, to finish with what it has
before the agent cancels it. Model and tool calls are cancelled at the deadline itself."""


@dataclass(kw_only=True)
class AgentResult:
    """The outcome of one :meth:`Agent.run`."""

    answer: str | None
    status: PlanStatus
    """``ok``, ``unverified`` (a verifier rejected the answer and every alternative: the
    answer is the best of them), ``failed`` (no answer), ``budget_exhausted`` or ``cancelled``.

    ``budget_exhausted`` whenever a cap stopped work (a call refused, or cancelled at the
    ``max_seconds`` deadline; then ``partial`` is true) or calls in flight took the spending
    past a cap (the answer may be complete: ``partial`` says).
    """
    run_id: str
    usage: Usage
    duration_s: float
    partial: bool = False
    """The answer is the best available when the run stopped early, not a finished one."""
    verified: bool | None = None
    """Whether a verifier accepted the answer (``False``: it rejected it, status
    ``unverified``); ``None`` when no verifier judged it."""
    score: float | None = None
    """The verifier's (or the search's) score of the answer, when there is one."""
    error: str | None = None
    rounds: list[GraphResult] = field(default_factory=list[GraphResult])
    """Each planning round's task graph results."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class Agent:
    """Answers questions with a planner that calls tools, under a budget, recording every step.

    Example::

        agent = Agent("openai/gpt-4o-mini", tools=["calculator"])
        result = agent.run("What is (3 + 4) * 12 - 5?")
        print(result.answer, result.usage.summary())

    Args:
        model: A :class:`Model`, ``"simulated"`` (offline) or any LiteLLM model string.
        tools: Tool objects (see :func:`forethought.tool`), toolsets (started and stopped with
            the agent: MCP servers, sandboxes) or names of registered tools.
        planner: A :class:`Planner` or a registered planner name.
        budget: Default limits for each run.
        store: Where runs and events are recorded: a :class:`RunStore`, a path, ``None`` to
            keep nothing, or the default file under ``$FORETHOUGHT_HOME``.
        cache: Keep temperature-0 replies of real providers in the response cache.
        subscribers: Callables receiving every event of every run.
        deps: Anything tools should reach through ``ctx.deps``.
    """

    def __init__(self, model: Model | str = "simulated", *,
                 tools: Iterable[Tool | Toolset | str] = (),
                 planner: Planner | str = "llmcompiler", budget: Budget | None = None,
                 store: RunStore | Path | str | None = DEFAULT_STORE, cache: bool = True,
                 subscribers: Sequence[Subscriber] = (), deps: Any = None) -> None:
        self.model = resolve_model(model, cache=cache)
        # Slow one-time set-up (importing litellm) starts now, in the background, so that no
        # run pays for it on the event loop or against its time budget.
        self.model.warm_up()
        self.tools = ToolRegistry()
        self.toolsets: list[Toolset] = []
        for item in tools:
            resolved = resolve_tool(item) if isinstance(item, str) else item
            if isinstance(resolved, Toolset):
                self.toolsets.append(resolved)
            else:
                self.tools.add(resolved)
        self._entered = 0
        if isinstance(planner, str):
            planner = planner_class(planner)()
        if not isinstance(planner, Planner):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"planner must be a Planner or a planner name, got {planner!r}")
        self.planner = planner
        self.budget = budget or Budget()
        self._store_spec = store
        self._store: RunStore | None = None
        self.subscribers = list(subscribers)
        self.deps = deps

    @property
    def store(self) -> RunStore | None:
        """The run store, opened on first use."""
        if self._store is None and self._store_spec is not None:
            spec = self._store_spec
            self._store = spec if isinstance(spec, RunStore) else RunStore(
                None if spec == DEFAULT_STORE else Path(spec))
        return self._store

    async def arun(self, question: str, *, budget: Budget | None = None) -> AgentResult:
        """Answer ``question``. Provider and usage errors are raised after the run, its events
        and its partial results are recorded in the store; a spent budget is not an error:
        the result says ``budget_exhausted`` and carries the best answer so far.
        """
        if not isinstance(question, str) or not question.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"the question must be a non-empty string, got {question!r}")
        async with self:
            return await self._arun(question, budget)

    async def __aenter__(self) -> Agent:
        """Start the toolsets once for several runs (otherwise each run starts and stops them)."""
        if self._entered == 0:
            started: list[Toolset] = []
            try:
                for toolset in self.toolsets:
                    # Listed before start(): a half-started toolset must be stopped too.
                    started.append(toolset)
                    await toolset.start()
                    for t in toolset.tools():
                        self.tools.add(t)
            except BaseException:
                await self._stop(started)
                raise
        self._entered += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._entered -= 1
        if self._entered == 0:
            await self._stop(self.toolsets)

    async def _stop(self, toolsets: list[Toolset]) -> None:
        errors: list[Exception] = []
        for toolset in reversed(toolsets):
            try:
                for t in toolset.tools():
                    self.tools.remove(t.name)
                await toolset.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others before reporting
                errors.append(exc)
        if errors:
            raise errors[0]

    async def _arun(self, question: str, budget: Budget | None) -> AgentResult:
        await self.model.prepare()  # before the run's clock starts
        run_id = new_run_id()
        events = EventBus(run_id)
        store = self.store
        if store is not None:
            store.start_run(run_id, question=question,
                            meta={"model": self.model.name, "planner": self.planner.name,
                                  "tools": self.tools.names()})
            events.subscribe(store.record)
        for subscriber in self.subscribers:
            events.subscribe(subscriber)
        tracker = BudgetTracker(budget=budget or self.budget)
        ctx = RunContext(model=self.model, tools=self.tools, budget=tracker, events=events,
                         run_id=run_id, deps=self.deps, store=store)
        started = time.perf_counter()
        events.emit(RunStarted(question=question))
        status: PlanStatus = "failed"
        answer: str | None = None
        error: str | None = None
        try:
            outcome = await self._solve(ctx, question)
            status, answer, error = outcome.status, outcome.answer, outcome.error
            partial = outcome.partial
            if status == "ok" and (reason := tracker.refused or tracker.over()):
                # A cap stopped work (a refused or cancelled call) or was overrun by calls in
                # flight: the answer may be complete, but the run was not within its budget.
                status, partial = "budget_exhausted", partial or tracker.refused is not None
                error = error or f"budget exceeded: {reason}"
            return AgentResult(answer=answer, status=status, run_id=run_id,
                               usage=tracker.spent, duration_s=time.perf_counter() - started,
                               partial=partial, verified=outcome.verified, score=outcome.score,
                               error=error, rounds=outcome.rounds)
        except BudgetExceeded as exc:
            # A planner that let the refusal escape: still a result, not an error.
            status, error = "budget_exhausted", str(exc)
            return AgentResult(answer=None, status=status, run_id=run_id, usage=tracker.spent,
                               duration_s=time.perf_counter() - started, partial=True,
                               error=error)
        except asyncio.CancelledError:
            status, error = "cancelled", "cancelled"
            raise
        except ForethoughtError as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            events.emit(RunFinished(status=status, answer=answer, usage=tracker.spent,
                                    error=error))
            if store is not None:
                store.finish_run(run_id, status=status, answer=answer, error=error,
                                 usage={"prompt_tokens": tracker.spent.prompt_tokens,
                                        "completion_tokens": tracker.spent.completion_tokens,
                                        "cost_usd": tracker.spent.cost_usd,
                                        "latency_s": tracker.spent.latency_s,
                                        "model_calls": tracker.spent.model_calls})

    async def _solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        """The planner's answer; past the deadline (plus a grace period for the planner to
        finish with what it has), whatever it is still waiting on is cancelled.
        """
        remaining = ctx.budget.remaining_seconds()
        if remaining is None:
            return await self.planner.solve(ctx, question)
        scope = asyncio.timeout(remaining + DEADLINE_GRACE_S)
        try:
            async with scope:
                return await self.planner.solve(ctx, question)
        except TimeoutError:
            if not scope.expired():
                raise
            reason = ctx.budget.refuse(
                f"elapsed {ctx.budget.elapsed():.2f}s >= limit {ctx.budget.budget.max_seconds}s"
                f" (the planner did not finish within {DEADLINE_GRACE_S}s of the deadline)")
            return PlanOutcome(answer=None, status="budget_exhausted", partial=True,
                               error=str(reason))

    def run(self, question: str, *, budget: Budget | None = None) -> AgentResult:
        """Synchronous :meth:`arun` (use ``arun`` inside an event loop)."""
        return run_sync(self.arun(question, budget=budget), name="Agent.run()",
                        async_form="agent.arun(...)")

    def close(self) -> None:
        if self._store is not None and not isinstance(self._store_spec, RunStore):
            self._store.close()
            self._store = None
