"""One instance: run the agent on its question, score the answer, make the result line.

The same function runs in the driver (the local backend) and in Ray workers, so an instance
gives the same result wherever it runs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from forethought.eval.metrics import Metric, Score
from forethought.eval.results import InstanceResult, InstanceUsage
from forethought.exceptions import UserError

if TYPE_CHECKING:
    from forethought.agents.agent import Agent, AgentResult
    from forethought.eval.config import SimulateConfig
    from forethought.eval.datasets import Instance
    from forethought.runtime.budget import BudgetTracker


def strategy_label(agent: Agent) -> str:
    """What answers for this agent: the search strategy of a search planner, else the
    planner itself.
    """
    strategy = getattr(agent.planner, "strategy", None)
    name = getattr(strategy, "name", None)
    return name if isinstance(name, str) else agent.planner.name


def teach(agent: Agent, instance: Instance, simulate: SimulateConfig | None) -> None:
    """Tell a simulated model the instance's reference and difficulty (``eval.simulate``)."""
    if simulate is None or instance.reference is None:
        return
    from forethought.models.simulated import SimulatedModel, SimulatedTask

    model = agent.model
    if not isinstance(model, SimulatedModel):
        return
    difficulty = simulate.difficulty
    if isinstance(difficulty, str):
        raw = instance.record.get(difficulty)
        try:
            value = float(raw)  # pyright: ignore[reportArgumentType]
        except (TypeError, ValueError):
            raise UserError(f"eval.simulate.difficulty names the field {difficulty!r}, but "
                            f"instance {instance.id!r} has {raw!r} there, not a number in "
                            f"[0, 1]") from None
    else:
        value = float(difficulty)
    model.add_tasks([SimulatedTask(id=f"eval:{instance.id}", question=instance.question,
                                   answer=instance.reference, difficulty=value)])


def _usage(result: AgentResult) -> InstanceUsage:
    u = result.usage
    return InstanceUsage(model_calls=u.model_calls, prompt_tokens=u.prompt_tokens,
                         completion_tokens=u.completion_tokens, cost_usd=u.cost_usd)


async def solve(agent: Agent, instance: Instance, metric: Metric, *,
                within: BudgetTracker | None = None, simulate: SimulateConfig | None = None,
                strategy: str | None = None, worker: str | None = None,
                ) -> InstanceResult | None:
    """Run and score ``instance``; ``None`` when the dataset's budget refused it before it
    made any call (it did not run, so it stays to do).

    A run that raises becomes a result with status ``error``; a metric that rejects its own
    configuration (:class:`UserError`) stops the eval instead.
    """
    teach(agent, instance, simulate)
    label = strategy or strategy_label(agent)

    def line(*, answer: str | None, score: Score, status: str, error: str | None,
             duration_s: float, partial: bool = False, usage: InstanceUsage | None = None,
             run_id: str | None = None, verified: bool | None = None) -> InstanceResult:
        return InstanceResult(id=instance.id, index=instance.index, question=instance.question,
                              answer=answer, reference=instance.reference,
                              correct=score.correct, score=score.value, status=status,
                              partial=partial, strategy=label, verified=verified,
                              usage=usage or InstanceUsage(),
                              duration_s=duration_s, run_id=run_id, error=error,
                              metric_detail=score.detail, tags=instance.tags, worker=worker)

    started = time.perf_counter()
    try:
        result = await agent.arun(instance.question, within=within)
    except Exception as exc:  # noqa: BLE001 - one instance's failure is its result
        return line(answer=None, score=Score(correct=False, value=0.0), status="error",
                    error=f"{type(exc).__name__}: {exc}",
                    duration_s=time.perf_counter() - started)
    if (result.status == "budget_exhausted" and result.usage.model_calls == 0
            and within is not None and within.exhausted() is not None):
        return None
    status, error = result.status, result.error
    if result.answer is None:
        score = Score(correct=False, value=0.0, detail="no answer")
    else:
        try:
            score = await metric.score(result.answer, instance)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken metric marks the instance
            score = Score(correct=False, value=0.0)
            status, error = "error", f"metric {metric.name!r} raised {type(exc).__name__}: {exc}"
    return line(answer=result.answer, score=score, status=status, error=error,
                duration_s=result.duration_s, partial=result.partial, usage=_usage(result),
                run_id=result.run_id, verified=result.verified)
