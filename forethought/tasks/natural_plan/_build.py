"""What the three domains share: making a constraint with a registered check, ids from
names, and checkers that first read the plan (a plan that cannot be read violates them all).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from forethought.agents.constraints import CheckOutcome, Constraint, RegisteredCheck

T = TypeVar("T")
Rule = Callable[[T, Mapping[str, Any]], CheckOutcome]
Checker = Callable[[str, Mapping[str, Any]], CheckOutcome]


def constraint(family: str, cid: str, text: str, checker: str, **params: Any) -> Constraint:
    """A hard constraint checked by the registered checker ``<family>.<checker>``."""
    return Constraint(id=cid, text=text, check=RegisteredCheck(
        name=f"{family}.{checker}", params=params))


def key(name: str) -> str:
    """A name as a piece of a constraint id (``Fisherman's Wharf`` -> ``Fisherman_s_Wharf``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)


def after_last(prompt: str, marker: str) -> str:
    """The text from the last ``marker`` on (the task after a few-shot prompt's examples)."""
    return prompt[prompt.rfind(marker):] if marker in prompt else prompt


def reading(parse: Callable[[str], T | CheckOutcome]) -> Callable[[Rule[T]], Checker]:
    """Make a checker of ``rule(plan, params)``: the candidate is parsed by ``parse`` first,
    and a violation from the parser (no plan in the answer) is the checker's verdict.
    """
    def wrap(rule: Rule[T]) -> Checker:
        @functools.wraps(rule)
        def checker(candidate: str, params: Mapping[str, Any]) -> CheckOutcome:
            plan = parse(candidate)
            return plan if isinstance(plan, CheckOutcome) else rule(plan, params)
        return checker
    return wrap
