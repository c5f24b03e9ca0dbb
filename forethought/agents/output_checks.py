"""Output validators built from the verification machinery, so that the checks that judge
text answers judge typed outputs too.

- :func:`verify_output`: any :class:`~forethought.search.scorers.Verifier` (a model judge, a
  tool, the verification agent) judges the output; a rejection becomes a repair turn with the
  verifier's feedback.
- :func:`check_output`: the formal checks of a
  :class:`~forethought.agents.constraints.ConstraintSet` (z3, sandboxed Python, registered
  checkers); a verdict that is not accepted becomes a repair turn with its feedback.

Typed outputs are checked as their JSON text (a ``PythonCheck`` can ``json.loads`` it; a
``Z3Check``'s bindings read values from it by regular expression).

Example::

    agent = Agent(model, output_type=Itinerary)
    agent.output_validator(check_output(constraints))
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pydantic

from forethought.agents.constraints import ConstraintSet, Verdict, check_constraints
from forethought.exceptions import ModelRetry, UserError
from forethought.runtime.context import RunContext
from forethought.search.scorers import Verifier

T = TypeVar("T")


def output_text(value: object) -> str:
    """How an output is shown to a checker: a string as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return pydantic.TypeAdapter(type(value)).dump_json(value).decode()
    except (pydantic.PydanticSchemaGenerationError, TypeError, ValueError):
        return json.dumps(value, default=str)


def verify_output(verifier: Verifier) -> Callable[[RunContext[Any], T], Awaitable[T]]:
    """An output validator that accepts an output only if ``verifier`` does."""
    async def validate(ctx: RunContext[Any], output: T) -> T:
        verdict = await verifier.verify(ctx, ctx.question, output_text(output),
                                        node_id="output.verify")
        if not verdict.accepted:
            score = "no score" if verdict.score is None else f"score {verdict.score:.2f}"
            raise ModelRetry(f"the verifier rejected it ({score})"
                             + (f": {verdict.feedback}" if verdict.feedback else ""))
        return output

    return validate


def check_output(constraints: ConstraintSet) -> Callable[[RunContext[Any], T], Awaitable[T]]:
    """An output validator that accepts an output only if the verdict of ``constraints``'
    formal checks does (every check satisfied, none unknown; constraints without a formal
    check are for a model to judge and are left out here).
    """
    formal = replace(constraints, constraints=constraints.formal)
    if not formal.constraints:
        raise UserError(f"constraint set {constraints.instance_id!r} has no formally checked "
                        f"constraint: check_output would have nothing to check")

    async def validate(ctx: RunContext[Any], output: T) -> T:
        results = await check_constraints(ctx, formal, output_text(output))
        verdict = Verdict.of(formal, results)
        if not verdict.accepted:
            raise ModelRetry(verdict.feedback or "the output breaks a hard constraint")
        return output

    return validate
