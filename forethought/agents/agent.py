"""The Agent facade: model, tools, planner and budget in one object."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Self, overload

from typing_extensions import TypeVar

from forethought._sync import run_sync
from forethought.agents.conversation import (
    Conversation,
    ConversationInfo,
    ConversationStore,
    resume_conversation,
)
from forethought.agents.history import (
    ExchangeRecorder,
    HistoryItem,
    HistoryPolicy,
    MemorySummaries,
    SummaryCache,
    contextualize,
    exchange_messages,
    render_messages,
)
from forethought.agents.output import (
    NO_OUTPUT,
    OutputMode,
    OutputSpec,
    OutputT,
    OutputTypeSpec,
)
from forethought.agents.rerun import (
    Replay,
    RerunRequest,
    StrategySpec,
    make_rerun,
    rerun_targets,
    split_history,
)
from forethought.agents.run_forms import RunForms, RunSpec
from forethought.exceptions import BudgetExceeded, ForethoughtError, RunError, UserError
from forethought.models.base import Model
from forethought.models.messages import Message, Usage
from forethought.models.registry import resolve_model
from forethought.planners.base import (
    Planner,
    PlanOutcome,
    PlanStatus,
    RerunTarget,
    planner_class,
)
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import EventBus, RunFinished, RunStarted, Subscriber
from forethought.runtime.executor import GraphResult
from forethought.runtime.store import RunStore
from forethought.tools.base import Tool, ToolRegistry, Toolset, resolve_tool

DepsT = TypeVar("DepsT", default=None)
"""The type of the deps an agent's runs carry (``Any`` when neither ``deps``, ``deps_type``
nor a tool taking ``RunContext[...]`` says)."""
_NOT_GIVEN: Any = None
"""The default of ``deps`` and ``deps_type``: typed ``Any`` so that, not given, they leave
the deps type to the other arguments."""
T = TypeVar("T")

DEFAULT_STORE: Literal["default"] = "default"

DEADLINE_GRACE_S = 0.5
"""How long a planner may take, after the run's ``max_seconds``, to finish with what it has
before the agent cancels it. Model and tool calls are cancelled at the deadline itself."""


@dataclass(kw_only=True)
class AgentResult(Generic[OutputT]):
    """The outcome of one :meth:`Agent.run`: the planner's text :attr:`answer`, the typed
    :attr:`output`, the status and what it cost.
    """

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
    messages: list[Message] = field(default_factory=list[Message])
    """The conversation so far: the history the run was given, then :attr:`new_messages`.
    Pass it as ``history=`` to continue."""
    new_messages: list[Message] = field(default_factory=list[Message])
    """This run's exchange: the question, each tool call with its result, the answer."""
    replay: Replay | None = field(default=None, repr=False)
    """What :meth:`Agent.rerun` needs to run one of this run's nodes again (``None``: its
    planner cannot, or the run ended before the planner did anything)."""
    _output: Any = field(default=NO_OUTPUT, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def has_output(self) -> bool:
        """Whether the run produced an :attr:`output`."""
        return self._output is not NO_OUTPUT

    @property
    def output(self) -> OutputT:
        """The final answer as the run's output type (``str`` by default: the answer).

        Raises :class:`RunError` when the run produced none (no complete answer: check
        :attr:`status`; a typed output that the budget left no room for).
        """
        if self._output is NO_OUTPUT:
            why = f": {self.error}" if self.error else ""
            raise RunError(f"run {self.run_id} has no output (it ended {self.status!r}{why})")
        value: OutputT = self._output
        return value


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class Agent(RunForms[DepsT, OutputT]):
    """Answers questions with a planner that calls tools, under a budget, recording every step.

    Example::

        agent = Agent("openai/gpt-4o-mini", tools=["calculator"])
        result = agent.run("What is (3 + 4) * 12 - 5?")
        print(result.answer, result.usage.summary())

    ``Agent[DepsT, OutputT]`` is generic in the deps its tools need and its output type;
    both are inferred from ``deps_type``/``deps`` and ``output_type``.

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
        deps: What tools reach through ``ctx.deps`` (a run may pass its own).
        deps_type: The type deps must have (checked when a run starts).
        output_type: What a run outputs (see :mod:`forethought.agents.output`): ``str`` (the
            planner's answer), a pydantic model, dataclass, TypedDict, or a list of types for
            their union.
        output_mode: ``"json"`` (structured output with the JSON schema) or ``"tool"`` (a
            forced ``final_result`` tool call) for typed outputs.
        output_retries: Repair turns for an invalid or rejected output before
            :class:`UnexpectedModelBehavior` is raised.
        history_policy: How prior turns of a conversation reach the planner.
    """

    def __init__(self, model: Model | str = "simulated", *,
                 tools: Iterable[Tool[DepsT] | Toolset | str] = (),
                 planner: Planner | str = "llmcompiler", budget: Budget | None = None,
                 store: RunStore | Path | str | None = DEFAULT_STORE, cache: bool = True,
                 subscribers: Sequence[Subscriber] = (), deps: DepsT = _NOT_GIVEN,
                 deps_type: type[DepsT] = _NOT_GIVEN,
                 output_type: OutputTypeSpec[OutputT] = str,  # pyright: ignore[reportArgumentType] - str is OutputT's default
                 output_mode: OutputMode = "json", output_retries: int = 1,
                 history_policy: HistoryPolicy | None = None) -> None:
        self._output_spec: OutputSpec[OutputT] = OutputSpec(output_type, mode=output_mode,
                                                            retries=output_retries)
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
        self.deps_type: Any = deps_type
        """The declared deps type (``None``: not declared, deps are not checked)."""
        self.history_policy = history_policy or HistoryPolicy()
        self._conversations: ConversationStore | None = None
        self._memory_summaries = MemorySummaries()

    @property
    def store(self) -> RunStore | None:
        """The run store, opened on first use."""
        if self._store is None and self._store_spec is not None:
            spec = self._store_spec
            self._store = spec if isinstance(spec, RunStore) else RunStore(
                None if spec == DEFAULT_STORE else Path(spec))
        return self._store

    @overload
    async def arun(self, question: str, *, budget: Budget | None = None,
                   history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                   output_type: None = None, within: BudgetTracker | None = None
                   ) -> AgentResult[OutputT]: ...
    @overload
    async def arun(self, question: str, *, budget: Budget | None = None,
                   history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                   output_type: OutputTypeSpec[T], within: BudgetTracker | None = None
                   ) -> AgentResult[T]: ...
    async def arun(self, question: str, *, budget: Budget | None = None,
                   history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                   output_type: Any = None, within: BudgetTracker | None = None
                   ) -> AgentResult[Any]:
        """Answer ``question``. Provider and usage errors are raised after the run, its events
        and its partial results are recorded in the store; a spent budget is not an error:
        the result says ``budget_exhausted`` and carries the best answer so far.

        Args:
            question: What to answer.
            budget: Limits for this run (default: the agent's).
            history: Earlier messages to continue from (``result.messages``, or chat dicts).
            deps: Deps for this run's tools (default: the agent's).
            output_type: This run's output type (default: the agent's; the agent's output
                validators apply only to its own type).
            within: A budget this run's calls also count against (a dataset's, shared by its
                instances), admitted at dispatch like the run's own.
        """
        spec = self._prepare(question, budget=budget, history=history, deps=deps,
                             output_type=output_type)
        spec.within = within
        return await self._start(spec, None)

    async def _start(self, spec: RunSpec[Any], subscriber: Subscriber | None
                     ) -> AgentResult[Any]:
        async with self:
            return await self._arun(spec, subscriber)

    async def __aenter__(self) -> Self:
        """Start the model's server, if it has one, and the toolsets once for several runs
        (otherwise each run starts and stops them).
        """
        if self._entered == 0:
            await self.model.start()
            started: list[Toolset] = []
            try:
                for toolset in self.toolsets:
                    # Listed before start(): a half-started toolset must be stopped too.
                    started.append(toolset)
                    await toolset.start()
                    for t in toolset.tools():
                        self.tools.add(t)
            except BaseException:
                try:
                    await self._stop(started)
                finally:
                    await self.model.stop()
                raise
        self._entered += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._entered -= 1
        if self._entered == 0:
            try:
                await self._stop(self.toolsets)
            finally:
                await self.model.stop()

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

    async def _arun(self, spec: RunSpec[Any], subscriber: Subscriber | None) -> AgentResult[Any]:
        question, budget = spec.question, spec.budget
        await self.model.prepare()  # before the run's clock starts
        run_id = new_run_id()
        events = EventBus(run_id)
        store = self.store
        if store is not None:
            meta: dict[str, Any] = {"model": self.model.name, "planner": self.planner.name,
                                    "tools": self.tools.names()}
            if spec.rerun is not None:
                meta.update(spec.rerun.meta())
            store.start_run(run_id, question=question, meta=meta)
            events.subscribe(store.record)
        for each in self.subscribers:
            events.subscribe(each)
        if subscriber is not None:
            events.subscribe(subscriber, text=True)
        recorder = ExchangeRecorder(run_id=run_id)
        events.subscribe(recorder)
        tracker = BudgetTracker(budget=budget or self.budget, parent=spec.within)
        ctx = RunContext(model=self.model, tools=self.tools, budget=tracker, events=events,
                         run_id=run_id, deps=spec.deps, store=store)
        started = time.perf_counter()
        events.emit(RunStarted(question=question, model=self.model.name,
                               planner=self.planner.name))
        status: PlanStatus = "failed"
        answer: str | None = None
        error: str | None = None
        try:
            asked = spec.rerun.replay.asked if spec.rerun is not None else \
                await contextualize(ctx, question, spec.history, self.history_policy,
                                    self._summaries())
            ctx.question = asked
            outcome = await self._solve(ctx, asked, spec.rerun)
            status, answer, error = outcome.status, outcome.answer, outcome.error
            partial = outcome.partial
            produced = await spec.output.produce(ctx, asked, outcome,
                                                 evidence=render_messages(recorder.messages))
            if produced.budget_exhausted:
                status, error = "budget_exhausted", error or (
                    f"budget exceeded while producing the {spec.output.name} output: "
                    f"{produced.reason}")
            if status == "ok" and (reason := tracker.refused or tracker.over()):
                # A cap stopped work (a refused or cancelled call) or was overrun by calls in
                # flight: the answer may be complete, but the run was not within its budget.
                status, partial = "budget_exhausted", partial or tracker.refused is not None
                error = error or f"budget exceeded: {reason}"
            new = exchange_messages(question, recorder, produced.text or answer, status, error)
            return AgentResult(answer=answer, status=status, run_id=run_id,
                               usage=tracker.spent, duration_s=time.perf_counter() - started,
                               partial=partial, verified=outcome.verified, score=outcome.score,
                               error=error, rounds=outcome.rounds,
                               messages=[*spec.history, *new], new_messages=new,
                               replay=None if outcome.state is None else Replay(
                                   planner=self.planner.name, asked=asked,
                                   state=outcome.state),
                               _output=produced.value)
        except BudgetExceeded as exc:
            # A planner that let the refusal escape: still a result, not an error.
            status, error = "budget_exhausted", str(exc)
            new = exchange_messages(question, recorder, None, status, error)
            return AgentResult(answer=None, status=status, run_id=run_id, usage=tracker.spent,
                               duration_s=time.perf_counter() - started, partial=True,
                               error=error, messages=[*spec.history, *new], new_messages=new)
        except asyncio.CancelledError:
            status, error = "cancelled", "cancelled"
            raise
        except ForethoughtError as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
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

    async def _solve(self, ctx: RunContext, question: str, rerun: RerunRequest | None
                     ) -> PlanOutcome:
        """The planner's answer (or its re-run of a node); past the deadline (plus a grace
        period for the planner to finish with what it has), whatever it is still waiting on is
        cancelled.
        """
        work = self.planner.solve(ctx, question) if rerun is None else self.planner.rerun(
            ctx, question, rerun.replay.state, rerun.node, rerun.strategy)
        remaining = ctx.budget.remaining_seconds()
        if remaining is None:
            return await work
        scope = asyncio.timeout(remaining + DEADLINE_GRACE_S)
        try:
            async with scope:
                return await work
        except TimeoutError:
            if not scope.expired():
                raise
            reason = ctx.budget.refuse(
                f"{ctx.budget.deadline_reason()}"
                f" (the planner did not finish within {DEADLINE_GRACE_S}s of the deadline)")
            return PlanOutcome(answer=None, status="budget_exhausted", partial=True,
                               error=str(reason))

    @overload
    def run(self, question: str, *, budget: Budget | None = None,
            history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
            output_type: None = None) -> AgentResult[OutputT]: ...
    @overload
    def run(self, question: str, *, budget: Budget | None = None,
            history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
            output_type: OutputTypeSpec[T]) -> AgentResult[T]: ...
    def run(self, question: str, *, budget: Budget | None = None,
            history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
            output_type: Any = None) -> AgentResult[Any]:
        """Synchronous :meth:`arun` (use ``arun`` inside an event loop)."""
        spec = self._prepare(question, budget=budget, history=history, deps=deps,
                             output_type=output_type)
        return run_sync(self._start(spec, None), name="Agent.run()",
                        async_form="agent.arun(...)")

    # -- re-runs -------------------------------------------------------------------------

    def rerun_targets(self, previous: AgentResult[Any]) -> list[RerunTarget]:
        """The nodes of ``previous`` (a run of this agent's planner) that :meth:`arerun` can
        run again, each with what re-running it redoes (see :mod:`forethought.agents.rerun`).
        """
        return rerun_targets(self.planner, previous)

    async def arerun(self, previous: AgentResult[Any], node: str, *,
                     strategy: StrategySpec | None = None, budget: Budget | None = None
                     ) -> AgentResult[OutputT]:
        """Run ``node`` of ``previous`` again, keeping every result it does not change, and
        answer again (see :mod:`forethought.agents.rerun` for what a node is per planner).

        A new run: its own id and events in the run store, its own budget (``budget``, else
        the agent's). Its messages are ``previous``'s history followed by the new exchange.

        Args:
            previous: A result of this agent's planner.
            node: One of :meth:`rerun_targets`.
            strategy: A search strategy that decides the answer at that node (a name, a
                mapping with ``kind`` and options, or a :class:`Strategy`).
            budget: Limits for the re-run.
        """
        return await self._start(self._prepare_rerun(previous, node, strategy, budget), None)

    def rerun(self, previous: AgentResult[Any], node: str, *,
              strategy: StrategySpec | None = None, budget: Budget | None = None
              ) -> AgentResult[OutputT]:
        """Synchronous :meth:`arerun`."""
        spec = self._prepare_rerun(previous, node, strategy, budget)
        return run_sync(self._start(spec, None), name="Agent.rerun()",
                        async_form="agent.arerun(...)")

    def _prepare_rerun(self, previous: AgentResult[Any], node: str,
                       strategy: StrategySpec | None, budget: Budget | None
                       ) -> RunSpec[Any]:
        request = make_rerun(self.planner, previous, node, strategy)
        question, history = split_history(previous)
        spec = self._prepare(question, budget=budget, history=history, deps=None,
                             output_type=None)
        spec.rerun = request
        return spec

    # -- conversations ---------------------------------------------------------------------

    def chat(self, conversation_id: str | None = None, *,
             messages: Sequence[HistoryItem] = ()) -> Conversation[DepsT, OutputT]:
        """A :class:`Conversation` with this agent: a new one (starting from ``messages``),
        or the stored conversation ``conversation_id`` resumed from the run store.
        """
        store = self._conversation_store()
        if conversation_id is None:
            return Conversation(self, messages=messages, store=store)
        if store is None:
            raise UserError(f"cannot resume conversation {conversation_id!r}: this agent keeps "
                            f"no run store (store=None)")
        if messages:
            raise UserError("a resumed conversation continues from its stored messages; "
                            "messages= applies to new conversations only")
        return resume_conversation(self, conversation_id, store)

    def conversations(self, limit: int = 50) -> list[ConversationInfo]:
        """The stored conversations, most recently updated first."""
        store = self._conversation_store()
        if store is None:
            raise UserError("this agent keeps no run store (store=None): no conversations")
        return store.list(limit)

    def _conversation_store(self) -> ConversationStore | None:
        if self._conversations is None and (runs := self.store) is not None:
            self._conversations = ConversationStore(runs.path)
        return self._conversations

    def _summaries(self) -> SummaryCache:
        return self._conversation_store() or self._memory_summaries

    def close(self) -> None:
        if self._store is not None and not isinstance(self._store_spec, RunStore):
            self._store.close()
            self._store = None
        if self._conversations is not None:
            self._conversations.close()
            self._conversations = None
