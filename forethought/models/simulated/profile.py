"""Calibration profiles: SimulatedModel parameters fitted to a real model's samples.

A profile says how often a real model is right on arithmetic questions, and how its wrong
answers concentrate, as measured by ``python -m forethought.models.simulated.calibrate``:

- **accuracy by difficulty class**: per class (the number of operations, 1 or 2+, whether one
  is a multiplication, whether a number has two digits) a mixture of a few accuracy levels
  with their weights, fitted to the per-problem counts of right samples by EM (a binomial
  mixture). Problems of one class are
  not equally hard for a real model (``2 + 3`` is easy, ``87 * 46`` is not); the mixture keeps
  that spread, which is what decides how coverage grows with samples.
- **concentration of wrong answers**: the Zipf exponent of the choice among distractors
  (``distractor_skew``) whose most frequent wrong answer takes the share of wrong samples
  the real model's did.

``SimulatedModel(profile="smollm2-arith")`` gives each arithmetic question an accuracy level
drawn from its class's mixture by a hash of the question (so a question is as hard on every
call, and a set of questions has the fitted spread) and turns it into a difficulty. Profiles
ship in ``forethought/models/simulated/profiles/``; a path to a JSON file works too.

A profile describes one model on one kind of task, measured on one machine: it is a
calibrated *simulator*, never evidence about another model.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from forethought.exceptions import UserError
from forethought.models.simulated.arithmetic import Arithmetic, BinOp, Expr, Neg, Num

PROFILE_STEEPNESS = 16.0
"""The logistic steepness a profiled simulator uses: difficulty 0 then means accuracy 0.9997
and difficulty 1 accuracy 0.0003, so any fitted accuracy level has a difficulty in [0, 1]."""
PROFILE_SKILL = 0.5


@dataclass(frozen=True, slots=True)
class Level:
    """One accuracy level of a class and the share of its problems at that level."""

    accuracy: float
    weight: float


@dataclass(kw_only=True, frozen=True)
class Profile:
    """Fitted simulator parameters (see the module docs)."""

    name: str
    model: str
    """What was measured (model, quantisation, server settings)."""
    task: str
    """How the problems were made and checked."""
    classes: dict[str, tuple[Level, ...]]
    """Accuracy levels by difficulty class (:func:`difficulty_class`)."""
    distractor_skew: float
    fitted_on: dict[str, Any] = field(default_factory=dict[str, Any])
    """Problems, samples, seeds, sampling settings and date of the fit."""

    def __post_init__(self) -> None:
        if not self.classes:
            raise UserError(f"profile {self.name!r} has no accuracy classes")
        for key, levels in self.classes.items():
            total = sum(level.weight for level in levels)
            if not levels or abs(total - 1) > 1e-6 or any(
                    not 0 <= level.accuracy <= 1 or level.weight < 0 for level in levels):
                raise UserError(f"profile {self.name!r}: class {key!r} must have accuracy "
                                f"levels in [0, 1] with weights summing to 1, got {levels!r}")

    def levels(self, arithmetic: Arithmetic) -> tuple[Level, ...]:
        key = difficulty_class(arithmetic)
        if key in self.classes:
            return self.classes[key]
        # A class the fit never saw (e.g. three operations): the hardest class it did see.
        return min(self.classes.values(), key=lambda ls: sum(lv.accuracy * lv.weight
                                                              for lv in ls))

    def accuracy(self, arithmetic: Arithmetic) -> float:
        """The accuracy of one sample on this question: a level of its class, chosen by a
        hash of the expression with the levels' weights.
        """
        digest = hashlib.sha256(f"{self.name}|{arithmetic.text}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        cumulative = 0.0
        levels = self.levels(arithmetic)
        for level in levels:
            cumulative += level.weight
            if u < cumulative:
                return level.accuracy
        return levels[-1].accuracy

    def difficulty(self, arithmetic: Arithmetic) -> float:
        """The difficulty at which the profiled simulator's accuracy is :meth:`accuracy`."""
        p = min(max(self.accuracy(arithmetic), 1e-6), 1 - 1e-6)
        d = PROFILE_SKILL + math.log(1 / p - 1) / PROFILE_STEEPNESS
        return min(1.0, max(0.0, d))

    def expected_coverage(self, key: str, k: int) -> float:
        """Chance that ``k`` samples of a problem of class ``key`` include a right one."""
        return 1 - sum(lv.weight * (1 - lv.accuracy) ** k for lv in self.classes[key])

    def to_json(self) -> str:
        data = asdict(self)
        data["classes"] = {k: [asdict(lv) for lv in v] for k, v in self.classes.items()}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "<profile>") -> Profile:
        try:
            data = json.loads(text)
            classes = {k: tuple(Level(accuracy=float(lv["accuracy"]), weight=float(lv["weight"]))
                                for lv in v) for k, v in data["classes"].items()}
            return cls(name=str(data["name"]), model=str(data["model"]), task=str(data["task"]),
                       classes=classes, distractor_skew=float(data["distractor_skew"]),
                       fitted_on=dict(data.get("fitted_on", {})))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{source}: not a simulator profile ({type(exc).__name__}: "
                            f"{exc})") from None


def shipped_profiles() -> list[str]:
    """Names of the profiles shipped with forethought."""
    folder = resources.files("forethought.models.simulated").joinpath("profiles")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                  if p.name.endswith(".json"))


def load_profile(spec: str | Path | Profile) -> Profile:
    """A shipped profile by name, or a profile JSON file by path."""
    if isinstance(spec, Profile):
        return spec
    text_spec = str(spec)
    if text_spec.endswith(".json") or "/" in text_spec:
        path = Path(text_spec)
        try:
            return Profile.from_json(path.read_text(encoding="utf-8"), source=str(path))
        except OSError as exc:
            raise UserError(f"cannot read simulator profile {text_spec!r}: "
                            f"{exc.strerror}") from None
    resource = resources.files("forethought.models.simulated").joinpath(
        "profiles", f"{text_spec}.json")
    if not resource.is_file():
        raise UserError(f"unknown simulator profile {text_spec!r}; shipped profiles: "
                        f"{', '.join(repr(n) for n in shipped_profiles()) or '(none)'}, "
                        f"or give the path of a profile JSON file")
    return Profile.from_json(resource.read_text(encoding="utf-8"), source=text_spec)


def _has_multiplication(expr: Expr) -> bool:
    match expr:
        case Num():
            return False
        case Neg(operand=x):
            return _has_multiplication(x)
        case BinOp(op=op, left=left, right=right):
            return op in "*/" or _has_multiplication(left) or _has_multiplication(right)


def _has_big_number(expr: Expr) -> bool:
    match expr:
        case Num(value=v):
            return abs(v) >= 10
        case Neg(operand=x):
            return _has_big_number(x)
        case BinOp(left=left, right=right):
            return _has_big_number(left) or _has_big_number(right)


def difficulty_class(arithmetic: Arithmetic) -> str:
    """``"1-op"``/``"2-op"`` (two or more), ``"+mul"`` when a multiplication or division is
    among them, ``"+2d"`` when a number has two digits or more: what most changes a small
    model's accuracy on short arithmetic.
    """
    ops = "1-op" if arithmetic.operators <= 1 else "2-op"
    return (ops + ("+mul" if _has_multiplication(arithmetic.expr) else "")
            + ("+2d" if _has_big_number(arithmetic.expr) else ""))
