"""Atom of Thoughts (Teng et al., 2025, "Atom of Thoughts for Markov LLM Test-Time Scaling",
arXiv:2502.12018).

Each step sees one self-contained question and nothing else (the Markov state):

1. **Decompose** it into a dependency DAG of sub-questions (structured output, one repair
   turn on invalid JSON or on a graph with a cycle or a dangling dependency).
2. **Solve** the independent sub-questions in parallel through the executor, each with the
   configured atom solver (one direct model call, or any registered search
   :class:`~forethought.search.base.Strategy`).
3. **Contract** the solved sub-questions into a new, self-contained question that has the
   same answer and states what was found as given facts; the next step's prompts contain
   only this question, so the prompt length stays flat however deep the problem is.

It stops when a decomposition is atomic (one sub-question): that question is answered
directly. As in the paper, the number of steps is bounded by the depth of the first
decomposition (``adaptive_depth``) and by ``max_depth``; at the limit the current question is
answered directly. A decomposition that is still invalid after its repair turn, a failed
sub-question or a contraction that makes no progress falls back to answering the current
question directly, with a :class:`~forethought.runtime.events.PlannerEvent` saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pydantic

from forethought._options import located, nested, validate_options
from forethought.exceptions import (
    BudgetExceeded,
    UnexpectedModelBehavior,
    UnknownNameError,
    UserError,
)
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.planners.answer_stream import AnswerLineStream, AnswerStream
from forethought.planners.aot_atoms import AtomAnswer, AtomSolver, DirectAnswer, StrategyAnswer
from forethought.planners.aot_decompose import Decomposition, SubQuestion
from forethought.planners.base import Planner, PlanOutcome
from forethought.runtime.context import RunContext
from forethought.runtime.events import PlannerEvent
from forethought.runtime.executor import Executor, FailurePolicy, GraphResult, NodeStatus
from forethought.runtime.graph import NodeFn, Ref, Subtask
from forethought.search.base import Strategy, strategy_class
from forethought.search.task import SearchTask, build_task
from forethought.search.task import task_options as task_schema

DECOMPOSE_SYSTEM = """\
You break a question into smaller sub-questions that together answer it.
Reply with only a JSON object of this form:
{"thought": "...", "subquestions": [{"id": 1, "question": "...", "depends_on": []}, ...]}
Rules:
- Each sub-question is simpler than the question: one fact or one step.
- A sub-question that needs the answer of another lists that one's id in depends_on and refers
  to its answer as #id.
