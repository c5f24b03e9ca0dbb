"""The decomposition an Atom-of-Thoughts step asks for: sub-questions with dependencies.

It is parsed from the model's JSON with :meth:`RunContext.parse`; the validator rejects a
decomposition that is not a DAG (duplicate ids, a dependency on an unknown sub-question, a
cycle), so the model gets one repair turn naming the problem before the planner falls back.
"""

from __future__ import annotations

import pydantic

from forethought.runtime.graph import cycle_message, find_cycle


class SubQuestion(pydantic.BaseModel):
    """One sub-question of a decomposition."""

    model_config = pydantic.ConfigDict(extra="forbid")

    id: int = pydantic.Field(ge=1, description="A number unique within the decomposition")
    question: str = pydantic.Field(min_length=1, description=(
        "The sub-question; it may refer to the answer of another sub-question as #id"))
    depends_on: list[int] = pydantic.Field(default_factory=list[int], description=(
        "The ids of the sub-questions whose answers this one needs"))


class Decomposition(pydantic.BaseModel):
    """A question split into a dependency DAG of sub-questions."""

    model_config = pydantic.ConfigDict(extra="forbid")

    thought: str = pydantic.Field(default="", description="Brief reasoning, optional")
    subquestions: list[SubQuestion] = pydantic.Field(min_length=1)

    @pydantic.model_validator(mode="after")
    def _is_a_dag(self) -> Decomposition:
        problem = dag_problem(self.subquestions)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def atomic(self) -> bool:
        """One sub-question: nothing to contract, answer it directly."""
        return len(self.subquestions) == 1

    def independent(self) -> list[SubQuestion]:
        """The sub-questions that need no other answer (solvable now, in parallel)."""
        return [s for s in self.subquestions if not s.depends_on]

    def dependent(self) -> list[SubQuestion]:
        return [s for s in self.subquestions if s.depends_on]

    def depth(self) -> int:
        """The number of sub-questions on the longest dependency path."""
        by_id = {s.id: s for s in self.subquestions}
        memo: dict[int, int] = {}

        def level(sid: int) -> int:
            if sid not in memo:
                memo[sid] = 1 + max((level(d) for d in by_id[sid].depends_on), default=0)
            return memo[sid]

        return max(level(s.id) for s in self.subquestions)


def dag_problem(subquestions: list[SubQuestion]) -> str | None:
    """Why ``subquestions`` do not form a DAG, or ``None`` when they do."""
    ids = [s.id for s in subquestions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        return (f"sub-question ids must be unique; {', '.join(map(str, duplicates))} "
                f"appear more than once")
    known = set(ids)
    for s in subquestions:
        if s.id in s.depends_on:
            return f"sub-question {s.id} depends on itself"
        missing = [d for d in s.depends_on if d not in known]
        if missing:
            return (f"sub-question {s.id} depends on {missing[0]!r}, which is not a sub-question "
                    f"id; valid ids: {', '.join(map(str, sorted(known)))}")
    cycle = find_cycle({str(s.id): [str(d) for d in s.depends_on] for s in subquestions})
    if cycle:
        return ("the dependencies must not form a cycle: "
                + cycle_message(cycle).replace("task graph", "decomposition")
                .replace("node", "sub-question"))
    return None
