"""Shared by the eval tests: small recipes and datasets, a one-call planner, and a backend that
stops after some instances (as a crash would).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from forethought.eval.datasets import Instance
from forethought.eval.local import LocalBackend
from forethought.eval.results import InstanceResult
from forethought.eval.resume import Session
from forethought.eval.runner import OnResult
from forethought.models.messages import Message, ModelRequest
from forethought.planners.base import Planner, PlanOutcome
from forethought.runtime.budget import BudgetTracker
from forethought.runtime.context import RunContext

ARITHMETIC = [("What is 2 + 3?", "5"), ("What is 7 * 6?", "42"), ("What is 9 - 4?", "5"),
              ("What is 12 / 4?", "3"), ("What is (1 + 2) * 3?", "9"), ("What is 8 + 8?", "16"),
              ("What is 5 * 5 - 1?", "24"), ("What is 100 / 4?", "25")]


def arithmetic_recipe(folder: Path, *, n: int = len(ARITHMETIC), extra: str = "",
                      model: str = "simulated") -> Path:
    """A recipe over ``n`` arithmetic questions (the simulator solves them exactly)."""
    with (folder / "data.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            question, answer = ARITHMETIC[i % len(ARITHMETIC)]
            if i >= len(ARITHMETIC):
                question = question.replace("?", f" (copy {i})?")
            f.write(json.dumps({"id": f"q{i}", "question": question, "answer": answer,
                                "level": "easy" if i % 2 else "hard"}) + "\n")
    recipe = folder / "recipe.yaml"
    recipe.write_text(f"""\
name: arithmetic-eval
model: {model}
tools: [calculator]
planner: {{kind: llmcompiler, max_replans: 1}}
budget: {{max_model_calls: 8}}
eval:
  dataset: {{path: data.jsonl, reference: answer, id: id, tags: [level]}}
  metric: numeric
{extra}""", encoding="utf-8")
    return recipe


@dataclass
class OneCall(Planner):
    """Answers with one model call's text (so each instance costs exactly one call)."""

    name: ClassVar[str] = "one_call"
    Options = None  # type: ignore[assignment]  # never built from a recipe

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        reply = await ctx.complete(ModelRequest(messages=(Message.user(question),)))
        return PlanOutcome(answer=reply.text)


class Crash(Exception):  # noqa: N818 - stands in for a crash, not an error
    """Stands in for the process dying."""


class StopAfter(LocalBackend):
    """A local backend that raises after ``n`` results have been committed."""

    def __init__(self, n: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.n = n

    async def run(self, session: Session, instances: Sequence[Instance], on_result: OnResult,
                  dataset_budget: BudgetTracker) -> None:
        seen = 0

        def counting(result: InstanceResult) -> None:
            nonlocal seen
            on_result(result)
            seen += 1
            if seen >= self.n:
                raise Crash(f"stopped after {seen}")

        await super().run(session, instances, counting, dataset_budget)