- Sub-questions that depend on nothing are answered first, in parallel.
- The last sub-question gives the answer to the whole question.
- If the question can be answered in one step, reply with one sub-question: the question."""

CONTRACT_SYSTEM = """\
You rewrite a question into a simpler one, using answers that have been found.
You are given a question, the answers to some of its sub-questions and the sub-questions still
open. Write one new question that has the same answer as the question, states the answers found
as given facts wherever it needs them, and is self-contained: a reader who sees nothing else
can answer it. Reply with one line:
Question: <the new question>"""

_DETERMINISTIC = ModelSettings(temperature=0.0)
"""Decompositions and contractions are decisions, not samples (and so cacheable)."""
_QUESTION_LINE = re.compile(r"question\s*:\s*", re.IGNORECASE)


def solved_line(sub: SubQuestion, answer: str) -> str:
    """How an answered sub-question is shown to the contraction step."""
    return f"#{sub.id}. {sub.question} -> {answer}"


def open_line(sub: SubQuestion) -> str:
    """How a sub-question still open is shown to the contraction step."""
    return f"#{sub.id}. {sub.question} (needs {', '.join(f'#{d}' for d in sub.depends_on)})"


def parse_contraction(text: str) -> str | None:
    """The new question in a contraction reply: what follows the last ``Question:``, else the
    whole reply, whitespace collapsed; ``None`` if empty.
    """
    matches = list(_QUESTION_LINE.finditer(text))
    body = text[matches[-1].end():] if matches else text
    question = " ".join(body.split())
    return question or None


class AoTOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    max_depth: int = pydantic.Field(default=8, ge=1, le=64, strict=True)
    """Most decompose-and-contract steps; then the current question is answered directly."""
    adaptive_depth: bool = True
    """Also bound the steps by the depth of the first decomposition (as the paper does)."""
    max_concurrency: int = pydantic.Field(default=16, ge=1, le=1024, strict=True)
    """Sub-questions of one step solved at the same time."""
    strategy: str = "direct"
    """How atomic questions are answered: ``direct`` (one model call) or a registered strategy."""
    strategy_options: dict[str, Any] = pydantic.Field(default_factory=dict[str, Any])
    """Options of that strategy."""
    task: str = "chain"
    """The search task kind a strategy solves an atomic question as (``chain``: any question,
    step by step)."""
    task_options: dict[str, Any] = pydantic.Field(default_factory=dict[str, Any])
    """Options of that task kind."""

    @pydantic.model_validator(mode="after")
    def _known_strategy(self) -> AoTOptions:
        if self.strategy == "direct":
            extra = [k for k in ("strategy_options", "task", "task_options")
                     if k in self.model_fields_set and getattr(self, k) not in ({}, "chain")]
            if extra:
                raise located(UserError("strategy_options, task and task_options need a "
                                        "strategy other than 'direct'"), (extra[0],))
            return self
        try:
            cls = strategy_class(self.strategy)
        except UnknownNameError as exc:
            raise located(UserError(str(exc).replace(
                "valid strategies", "valid strategies (or 'direct')")), ("strategy",)) from None
        with nested(("strategy_options",)):
            cls.from_options(self.strategy_options)
        with nested(("task_options",), name_at=("task",)):
            validate_options("search task", self.task, task_schema(self.task),
                             self.task_options)
        return self


def _task_maker(kind: str, options: dict[str, Any]) -> Callable[[str], SearchTask]:
    return lambda question: build_task(kind, question, options)


@dataclass(kw_only=True)
class _Run:
    """What one :meth:`AtomOfThoughtsPlanner.solve` call has produced so far."""

    rounds: list[GraphResult] = field(default_factory=list[GraphResult])
    best: str | None = None
    """The best answer so far: the latest answered sub-question (returned, marked partial,
    when the budget runs out before the final answer)."""


class AtomOfThoughtsPlanner(Planner):
    """Decompose into a DAG, solve the independent atoms in parallel, contract, repeat.

    Args:
        max_depth: Most decompose-and-contract steps.
        adaptive_depth: Also stop after as many steps as the first decomposition is deep.
        max_concurrency: Sub-questions of one step solved at the same time.
        strategy: ``"direct"``, a registered strategy name, or a :class:`Strategy`, used to
            answer every atomic question (the sub-questions and the final one).
        strategy_options: Options for a strategy given by name.
        task: The search task kind a strategy solves each atomic question as.
        task_options: Options of that task kind.
        solver: Answers atomic questions instead of ``strategy`` (any :class:`AtomSolver`).
    """

    name: ClassVar[str] = "aot"
    Options: ClassVar[type[pydantic.BaseModel]] = AoTOptions

    def __init__(self, *, max_depth: int = 8, adaptive_depth: bool = True,
                 max_concurrency: int = 16, strategy: str | Strategy = "direct",
                 strategy_options: dict[str, Any] | None = None, task: str = "chain",
                 task_options: dict[str, Any] | None = None,
                 solver: AtomSolver | None = None) -> None:
        by_name = isinstance(strategy, str)
        opts = AoTOptions(max_depth=max_depth, adaptive_depth=adaptive_depth,
                          max_concurrency=max_concurrency,
                          strategy=strategy if isinstance(strategy, str) else "direct",
                          strategy_options=(strategy_options or {}) if by_name else {},
                          task=task if by_name else "chain",
                          task_options=(task_options or {}) if by_name else {})
        self.max_depth = opts.max_depth
        self.adaptive_depth = opts.adaptive_depth
        self.max_concurrency = opts.max_concurrency
        if solver is not None:
            self.solver: AtomSolver = solver
        elif isinstance(strategy, Strategy):
            if strategy_options:
                raise UserError("strategy_options apply to a strategy given by name; "
                                f"configure {strategy!r} when you create it")
            validate_options("search task", task, task_schema(task), task_options or {})
            self.solver = StrategyAnswer(strategy=strategy,
                                         make_task=_task_maker(task, task_options or {}))
        elif opts.strategy == "direct":
            self.solver = DirectAnswer()
        else:
            self.solver = StrategyAnswer(
                strategy=strategy_class(opts.strategy).from_options(opts.strategy_options),
                make_task=_task_maker(opts.task, opts.task_options))

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        run = _Run()
        try:
            answer = await self._solve(ctx, question, run)
        except BudgetExceeded as exc:
            return PlanOutcome(answer=run.best, status="budget_exhausted", rounds=run.rounds,
                               error=str(exc), partial=True)
        if answer.answer is None:
            return PlanOutcome(answer=None, status="failed", rounds=run.rounds,
                               error=f"no answer could be extracted for {answer.question!r}")
        if answer.partial:  # the strategy ran out of budget on the final question
            return PlanOutcome(answer=answer.answer, status="budget_exhausted",
                               rounds=run.rounds, error="budget spent while answering "
                               f"{answer.question!r}", partial=True)
        return PlanOutcome(answer=answer.answer, rounds=run.rounds)

    def answer_stream(self, purpose: str | None, node_id: str | None) -> AnswerStream | None:
        """The final question's direct answer (``<step>.answer``) streams its ``Answer:``
        line; an answer chosen by a search strategy arrives whole.
        """
        final = node_id is not None and node_id.endswith(".answer")
        if final and purpose == "answer" and isinstance(self.solver, DirectAnswer):
            return AnswerLineStream()
        return None

    async def _solve(self, ctx: RunContext, question: str, run: _Run) -> AtomAnswer:
        current = question
        limit = self.max_depth
        step = 1
        while step <= limit:
            decomposition = await self._decompose(ctx, current, step)
            if decomposition is None:  # the fallback event was emitted
                return await self._final(ctx, current, step, run)
            if step == 1 and self.adaptive_depth:
                limit = min(limit, decomposition.depth())
            self._event(ctx, "decompose", f"step {step}: {len(decomposition.subquestions)} "
                        f"sub-questions, {len(decomposition.independent())} independent, "
                        f"depth {decomposition.depth()}")
            if decomposition.atomic:
                self._event(ctx, "atomic", f"step {step}: answering {current!r} directly")
                return await self._final(ctx, current, step, run)
            contracted = await self._step(ctx, current, decomposition, step, run)
            if contracted is None:  # the fallback event was emitted
                return await self._final(ctx, current, step, run)
            if " ".join(contracted.split()).casefold() == " ".join(current.split()).casefold():
                self._event(ctx, "fallback", f"step {step}: the contraction made no progress; "
                            f"answering the question directly")
                return await self._final(ctx, current, step, run)
            self._event(ctx, "contract", f"step {step}: {contracted}")
            current = contracted
            step += 1
        self._event(ctx, "depth_limit", f"{limit} steps taken; answering {current!r} directly")
        return await self._final(ctx, current, step, run)

    async def _final(self, ctx: RunContext, question: str, step: int, run: _Run) -> AtomAnswer:
        answer = await self.solver.solve(ctx, question, node_id=f"{step}.answer")
        if answer.answer is not None:
            run.best = answer.answer
        return answer

    async def _decompose(self, ctx: RunContext, question: str, step: int
                         ) -> Decomposition | None:
        request = ModelRequest(
            messages=(Message.system(DECOMPOSE_SYSTEM), Message.user(f"Question: {question}")),
            purpose="decompose", settings=_DETERMINISTIC, metadata={"question": question})
        try:
            parsed = await ctx.parse(request, Decomposition, node_id=f"{step}.decompose")
        except UnexpectedModelBehavior as exc:
            self._event(ctx, "fallback", f"step {step}: no valid decomposition after a repair "
                        f"turn ({exc}); answering the question directly")
            return None
        if len(parsed.responses) > 1:
            self._event(ctx, "decompose_repaired", f"step {step}: the first decomposition was "
                        f"invalid; the repair turn fixed it")
        return parsed.value

    async def _step(self, ctx: RunContext, question: str, decomposition: Decomposition,
                    step: int, run: _Run) -> str | None:
        """Solve the independent sub-questions in parallel, then contract; the new question,
        or ``None`` after a fallback event.
        """
        executor = Executor(ctx, max_concurrency=self.max_concurrency,
                            policy=FailurePolicy(mode="skip_dependants"))
        independent = decomposition.independent()
        node_ids = [f"{step}.{sub.id}" for sub in independent]
        for node_id, sub in zip(node_ids, independent, strict=True):
            executor.add(Subtask(id=node_id, kind="search", fn=self._atom(node_id),
                                 args={"question": sub.question}, description=sub.question))
        contract_id = f"{step}.contract"
        executor.add(Subtask(id=contract_id, kind="join",
                             fn=self._contract(question, decomposition, contract_id),
                             args={"answers": [Ref(n) for n in node_ids]},
                             description="contract the solved sub-questions"))
        executor.close()
        result = await executor.join()
        run.rounds.append(result)
        for node_id in node_ids:
            node = result.nodes[node_id]
            if node.status is NodeStatus.DONE:
                run.best = str(node.output)
        if result.status == "budget_exhausted":
            error = result.error
            raise error if isinstance(error, BudgetExceeded) else BudgetExceeded(
                "spent while solving sub-questions")
        contract = result.nodes[contract_id]
        if contract.status is NodeStatus.DONE:
            return contract.output
        failed = next((n for n in node_ids if result.nodes[n].status is not NodeStatus.DONE),
                      contract_id)
        self._event(ctx, "fallback", f"step {step}: {failed} failed "
                    f"({result.nodes[failed].error}); answering the question directly")
        return None

    def _atom(self, node_id: str) -> NodeFn:
        async def atom(ctx: RunContext, inputs: dict[str, Any]) -> str:
            question = str(inputs["question"])
            answer = await self.solver.solve(ctx, question, node_id=node_id)
            if answer.answer is None:
                raise UnexpectedModelBehavior(f"no answer to the sub-question {question!r}")
            return answer.answer

        return atom

    def _contract(self, question: str, decomposition: Decomposition, node_id: str) -> NodeFn:
        async def contract(ctx: RunContext, inputs: dict[str, Any]) -> str | None:
            answers: list[str] = inputs["answers"]
            solved = [solved_line(sub, a)
                      for sub, a in zip(decomposition.independent(), answers, strict=True)]
            still_open = [open_line(sub) for sub in decomposition.dependent()]
            user = f"Question: {question}\n\nAnswered sub-questions:\n" + "\n".join(solved)
            if still_open:
                user += "\n\nOpen sub-questions:\n" + "\n".join(still_open)
            request = ModelRequest(
                messages=(Message.system(CONTRACT_SYSTEM), Message.user(user)),
                purpose="contract", settings=_DETERMINISTIC, metadata={"question": question})
            response = await ctx.complete(request, node_id=node_id)
            contracted = parse_contraction(response.text)
            if contracted is None:
                raise UnexpectedModelBehavior("the contraction reply held no question",
                                              body=response.text)
            return contracted

        return contract

    @staticmethod
    def _event(ctx: RunContext, action: str, detail: str) -> None:
        if ctx.events.active:
            ctx.events.emit(PlannerEvent(action=action, detail=detail))
