"""The local backend: instances run concurrently in this process, on one shared agent.

Concurrency is asyncio's: instances spend their time waiting for models and tools, so one
process keeps many in flight. Runs and their events go to the run store through the agent;
the eval's results are committed by the runner.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from forethought.eval.datasets import Instance
from forethought.eval.resume import Session
from forethought.eval.runner import Backend, OnResult
from forethought.eval.solve import solve, strategy_label
from forethought.runtime.budget import BudgetTracker

if TYPE_CHECKING:
    from forethought.agents.agent import Agent


def default_concurrency() -> int:
    """Instances at once on this machine: enough to keep models busy, a few per core."""
    return max(4, min(64, 4 * (os.cpu_count() or 1)))


def build_eval_agent(session: Session, store: Path | str | None) -> Agent:
    """The agent the session's recipe describes (with its model override)."""
    from forethought.recipes import build_agent

    agent: Agent = build_agent(session.spec.recipe(), model=session.spec.model, store=store)
    return agent


class LocalBackend(Backend):
    name = "local"

    def __init__(self, *, concurrency: int | None = None, store: Path | str | None = "default",
                 agent: Agent | None = None) -> None:
        """Args:
        concurrency: Instances at once (default: :func:`default_concurrency`).
        store: The run store the agent records runs in (``None``: none).
        agent: Use this agent instead of building the recipe's (tests, benchmarks).
        """
        self.concurrency = concurrency or default_concurrency()
        self.store = store
        self._agent = agent

    async def run(self, session: Session, instances: Sequence[Instance], on_result: OnResult,
                  dataset_budget: BudgetTracker) -> None:
        owned = self._agent is None
        agent = self._agent or build_eval_agent(session, self.store)
        label = strategy_label(agent)
        pending = iter(instances)

        async def worker() -> None:
            for instance in pending:
                if dataset_budget.exhausted() is not None:
                    return
                result = await solve(agent, instance, session.metric, within=dataset_budget,
                                     simulate=session.spec.simulate, strategy=label)
                if result is not None:
                    on_result(result)

        try:
            async with agent, asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(instances))):
                    group.create_task(worker())
        except BaseExceptionGroup as failures:
            # A worker failed (the store, a metric's configuration); the others were
            # cancelled. The first failure is the one to report.
            raise failures.exceptions[0] from None
        finally:
            if owned:
                agent.close()
