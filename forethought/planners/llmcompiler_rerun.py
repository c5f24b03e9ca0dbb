"""Re-running one node of an LLMCompiler run (:meth:`LLMCompilerPlanner.rerun`).

What a *node* is here: each task of the plans (a tool call, named by its number), and
``join``, the last decision. The plans themselves are kept: a re-run never plans again.

- Task ``N``: the task runs again with the arguments it was planned with, and so does every
  task that depends on it, directly or through others, in any round (their inputs may
  change); every other task keeps its result. Then the answer is decided again over the last
  plan's results.
- ``join``: nothing runs again; the answer is decided again over the same results.

The decision is the join's (one model call, which may no longer ask for a new plan), or, when
a search strategy is given, the strategy's: it samples answers to the question framed with
the last plan's results and picks one as it always does (majority vote, best score...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forethought.exceptions import UserError
from forethought.planners.base import PlanOutcome, RerunTarget
from forethought.planners.plan_parser import PlannedTask
from forethought.runtime.context import RunContext, ToolsLike
from forethought.runtime.executor import Executor, FailurePolicy, GraphResult
from forethought.runtime.graph import Subtask

if TYPE_CHECKING:
    from forethought.planners.llmcompiler import PlanRound
    from forethought.search.base import Strategy

JOIN_NODE = "join"

DECIDE_TEMPLATE = """\
{question}

The tools called for this question returned (task number, call, result):
{observations}

Answer the question using these results."""


@dataclass(kw_only=True, frozen=True)
class CompilerRun:
    """An LLMCompiler run's rounds (tasks as planned, their results), for a re-run."""

    rounds: tuple[PlanRound, ...]


def _ran(run: CompilerRun) -> dict[str, PlannedTask]:
    """The tasks that were handed to the executor, by node id, in plan order."""
    tasks: dict[str, PlannedTask] = {}
    for rnd in run.rounds:
        nodes = rnd.result.nodes if rnd.result is not None else {}
        for task in rnd.tasks:
            if not task.is_join and str(task.index) in nodes:
                tasks[str(task.index)] = task
    return tasks


def rerun_targets(run: CompilerRun) -> list[RerunTarget]:
    targets = [RerunTarget(node=node, description=f"{task.raw} (then what depends on it, "
                           f"and the join)") for node, task in _ran(run).items()]
    targets.append(RerunTarget(node=JOIN_NODE, description="the last decision, over the "
                               "same results"))
    return targets


def check_target(run: CompilerRun, node: str) -> None:
    valid = [t.node for t in rerun_targets(run)]
    if node not in valid:
        raise UserError(f"the run has no node {node!r} to re-run; its nodes: "
                        f"{', '.join(valid)} (a task number, or join)")


def dependants(subtasks: Mapping[str, Subtask], node: str) -> set[str]:
    """``node`` and every subtask that depends on it, directly or through others."""
    users: dict[str, list[str]] = {}
    for sub in subtasks.values():
        for dep in sub.deps:
            users.setdefault(dep, []).append(sub.id)
    found, todo = {node}, [node]
    while todo:
        for user in users.get(todo.pop(), ()):
            if user not in found:
                found.add(user)
                todo.append(user)
    return found


async def reexecute(ctx: RunContext, run: CompilerRun, node: str, max_concurrency: int,
                    to_subtask: Callable[[ToolsLike, PlannedTask], Subtask]
                    ) -> tuple[CompilerRun, GraphResult]:
    """Run task ``node`` and its dependants again, the other results given; the run with
    the new results in place, and the graph that ran (the kept results included, as done).
    """
    planned = _ran(run)
    # A task whose tool the agent no longer has is kept as it was, unless it must run again.
    subtasks = {node_id: to_subtask(ctx.tools, task) for node_id, task in planned.items()}
    again = dependants(subtasks, node)
    for node_id in sorted(again, key=int):
        task = planned[node_id]
        if task.tool not in ctx.tools:
            have = ", ".join(repr(n) for n in ctx.tools.names()) or "none"
            raise UserError(f"task {node_id} calls {task.tool!r}, which the agent no longer "
                            f"has (its tools: {have}); it cannot run again")
    executor = Executor(ctx, max_concurrency=max_concurrency,
                        policy=FailurePolicy(mode="skip_dependants"))
    for rnd in run.rounds:
        assert rnd.result is not None
        for node_id, output in rnd.result.outputs.items():
            if node_id not in again:
                executor.add_result(node_id, output)
    try:
        for node_id in sorted(again, key=int):
            executor.add(subtasks[node_id])
    finally:
        executor.close()
        executed = await executor.join()
    rounds: list[PlanRound] = []
    for rnd in run.rounds:
        assert rnd.result is not None
        changed = {k: executed.nodes[k] for k in rnd.result.nodes if k in again}
        result = rnd.result if not changed else GraphResult(
            status=executed.status, nodes={**rnd.result.nodes, **changed},
            error=executed.error)
        rounds.append(dataclasses.replace(rnd, result=result))
    return CompilerRun(rounds=tuple(rounds)), executed


async def decide_with(ctx: RunContext, strategy: Strategy, question: str, observations: str,
                      *, node_id: str, outcome: PlanOutcome) -> PlanOutcome:
    """``outcome`` with the answer ``strategy`` chooses for the question framed with the
    plan's results (a step-by-step ``chain`` search task).
    """
    from forethought.planners.search import strategy_outcome
    from forethought.search.task import build_task

    task = build_task("chain", DECIDE_TEMPLATE.format(question=question,
                                                      observations=observations), {})
    result = await strategy.arun(ctx, task, node_id=node_id)
    return strategy_outcome(result, outcome)
