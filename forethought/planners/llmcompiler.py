"""An LLMCompiler-style planner (Kim et al., 2024, "An LLM Compiler for Parallel Function
Calling", arXiv:2312.04511).

The model writes a numbered plan of tool calls whose arguments reference earlier results with
``$n``. The plan is parsed while it streams, and each task is handed to the executor the moment
its line is complete, so independent tool calls run in parallel with the rest of the planning.
A join step then reads the results and either answers or asks for a new plan (bounded).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pydantic

from forethought.exceptions import BudgetExceeded, GraphValidationError
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.planners.answer_stream import AnswerStream, FinishActionStream
from forethought.planners.base import Planner, PlanOutcome, describe_tools
from forethought.planners.plan_parser import PlanLineError, PlannedTask, StreamingPlanParser
from forethought.runtime.context import RunContext, ToolsLike
from forethought.runtime.events import PlannerEvent
from forethought.runtime.executor import Executor, FailurePolicy, GraphResult, NodeStatus
from forethought.runtime.graph import Subtask
from forethought.runtime.rendering import render_output

PLAN_SYSTEM = """\
You are a planner. Write a plan that answers the user's question by calling tools.

Tools:
{tools}

Write one task per line, numbered from {first}:
{first}. tool_name(argument="value", other=3)
Arguments are JSON values or $n, the output of task n. $n may also appear inside a string,
as in calculator(expression="$1 * 2"). A task may only use the outputs of earlier tasks.
Tasks that do not depend on each other run in parallel, so split the work into independent
steps where you can. End the plan with a last line `N. join()`. You may write a
`Thought: ...` line first. Write nothing after join()."""

JOIN_SYSTEM = """\
You decide whether the results of a plan answer the question.
Reply with a short `Thought: ...` line, then exactly one action line:
Action: Finish(<the final answer>)
Action: Replan(<what went wrong and what the next plan must do>)
{replan_rule}"""


class LLMCompilerOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    max_replans: int = pydantic.Field(default=2, ge=0, le=10, strict=True)
    """New plans the join step may ask for after the first."""
    max_tasks: int = pydantic.Field(default=32, ge=1, le=1000, strict=True)
    """Tasks accepted from one plan; extra lines are reported as errors."""
    max_concurrency: int = pydantic.Field(default=16, ge=1, le=1024, strict=True)
    """Tasks of one plan running at the same time."""


@dataclass(kw_only=True)
class _Round:
    """One plan-and-execute round, as the join step and the next plan see it."""

    tasks: list[PlannedTask] = field(default_factory=list[PlannedTask])
    errors: dict[int, str] = field(default_factory=dict[int, str])
    error_lines: dict[int, str] = field(default_factory=dict[int, str])
    """The text of each numbered line that could not be read, by its number."""
    unnumbered: list[PlanLineError] = field(default_factory=list[PlanLineError])
    """Lines that look like tasks but carry no number."""
    result: GraphResult | None = None

    def observations(self) -> str:
        lines: list[str] = []
        indices = sorted({t.index for t in self.tasks if not t.is_join} | set(self.errors))
        by_index = {t.index: t for t in self.tasks}
        for i in indices:
            task = by_index.get(i)
            head = task.raw if task is not None else self.error_lines.get(
                i, f"{i}. (unparseable)")
            if i in self.errors:
                lines.append(f"{head} -> ERROR: {self.errors[i]}")
                continue
            node = self.result.nodes.get(str(i)) if self.result else None
            if node is None:
                lines.append(f"{head} -> ERROR: not run")
            elif node.status is NodeStatus.DONE:
                lines.append(f"{head} -> {render_output(node.output)}")
            elif node.status is NodeStatus.SKIPPED:
                lines.append(f"{head} -> SKIPPED: {node.error}")
            else:
                lines.append(f"{head} -> ERROR: {node.error}")
        lines.extend(f"{e.raw} -> ERROR: {e.message}" for e in self.unnumbered)
        return "\n".join(lines) or "(the plan had no tasks)"


_NO_TOOLS = "(no tools: write only `1. join()`)"
_DETERMINISTIC = ModelSettings(temperature=0.0)
"""Plans and joins are decisions, not samples (as in LLMCompiler); this also lets the
response cache serve re-runs."""

_ACTION = re.compile(r"Action\s*:\s*(Finish|Replan)\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)


def parse_join(text: str) -> tuple[str, str] | None:
    """``("finish", answer)`` or ``("replan", reason)`` from a join reply, or None."""
    idx = text.lower().rfind("action")
    if idx < 0:
        return None
    m = _ACTION.search(text[idx:].strip())
    if not m:
        return None
    return m.group(1).lower(), m.group(2).strip()


class LLMCompilerPlanner(Planner):
    """Plan tool calls as a DAG, run them while the plan streams, join, re-plan if needed."""

    name: ClassVar[str] = "llmcompiler"
    Options: ClassVar[type[pydantic.BaseModel]] = LLMCompilerOptions

    def __init__(self, *, max_replans: int = 2, max_tasks: int = 32, max_concurrency: int = 16
                 ) -> None:
        opts = LLMCompilerOptions(max_replans=max_replans, max_tasks=max_tasks,
                                  max_concurrency=max_concurrency)
        self.max_replans = opts.max_replans
        self.max_tasks = opts.max_tasks
        self.max_concurrency = opts.max_concurrency

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        outcome = PlanOutcome(answer=None)
        history: list[str] = []
        outputs: dict[str, Any] = {}
        offset = 0
        for round_no in range(self.max_replans + 1):
            replans_left = self.max_replans - round_no
            try:
                rnd = await self._plan_and_execute(ctx, question, history, outputs, offset,
                                                   round_no)
            except BudgetExceeded as exc:
                return self._out_of_budget(outcome, exc)
            assert rnd.result is not None
            outcome.rounds.append(rnd.result)
            outputs.update(rnd.result.outputs)
            offset = max([offset, *(t.index for t in rnd.tasks), *rnd.errors])
            if rnd.result.status == "budget_exhausted":
                err = rnd.result.error
                return self._out_of_budget(outcome, err if isinstance(err, BudgetExceeded)
                                           else BudgetExceeded("spent during the plan"))
            observations = rnd.observations()
            try:
                decision = await self._join(ctx, question, observations, replans_left, round_no)
            except BudgetExceeded as exc:
                return self._out_of_budget(outcome, exc)
            action, text = decision
            if action == "finish":
                outcome.answer = text
                return outcome
            if replans_left == 0:
                break
            self._event(ctx, "replan", f"round {round_no + 1}: {text}")
            history.append(f"Plan {round_no + 1} and its results:\n{observations}\n"
                           f"The plan was judged insufficient: {text}")
        outcome.status = "failed"
        outcome.error = f"no answer after {self.max_replans} re-plans"
        return outcome

    def answer_stream(self, purpose: str | None, node_id: str | None) -> AnswerStream | None:
        """A join's ``Action: Finish(<answer>)`` streams as it is written."""
        return FinishActionStream() if purpose == "join" else None

    def _out_of_budget(self, outcome: PlanOutcome, exc: BudgetExceeded) -> PlanOutcome:
        # The best answer so far is the last result the plans produced, marked partial.
        outcome.status = "budget_exhausted"
        outcome.error = str(exc)
        outcome.partial = True
        for graph in reversed(outcome.rounds):
            done = [r for r in graph.nodes.values() if r.status is NodeStatus.DONE]
            if done:
                last = max(done, key=lambda r: int(r.id) if r.id.isdigit() else -1)
                outcome.answer = render_output(last.output)
                break
        return outcome

    async def _plan_and_execute(self, ctx: RunContext, question: str, history: list[str],
                                outputs: dict[str, Any], offset: int, round_no: int) -> _Round:
        rnd = _Round()
        executor = Executor(ctx, max_concurrency=self.max_concurrency,
                            policy=FailurePolicy(mode="skip_dependants"))
        for node_id, value in outputs.items():
            executor.add_result(node_id, value)
        parser = StreamingPlanParser()

        def take(items: list[PlannedTask | PlanLineError]) -> None:
            for item in items:
                if isinstance(item, PlanLineError):
                    # Never dropped: the join sees it among the results and can ask for a
                    # new plan; the event names the line for whoever watches the run.
                    self._event(ctx, "plan_line_unreadable", f"{item.raw!r}: {item.message}")
                self._dispatch(ctx.tools, executor, rnd, item, offset)

        user = f"Question: {question}"
        if history:
            user += ("\n\n" + "\n\n".join(history)
                     + f"\n\nWrite a new plan. Number its tasks from {offset + 1}; you may use "
                     f"the earlier results as $n.")
        request = ModelRequest(
            messages=(Message.system(PLAN_SYSTEM.format(
                tools=describe_tools(ctx.tools, empty=_NO_TOOLS), first=offset + 1)),
                      Message.user(user)),
            purpose="plan", settings=_DETERMINISTIC,
            metadata={"tools": ",".join(ctx.tools.names()), "task_offset": str(offset),
                      "question": question})
        try:
            await ctx.complete(request, node_id=f"plan-{round_no + 1}",
                               on_text=lambda chunk: take(parser.feed(chunk)))
            take(parser.finish())
        except asyncio.CancelledError:
            executor.cancel()  # the run is being cancelled: its dispatched tasks stop too
            raise
        finally:
            # Whatever happened to the plan call, tasks already dispatched finish and are kept.
            executor.close()
            rnd.result = await executor.join()
        if not parser.joined:
            self._event(ctx, "plan_unterminated", "the plan did not end with join(); "
                        "running the tasks it had")
        self._event(ctx, "plan_parsed",
                    f"round {round_no + 1}: {len(rnd.tasks)} tasks, "
                    f"{len(rnd.errors) + len(rnd.unnumbered)} errors")
        return rnd

    def _dispatch(self, tools: ToolsLike, executor: Executor, rnd: _Round,
                  item: PlannedTask | PlanLineError, offset: int) -> None:
        if isinstance(item, PlanLineError):
            if item.index is None:
                rnd.unnumbered.append(item)
            else:
                rnd.errors[item.index] = item.message
                rnd.error_lines[item.index] = item.raw
            return
        rnd.tasks.append(item)
        if item.is_join:
            return
        if item.index <= offset or any(t.index == item.index for t in rnd.tasks[:-1]):
            rnd.errors[item.index] = f"task number {item.index} was already used"
            return
        if len([t for t in rnd.tasks if not t.is_join]) > self.max_tasks:
            rnd.errors[item.index] = f"the plan has more than {self.max_tasks} tasks"
            return
        try:
            args = _bind_positional(tools, item)
            executor.add(Subtask(id=str(item.index), kind="tool", tool=item.tool, args=args,
                                 description=item.raw))
        except (GraphValidationError, ValueError) as exc:
            rnd.errors[item.index] = str(exc)

    async def _join(self, ctx: RunContext, question: str, observations: str, replans_left: int,
                    round_no: int) -> tuple[str, str]:
        rule = (f"You may ask for a new plan ({replans_left} left)." if replans_left
                else "No new plan is possible: you must reply with Finish.")
        request = ModelRequest(
            messages=(Message.system(JOIN_SYSTEM.format(replan_rule=rule)),
                      Message.user(f"Question: {question}\n\nPlan results:\n{observations}")),
            purpose="join", settings=_DETERMINISTIC,
            metadata={"replans_left": str(replans_left), "question": question})
        response = await ctx.complete(request, node_id=f"join-{round_no + 1}")
        decision = parse_join(response.text)
        if decision is None:
            # Models often answer outright; LLMCompiler treats a reply without Replan as Finish.
            self._event(ctx, "join_unparsed", "the join reply had no Action line; "
                        "using the reply as the answer")
            return "finish", response.text.strip()
        return decision

    @staticmethod
    def _event(ctx: RunContext, action: str, detail: str) -> None:
        if ctx.events.active:
            ctx.events.emit(PlannerEvent(action=action, detail=detail))


def _bind_positional(tools: ToolsLike, task: PlannedTask) -> dict[str, Any]:
    """Name positional arguments after the tool's parameters, in schema order."""
    if not task.positional:
        return dict(task.args)
    if task.tool not in tools:
        return dict(task.args)  # the executor reports the unknown tool with the valid names
    names = list(tools.get(task.tool).parameters.get("properties", {}))
    if len(task.positional) > len(names):
        raise ValueError(f"task {task.index}: {task.tool} takes {len(names)} arguments, "
                         f"got {len(task.positional)}")
    args = dict(zip(names, task.positional, strict=False))
    for key, value in task.args.items():
        if key in args:
            raise ValueError(f"task {task.index}: argument {key!r} given twice")
        args[key] = value
    return args
