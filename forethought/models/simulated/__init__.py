"""The simulated model: a seeded, offline stand-in for a language model.

It is a simulator, named and documented as one: it knows reference answers and difficulties
and draws replies with the statistics inference-time methods depend on (accuracy falling with
difficulty, correlated wrong answers, an imperfect judge, token counts and latencies). It
never stands in for a real model in any claim about answer quality.
"""

from forethought.models.simulated.model import SimulatedModel, SimulatedTask
from forethought.models.simulated.spec import SPEC_KEYS

__all__ = ["SPEC_KEYS", "SimulatedModel", "SimulatedTask"]
