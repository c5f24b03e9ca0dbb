"""The instances a simulated model knows: their reference answers and difficulties."""

from __future__ import annotations

from dataclasses import dataclass

from forethought.exceptions import UserError
from forethought.models.simulated.answers import same_answer
from forethought.models.simulated.arithmetic import Arithmetic


@dataclass(kw_only=True, frozen=True)
class SimulatedTask:
    """An instance the simulator knows the answer to."""

    id: str
    """Matched against ``request.metadata["instance_id"]``."""
    question: str
    """Matched as a substring of the request's user messages when no instance id is given."""
    answer: str
    """The reference answer."""
    difficulty: float
    """In ``[0, 1]``; the chance of a right answer falls as it rises (see
    :meth:`SimulatedModel.accuracy`)."""
    distractors: tuple[str, ...] = ()
    """Wrong answers, most tempting first. Empty: some are made up from the answer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "distractors", tuple(self.distractors))
        if not 0.0 <= self.difficulty <= 1.0:
            raise UserError(f"SimulatedTask {self.id!r}: difficulty must be in [0, 1], "
                            f"got {self.difficulty!r}")
        for d in self.distractors:
            if same_answer(d, self.answer):
                raise UserError(f"SimulatedTask {self.id!r}: distractor {d!r} is the answer")

    @classmethod
    def from_arithmetic(cls, arithmetic: Arithmetic) -> SimulatedTask:
        """The task the arithmetic oracle makes of an expression."""
        return cls(id=f"arithmetic:{arithmetic.text}", question=arithmetic.text,
                   answer=arithmetic.answer, difficulty=arithmetic.difficulty,
                   distractors=arithmetic.distractors())


@dataclass(kw_only=True, frozen=True)
class Instance:
    """What a request concerns: a task, and its expression when it is arithmetic."""

    task: SimulatedTask
    arithmetic: Arithmetic | None = None
