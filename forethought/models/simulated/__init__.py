"""The simulated model: a seeded, offline stand-in for a language model.

It is a simulator, named and documented as one: it knows reference answers and difficulties
and draws replies with the statistics inference-time methods depend on (accuracy falling with
difficulty, correlated wrong answers, an imperfect judge, token counts and latencies). It
never stands in for a real model in any claim about answer quality.

Example::

    model = SimulatedModel([SimulatedTask(id="q1", question="Capital of Australia?",
                                          answer="Canberra", difficulty=0.6,
                                          distractors=("Sydney", "Melbourne"))], seed=0)
    model = SimulatedModel.from_spec("simulated:seed=3,skill=0.6")  # arithmetic only

Questions with an arithmetic expression (``What is (3 + 4) * 12 - 5?``) need no task: the
simulator solves them exactly and rates their difficulty by the number of operations.
"""

from forethought.models.simulated.model import SimulatedModel, SimulatedTask
from forethought.models.simulated.spec import SPEC_KEYS

__all__ = ["SPEC_KEYS", "SimulatedModel", "SimulatedTask"]
