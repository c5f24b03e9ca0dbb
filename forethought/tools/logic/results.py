"""What deciding an entailment returns: the verdict, the premises used, a countermodel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Verdict: TypeAlias = Literal["True", "False", "Uncertain", "Inconsistent", "Unknown"]
"""``True``: the premises entail the conclusion. ``False``: they entail its negation.
``Uncertain``: neither (a countermodel shows the conclusion can fail). ``Inconsistent``: the
premises contradict each other, so they entail everything. ``Unknown``: no decision within the
time limit (or the backends disagreed when agreement was required); ``reason`` says which.
"""
Backend: TypeAlias = Literal["z3", "eprover"]


@dataclass(kw_only=True)
class Countermodel:
    """A finite structure in which every premise holds and the conclusion is false."""

    domain: list[str]
    """Element names: the first constant (alphabetically) that denotes the element, else
    ``#1``, ``#2``, ...
    """
    true_atoms: list[str]
    """Every atom true in the structure; atoms not listed are false."""
    aliases: dict[str, str] = field(default_factory=dict[str, str])
    """Constants denoting the same element as another one: constant -> element name."""
    functions: list[str] = field(default_factory=list[str])
    """Function values, ``f(a) = b``."""
    truncated: bool = False
    """The structure was too large to list completely."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"domain": self.domain, "true": self.true_atoms}
        if self.aliases:
            out["aliases"] = self.aliases
        if self.functions:
            out["functions"] = self.functions
        if self.truncated:
            out["truncated"] = True
        return out


@dataclass(kw_only=True)
class BackendVerdict:
    """One prover's answer."""

    backend: Backend
    verdict: Verdict
    premises_used: list[int] | None = None
    """0-based indices of the premises in the proof or unsat core (``None`` if not known)."""
    countermodel: Countermodel | None = None
    reason: str | None = None
    """Why the verdict is ``Unknown`` (timeout, prover gave up, ...)."""
    duration_s: float = 0.0


@dataclass(kw_only=True)
class EntailmentResult:
    """The decision, with the evidence for it."""

    verdict: Verdict
    premises: list[str]
    """The premises as given."""
    premises_used: list[int] = field(default_factory=list[int])
    """0-based indices of the premises the proof needs (True, False, Inconsistent)."""
    countermodel: Countermodel | None = None
    """For ``Uncertain``: a structure satisfying the premises where the conclusion is false."""
    backends: dict[str, BackendVerdict] = field(default_factory=dict[str, BackendVerdict])
    """Each backend's own answer."""
    agreement: bool | None = None
    """Whether the backends agreed (``None`` when only one ran)."""
    reason: str | None = None
    warnings: list[str] = field(default_factory=list[str])
    """Things worth knowing about the input, such as a predicate used with two arities."""
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A compact rendering for a model: premises used are numbered from 1."""
        out: dict[str, Any] = {"verdict": self.verdict}
        if self.premises_used:
            out["premises_used"] = {str(i + 1): self.premises[i] for i in self.premises_used}
        if self.countermodel is not None:
            out["countermodel"] = self.countermodel.to_dict()
        if self.reason:
            out["reason"] = self.reason
        if len(self.backends) > 1:
            out["backends"] = {name: b.verdict for name, b in self.backends.items()}
        if self.warnings:
            out["warnings"] = self.warnings
        return out
