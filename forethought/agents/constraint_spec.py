"""Constraint sets at the trust boundary: the JSON a model (or a file) writes, validated.

:class:`ConstraintSetSpec` is what a constraint agent asks a model for (its JSON schema goes
into the request); :func:`parse_constraint_set` validates such JSON and returns the
:class:`~forethought.agents.constraints.ConstraintSet` used inside, with an error that names
each bad field. The content of a formal check (a formula, code) is not judged here: one that
does not parse is ``unknown`` when it runs, so one bad formula does not cost the whole set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic

from forethought._options import describe_errors
from forethought.agents.constraints import (
    Binding,
    Constraint,
    ConstraintSet,
    FormalCheck,
    PythonCheck,
    RegisteredCheck,
    Z3Check,
)
from forethought.exceptions import UserError

_STRICT = pydantic.ConfigDict(extra="forbid")


class BindingSpec(pydantic.BaseModel):
    model_config = _STRICT
    name: str = pydantic.Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                               description="the variable's name in the problem")
    pattern: str = pydantic.Field(min_length=1, description="regular expression over the "
                                  "candidate; group 1 (or the whole match) is the value")
    type: Literal["int", "real", "bool", "time"] = "int"
    occurrence: int = pydantic.Field(default=0, description="0 first match, -1 last")


class Z3CheckSpec(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["z3"]
    problem: str = pydantic.Field(min_length=1, description="SMT-LIB 2 script, or a JSON "
                                  "constraint problem as a string")
    bindings: list[BindingSpec] = pydantic.Field(default_factory=list[BindingSpec])
    timeout_s: float | None = pydantic.Field(default=None, gt=0, le=600)


class PythonCheckSpec(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["python"]
    code: str = pydantic.Field(min_length=1, description="defines check(candidate) -> bool "
                               "or (bool, reason); runs in the sandbox")
    tool: str = "python"
    timeout_s: float | None = pydantic.Field(default=None, gt=0, le=600)


class RegisteredCheckSpec(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["registered"]
    name: str = pydantic.Field(min_length=1, description="a registered checker's name")
    params: dict[str, Any] = pydantic.Field(default_factory=dict[str, Any])
    timeout_s: float | None = pydantic.Field(default=None, gt=0, le=600)


CheckSpec = Annotated[Z3CheckSpec | PythonCheckSpec | RegisteredCheckSpec,
                      pydantic.Field(discriminator="kind")]


class ConstraintSpec(pydantic.BaseModel):
    model_config = _STRICT
    id: str = pydantic.Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$",
                             description="short unique id, e.g. 'busy.Debra'")
    text: str = pydantic.Field(min_length=1, description="the requirement in words")
    kind: Literal["hard", "soft"] = "hard"
    weight: float = pydantic.Field(default=1.0, gt=0, allow_inf_nan=False)
    check: CheckSpec | None = None


class ConstraintSetSpec(pydantic.BaseModel):
    """The constraints of one instance, as JSON."""

    model_config = _STRICT
    constraints: list[ConstraintSpec]

    @pydantic.field_validator("constraints")
    @classmethod
    def _unique_ids(cls, value: list[ConstraintSpec]) -> list[ConstraintSpec]:
        seen: set[str] = set()
        for c in value:
            if c.id in seen:
                raise ValueError(f"two constraints have the id {c.id!r}; ids must be unique")
            seen.add(c.id)
        return value

    def to_set(self, *, instance_id: str, family: str, source: str = "") -> ConstraintSet:
        return ConstraintSet(instance_id=instance_id, family=family, source=source,
                             constraints=tuple(_constraint(c) for c in self.constraints))

    @classmethod
    def from_set(cls, constraint_set: ConstraintSet) -> ConstraintSetSpec:
        return cls(constraints=[_spec(c) for c in constraint_set])


def _check(spec: Z3CheckSpec | PythonCheckSpec | RegisteredCheckSpec) -> FormalCheck:
    if isinstance(spec, Z3CheckSpec):
        return Z3Check(problem=spec.problem, timeout_s=spec.timeout_s, bindings=tuple(
            Binding(name=b.name, pattern=b.pattern, type=b.type, occurrence=b.occurrence)
            for b in spec.bindings))
    if isinstance(spec, PythonCheckSpec):
        return PythonCheck(code=spec.code, tool=spec.tool, timeout_s=spec.timeout_s)
    return RegisteredCheck(name=spec.name, params=dict(spec.params), timeout_s=spec.timeout_s)


def _constraint(spec: ConstraintSpec) -> Constraint:
    return Constraint(id=spec.id, text=spec.text, kind=spec.kind, weight=spec.weight,
                      check=None if spec.check is None else _check(spec.check))


def _spec(c: Constraint) -> ConstraintSpec:
    check: Z3CheckSpec | PythonCheckSpec | RegisteredCheckSpec | None = None
    if isinstance(c.check, Z3Check):
        check = Z3CheckSpec(kind="z3", problem=c.check.problem, timeout_s=c.check.timeout_s,
                            bindings=[BindingSpec(name=b.name, pattern=b.pattern, type=b.type,
                                                  occurrence=b.occurrence)
                                      for b in c.check.bindings])
    elif isinstance(c.check, PythonCheck):
        check = PythonCheckSpec(kind="python", code=c.check.code, tool=c.check.tool,
                                timeout_s=c.check.timeout_s)
    elif isinstance(c.check, RegisteredCheck):
        check = RegisteredCheckSpec(kind="registered", name=c.check.name,
                                    params=dict(c.check.params), timeout_s=c.check.timeout_s)
    return ConstraintSpec(id=c.id, text=c.text, kind=c.kind, weight=c.weight, check=check)


def parse_constraint_set(data: str | bytes | dict[str, Any], *, instance_id: str, family: str,
                         source: str = "") -> ConstraintSet:
    """Validate JSON (text or already decoded) as a :class:`ConstraintSetSpec`.

    Raises:
        UserError: naming every bad field (``constraints.2.check.kind: ...``).
    """
    try:
        if isinstance(data, str | bytes):
            spec = ConstraintSetSpec.model_validate_json(data)
        else:
            spec = ConstraintSetSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UserError(f"invalid constraint set for {instance_id!r}: "
                        f"{describe_errors(exc)}") from None
    return spec.to_set(instance_id=instance_id, family=family, source=source)


__all__ = ["BindingSpec", "ConstraintSetSpec", "ConstraintSpec", "PythonCheckSpec",
           "RegisteredCheckSpec", "Z3CheckSpec", "parse_constraint_set"]
