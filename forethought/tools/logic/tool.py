"""The ``logic`` tool: a model writes premises and a conclusion in first-order logic, a prover
decides (LINC-style translate-then-prove).
"""

from __future__ import annotations

from typing import Any

import pydantic

from forethought._options import Problem
from forethought.exceptions import ModelRetry, UserError
from forethought.tools.base import FunctionTool, Tool, ToolFactory
from forethought.tools.logic.entailment import BackendChoice, acheck_entailment
from forethought.tools.logic.eprover import eprover_path

_DESCRIPTION = """Decide with a theorem prover whether first-order premises entail a \
conclusion: "True" (entailed), "False" (its negation is entailed), "Uncertain" (neither; a \
countermodel is returned), "Inconsistent" (the premises contradict each other) or "Unknown" \
(no decision in time). Proofs name the premises used. Notation (Unicode or ASCII): \
∀x / forall x, ∃x / exists x, ¬ / not / ~, ∧ / &, ∨ / |, ⊕ / xor, → / ->, ↔ / <->, = and ≠. \
Predicates start a formula like Rabbit(x) or Likes(x, bob); names not bound by a quantifier \
are constants. A quantifier's scope extends as far right as possible (∀x P(x) → Q(x) means \
∀x (P(x) → Q(x))). Precedence: ¬, ∧, ∨, ⊕, →, ↔. Example: premises ["∀x (Rabbit(x) → \
Cute(x))", "Rabbit(tom)"], conclusion "Cute(tom)" gives True."""


class LogicOptions(pydantic.BaseModel):
    """Options of the ``logic`` tool in a recipe."""

    model_config = pydantic.ConfigDict(extra="forbid")
    backend: BackendChoice = pydantic.Field(
        default="z3", description="'z3', 'eprover' (needs the eprover binary) or 'both'")
    require_agreement: bool = pydantic.Field(
        default=False, description="with both backends, answer Unknown unless they agree")
    timeout_s: float = pydantic.Field(default=10.0, gt=0, le=600,
                                      description="time limit of each prover per call, above "
                                                  "0 and at most 600 seconds")

    @pydantic.model_validator(mode="after")
    def _agreement(self) -> LogicOptions:
        if self.require_agreement and self.backend != "both":
            raise ValueError("require_agreement needs backend 'both'")
        return self


class LogicToolFactory(ToolFactory):
    """Builds the ``logic`` tool (registered under that name)."""

    name = "logic"
    Options = LogicOptions

    def check(self, options: pydantic.BaseModel) -> list[Problem]:
        assert isinstance(options, LogicOptions)
        if options.backend != "z3" and eprover_path() is None:
            return [Problem(loc=("backend",), message=f"backend {options.backend!r} needs the "
                            f"E prover, which is not installed (apt-get install eprover); use "
                            f"backend 'z3'")]
        return []

    def build(self, options: pydantic.BaseModel) -> Tool:
        assert isinstance(options, LogicOptions)
        if options.backend != "z3" and eprover_path() is None:
            raise UserError(f"logic tool: backend {options.backend!r} needs the E prover, "
                            f"which is not installed (apt-get install eprover); use "
                            f"backend 'z3'")
        if options.require_agreement and options.backend != "both":
            raise UserError("logic tool: require_agreement needs backend 'both'")
        settings = options

        async def logic(premises: list[str], conclusion: str) -> dict[str, Any]:
            """Decide whether the premises entail the conclusion.

            Args:
                premises: First-order formulas, one per premise.
                conclusion: The first-order formula to decide.
            """
            try:
                result = await acheck_entailment(
                    premises, conclusion, backend=settings.backend,
                    require_agreement=settings.require_agreement,
                    timeout_s=settings.timeout_s)
            except UserError as exc:
                raise ModelRetry(str(exc)) from None
            return result.to_dict()

        return FunctionTool(logic, name="logic", description=_DESCRIPTION,
                            timeout_s=options.timeout_s + 5)


logic_tool = LogicToolFactory()
"""The registered ``logic`` tool factory (entry point ``logic``)."""
