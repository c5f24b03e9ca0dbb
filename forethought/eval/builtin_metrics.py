r"""The built-in metrics: exact, normalised, numeric, contains and choice.

All but ``exact`` first take the stated answer out of a longer reply (``Answer: 42``, ``The
answer is B``, ``\boxed{7}``) the way search strategies do, so the same answer scores the
same however it was written.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

import pydantic

from forethought.eval.metrics import Metric, Score
from forethought.search.answers import extract_answer, normalise_answer

if TYPE_CHECKING:
    from forethought.eval.datasets import Instance

_NUMBER = re.compile(r"[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?"
                     r"(?:\s*/\s*\d+)?|[-+]?\.\d+")


def stated(answer: str) -> str:
    """The answer a reply states, or the whole reply when it states none explicitly."""
    return extract_answer(answer) or answer.strip()


def _reference(instance: Instance, name: str) -> str:
    if instance.reference is None:
        # load_dataset leaves such records out when the metric needs a reference.
        raise ValueError(f"metric {name!r}: instance {instance.id!r} has no reference")
    return instance.reference


def _same(correct: bool, detail: str | None = None) -> Score:
    return Score(correct=correct, value=float(correct), detail=detail)


class Exact(Metric):
    """The answer equals the reference, surrounding whitespace aside."""

    name: ClassVar[str] = "exact"

    async def score(self, answer: str, instance: Instance) -> Score:
        return _same(answer.strip() == _reference(instance, self.name).strip())


class Normalised(Metric):
    """Equal after normalising: numbers by value (``1,000`` = ``1000.0``, ``0.5`` = ``1/2``),
    case, whitespace, quotes, ``$`` and a trailing full stop.
    """

    name: ClassVar[str] = "normalised"

    async def score(self, answer: str, instance: Instance) -> Score:
        ours = normalise_answer(stated(answer))
        return _same(ours == normalise_answer(_reference(instance, self.name)),
                     detail=f"normalised answer {ours!r}")


def parse_number(text: str) -> float | None:
    """The number ``text`` states: all of it if it is one, else its last number."""
    normal = normalise_answer(text)
    try:
        return float(Fraction(normal))
    except (ValueError, ZeroDivisionError):
        pass
    found = _NUMBER.findall(text)
    if not found:
        return None
    last = normalise_answer(found[-1].replace("%", ""))
    try:
        return float(Fraction(last))
    except (ValueError, ZeroDivisionError):
        return None


class NumericOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    rel_tol: float = pydantic.Field(default=1e-6, ge=0)
    """Relative tolerance (``math.isclose``)."""
    abs_tol: float = pydantic.Field(default=1e-9, ge=0)
    """Absolute tolerance."""


class Numeric(Metric):
    """The answer's number is within tolerance of the reference's."""

    name: ClassVar[str] = "numeric"
    Options: ClassVar[type[pydantic.BaseModel]] = NumericOptions

    def __init__(self, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol

    async def score(self, answer: str, instance: Instance) -> Score:
        reference = parse_number(_reference(instance, self.name))
        if reference is None:
            return _same(False, detail=f"the reference {instance.reference!r} is not a number")
        ours = parse_number(stated(answer))
        if ours is None:
            return _same(False, detail="no number in the answer")
        return _same(math.isclose(ours, reference, rel_tol=self.rel_tol, abs_tol=self.abs_tol),
                     detail=f"answer {ours!r}, reference {reference!r}")


class ContainsOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    case_sensitive: bool = False


class Contains(Metric):
    """The reference occurs in the answer (whitespace runs collapsed; case ignored unless
    ``case_sensitive``).
    """

    name: ClassVar[str] = "contains"
    Options: ClassVar[type[pydantic.BaseModel]] = ContainsOptions

    def __init__(self, *, case_sensitive: bool = False) -> None:
        self.case_sensitive = case_sensitive

    def _norm(self, text: str) -> str:
        text = " ".join(text.split())
        return text if self.case_sensitive else text.casefold()

    async def score(self, answer: str, instance: Instance) -> Score:
        return _same(self._norm(_reference(instance, self.name)) in self._norm(answer))


class ChoiceOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    choices: list[str] = pydantic.Field(default_factory=lambda: list("ABCDE"), min_length=2)
    """The options an answer picks from: letters (the default, A to E) or labels such as
    True, False, Uncertain."""


class Choice(Metric):
    """Multiple choice: the option the answer picks equals the reference.

    The pick is the whole answer when it is one option (``B``, ``(B)``, ``b.``), else the
    option after "answer is" / "Answer:", else, for options longer than one letter, the only
    option named anywhere in the answer. An answer naming several options picks none.
    """

    name: ClassVar[str] = "choice"
    Options: ClassVar[type[pydantic.BaseModel]] = ChoiceOptions

    def __init__(self, *, choices: list[str] | None = None) -> None:
        self.choices = choices or list("ABCDE")
        self._by_key = {c.casefold(): c for c in self.choices}
        alternatives = "|".join(re.escape(c) for c in sorted(self.choices, key=len,
                                                             reverse=True))
        self._word = re.compile(rf"(?<![\w]){'(' + alternatives + ')'}(?![\w])", re.IGNORECASE)
        self._stated = re.compile(rf"answer\s*(?:is|:)\s*[(\[]?\s*({alternatives})(?![\w])",
                                  re.IGNORECASE)

    def pick(self, answer: str) -> str | None:
        """The option ``answer`` picks, or ``None``."""
        whole = answer.strip().strip("()[]*.:\"' ").casefold()
        if whole in self._by_key:
            return self._by_key[whole]
        said = self._stated.findall(answer)
        if said:
            return self._by_key[str(said[-1]).casefold()]
        if all(len(c) > 1 for c in self.choices):
            named = {self._by_key[m.casefold()] for m in self._word.findall(answer)}
            if len(named) == 1:
                return named.pop()
        return None

    async def score(self, answer: str, instance: Instance) -> Score:
        reference = _reference(instance, self.name).strip()
        picked = self.pick(answer)
        if picked is None:
            return _same(False, detail=f"no single option of {self.choices} in the answer")
        want = self.pick(reference) or reference
        return _same(picked.casefold() == want.casefold(), detail=f"picked {picked!r}")
