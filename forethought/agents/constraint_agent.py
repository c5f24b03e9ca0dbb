"""The constraint agent: a model reads an instance and writes its constraints as data.

It asks for a :class:`~forethought.agents.constraint_spec.ConstraintSetSpec` with structured
output (the JSON schema goes with the request), formal checks where the model can write
them, and the registered checkers of the task family listed so it can name them. A reply that
does not validate, as JSON or as a constraint set, gets one repair turn with the error; if the
repaired reply fails too, or the model names no constraint, there is no constraint set and the
caller runs the instance unguided (the plangen planner emits a
:class:`~forethought.runtime.events.ConstraintsExtracted` event saying so). A task that knows
its constraints (NATURAL PLAN's parser) supplies them instead, and no model is asked.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, field

import pydantic

from forethought._sync import run_sync
from forethought.agents import prompts
from forethought.agents.constraint_spec import ConstraintSetSpec
from forethought.agents.constraints import ConstraintSet
from forethought.exceptions import BudgetExceeded, RunError, UnexpectedModelBehavior, UserError
from forethought.models.base import Model
from forethought.models.messages import Message, ModelRequest, ModelSettings, Usage
from forethought.runtime.context import RunContext


class ConstraintSetReply(ConstraintSetSpec):
    """A constraint set as a model writes it: the spec, checked as a whole as it will be used
    (so a check that binds a variable twice is a reason to repair, not a crash later).
    """

    @pydantic.model_validator(mode="after")
    def _usable(self) -> ConstraintSetReply:
        try:
            self.to_set(instance_id="reply", family="reply")
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self


@dataclass(kw_only=True)
class Extraction:
    """What the constraint agent produced for one instance."""

    constraint_set: ConstraintSet | None
    """``None``: no usable set (see :attr:`error`); the instance runs unguided."""
    source: str
    """``model:<name>``."""
    error: str | None = None
    repaired: bool = False
    """The first reply was invalid and a repair turn was needed."""
    usage: Usage = field(default_factory=Usage)


def instance_key(question: str) -> str:
    """A stable id for an instance known only by its text."""
    return hashlib.sha256(question.encode()).hexdigest()[:12]


def _checker_lines(family: str) -> str:
    from forethought.agents.checks import checker_names, get_checker

    names = [n for n in checker_names() if family and n.startswith(f"{family}.")]
    if not names:
        return prompts.NO_CHECKERS
    lines = [prompts.CHECKERS_HEAD]
    for name in names:
        doc = (inspect.getdoc(get_checker(name)) or "").strip().splitlines()
        lines.append(f"- {name}" + (f": {doc[0]}" if doc else ""))
    return "\n".join(lines)


@dataclass(kw_only=True)
class ConstraintAgent:
    """Extracts an instance's :class:`ConstraintSet` with a model.

    Example::

        agent = ConstraintAgent()
        found = await agent.aextract(ctx, "Schedule 30 minutes for Ann and Bo on Monday ...",
                                     family="calendar")
        if found.constraint_set is None:
            print("unguided:", found.error)
    """

    model: Model | None = None
    """The model that writes the constraints (``None``: the run's model)."""
    list_checkers: bool = True
    """Show the family's registered checkers in the prompt, so the model can name them."""
    temperature: float | None = 0.0

    def request(self, question: str, *, instance_id: str, family: str) -> ModelRequest:
        schema = json.dumps(ConstraintSetReply.model_json_schema())
        checkers = _checker_lines(family) if self.list_checkers else prompts.NO_CHECKERS
        system = prompts.EXTRACT_SYSTEM.format(checkers=checkers, schema=schema)
        return ModelRequest(
            messages=(Message.system(system), Message.user(question)), purpose="constraints",
            settings=ModelSettings(temperature=self.temperature),
            metadata={"instance_id": instance_id, "family": family, "question": question})

    async def aextract(self, ctx: RunContext, question: str, *, instance_id: str = "",
                       family: str = "", node_id: str | None = None) -> Extraction:
        """The constraint set of ``question``, or why there is none.

        Raises:
            BudgetExceeded: the budget ran out before a valid reply (nothing else raises: a
                model that fails or writes no usable set gives an :class:`Extraction` without
                a set, with the reason).
        """
        ident = instance_id or instance_key(question)
        model = self.model or ctx.model
        source = f"model:{model.name}"
        request = self.request(question, instance_id=ident, family=family)
        try:
            parsed = await ctx.parse(request, ConstraintSetReply, model=self.model,
                                     node_id=node_id)
        except BudgetExceeded:
            raise
        except UnexpectedModelBehavior as exc:
            return Extraction(constraint_set=None, source=source, repaired=True,
                              error=f"invalid constraint set after a repair turn: {exc}")
        except (RunError, OSError) as exc:
            return Extraction(constraint_set=None, source=source,
                              error=f"the constraint agent's call failed: "
                                    f"{type(exc).__name__}: {exc}")
        cs = parsed.value.to_set(instance_id=ident, family=family, source=source)
        repaired = len(parsed.responses) > 1
        if not len(cs):
            return Extraction(constraint_set=None, source=source, repaired=repaired,
                              usage=parsed.usage, error="the model listed no constraints")
        return Extraction(constraint_set=cs, source=source, repaired=repaired,
                          usage=parsed.usage)

    def extract(self, question: str, *, model: Model, instance_id: str = "",
                family: str = "") -> Extraction:
        """Synchronous :meth:`aextract` with a context of its own around ``model``."""
        ctx = RunContext(model=model)
        return run_sync(self.aextract(ctx, question, instance_id=instance_id, family=family),
                        name="ConstraintAgent.extract()", async_form="agent.aextract(ctx, ...)")


__all__ = ["ConstraintAgent", "ConstraintSetReply", "Extraction", "instance_key"]
