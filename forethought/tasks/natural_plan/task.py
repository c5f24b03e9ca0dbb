"""NATURAL PLAN domains as search tasks: the prompt is the question, a whole plan is one
step, and the exact verifier is the plan checker.

The task parses its prompt into a :class:`~forethought.agents.constraints.ConstraintSet`
(:attr:`NaturalPlanTask.constraint_set`) when it is built, so a verification agent can use
the constraints directly instead of extracting them with a model. Registered as
``natural_plan_calendar``, ``natural_plan_meeting`` and ``natural_plan_trip`` (entry points
``forethought.tasks``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pydantic

from forethought.agents.constraints import ConstraintSet
from forethought.models.messages import ModelRequest
from forethought.search.machine import Action, Compute
from forethought.search.task import Proposal, SearchTask, State
from forethought.tasks.natural_plan import calendars, meetings, trips
from forethought.tasks.natural_plan.dataset import Domain, Instance
from forethought.tasks.natural_plan.plans import constraints_for, verify_plan

SYSTEM = ("You are an expert planner. Solve the planning task exactly: respect every "
          "constraint it states. {format}")
FORMATS: dict[Domain, str] = {
    "calendar": "Answer with one line: 'Here is the proposed time: <Day>, <H:MM> - <H:MM>' "
                "(24-hour times).",
    "meeting": "Start with 'SOLUTION:' and write the plan as sentences of these forms only: "
               "'You start at <place> at <time>.', 'You travel to <place> in <n> minutes and "
               "arrive at <time>.', 'You wait until <time>.', 'You meet <name> for <n> "
               "minutes from <time> to <time>.' (times like 9:00AM).",
    "trip": "Write the plan as lines '**Day <a>-<b>:** Visit <City> for <n> days.' and "
            "'**Day <d>:** Fly from <City> to <City>.'; the day of a flight counts for both "
            "cities."}


class NaturalPlanOptions(pydantic.BaseModel):
    """Options of the NATURAL PLAN tasks in a recipe."""

    model_config = pydantic.ConfigDict(extra="forbid")
    temperature: float | None = pydantic.Field(default=0.7, ge=0, le=2)


@dataclass(kw_only=True)
class NaturalPlanTask(SearchTask):
    """One NATURAL PLAN prompt; subclasses fix the domain."""

    domain: ClassVar[Domain]
    options_model: ClassVar[type[pydantic.BaseModel]] = NaturalPlanOptions
    max_depth: int = 1
    instance_id: str = ""
    """The dataset id, when known (else a hash of the prompt names the constraint set)."""
    constraint_set: ConstraintSet = field(init=False)
    """The prompt's constraints, from the deterministic parser (all hard, exactly checked)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        ident = self.instance_id or hashlib.sha256(self.question.encode()).hexdigest()[:12]
        self.constraint_set = constraints_for(self.domain, self.question, instance_id=ident)
        self.metadata.setdefault("domain", f"natural_plan.{self.domain}")
        if self.instance_id:
            self.metadata.setdefault("instance", self.instance_id)
            self.metadata.setdefault("instance_id", self.instance_id)  # simulators match it

    @classmethod
    def from_options(cls, question: str, options: dict[str, Any]) -> NaturalPlanTask:
        return cls(question=question, temperature=options.get("temperature", 0.7))

    @classmethod
    def for_instance(cls, instance: Instance, *, shots: int = 5,
                     temperature: float | None = 0.7) -> NaturalPlanTask:
        kind = TASKS[instance.domain]
        return kind(question=instance.prompt(5 if shots else 0), instance_id=instance.id,
                    temperature=temperature)

    # --- one step: the whole plan ---------------------------------------------------------------

    def extract(self, text: str) -> str | None:
        """The plan in a reply, in canonical form, or ``None`` when there is none."""
        raise NotImplementedError

    def rollout_request(self, state: State) -> ModelRequest:
        return self.request(SYSTEM.format(format=FORMATS[self.domain]), self.question,
                            "rollout", temperature=self.temperature)

    def propose_request(self, state: State) -> ModelRequest:
        return self.request(SYSTEM.format(format=FORMATS[self.domain]), self.question,
                            "propose", temperature=self.temperature)

    def parse_rollout(self, state: State, text: str) -> State | None:
        plan = self.extract(text)
        return None if plan is None else State(steps=(plan,), final=True, answer=plan)

    def parse_proposal(self, state: State, text: str) -> Proposal:
        final = self.parse_rollout(state, text)
        if final is None:
            return Proposal(rejected=[f"no {self.domain} plan in {text.strip()[:80]!r}"])
        return Proposal(states=[final])

    def render(self, state: State) -> str:
        return state.answer or "\n".join(state.steps)

    def normalise(self, answer: str) -> str:
        return self.extract(answer) or answer.strip()

    # --- exact verification ----------------------------------------------------------------------

    @property
    def has_verifier(self) -> bool:
        return True

    def check(self, plan: str) -> bool:
        """Whether ``plan`` satisfies every constraint (the exact plan checker)."""
        return verify_plan(self.constraint_set, plan).accepted

    def verify(self, state: State) -> Action:
        return Compute(fn=functools.partial(self.check, state.answer or ""), tag="verify")


@dataclass(kw_only=True)
class CalendarTask(NaturalPlanTask):
    domain: ClassVar[Domain] = "calendar"

    def extract(self, text: str) -> str | None:
        slot = calendars.parse_slot(text)
        return None if slot is None else calendars.render_plan(slot)


@dataclass(kw_only=True)
class MeetingTask(NaturalPlanTask):
    domain: ClassVar[Domain] = "meeting"

    def extract(self, text: str) -> str | None:
        steps = meetings.parse_plan(text)
        known = [i for i, s in enumerate(steps) if s.kind != "unknown"]
        if not known:
            return None
        # Commentary before the first step or after the last is not part of the plan; an
        # unknown sentence between steps is, and the format check will name it.
        return " ".join(s.text + "." for s in steps[known[0]:known[-1] + 1])


@dataclass(kw_only=True)
class TripTask(NaturalPlanTask):
    domain: ClassVar[Domain] = "trip"

    def extract(self, text: str) -> str | None:
        lines = [ln.strip() for ln in text.splitlines()]
        days = [i for i, ln in enumerate(lines) if re.match(r"^(?:\*\*)?Day \d", ln)]
        if not days or not trips.parse_itinerary(text).visits:
            return None
        return "\n".join(ln for ln in lines[days[0]:days[-1] + 1] if ln)


TASKS: dict[Domain, type[NaturalPlanTask]] = {"calendar": CalendarTask,
                                              "meeting": MeetingTask, "trip": TripTask}
