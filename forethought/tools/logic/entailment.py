"""Decide whether premises entail a conclusion, with z3, E, or both.

With both backends the two run concurrently. Their verdicts agree on every sound run (both
are sound provers for the same translation); when they do not, ``agreement`` is ``False`` and
the policy decides: ``require_agreement=True`` turns the answer into ``Unknown`` with a
reason naming both verdicts (also when one of them timed out), otherwise z3's verdict is
taken unless z3 could not decide, in which case E's is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import Literal, TypeAlias

from forethought._sync import run_sync
from forethought.exceptions import UserError
from forethought.tools.logic.eprover import decide_with_eprover, eprover_path
from forethought.tools.logic.formulas import Equals, Formula, Signature, subformulas
from forethought.tools.logic.parser import parse_formula
from forethought.tools.logic.results import BackendVerdict, EntailmentResult
from forethought.tools.logic.z3_backend import decide_with_z3

BackendChoice: TypeAlias = Literal["z3", "eprover", "both"]


def parse_problem(premises: Sequence[str | Formula],
                  conclusion: str | Formula) -> tuple[list[Formula], Formula]:
    """Parse premises and conclusion; errors are labelled ``premise <n>`` or ``conclusion``."""
    parsed = [parse_formula(p, label=f"premise {i + 1}") if isinstance(p, str) else p
              for i, p in enumerate(premises)]
    goal = (parse_formula(conclusion, label="conclusion") if isinstance(conclusion, str)
            else conclusion)
    return parsed, goal


def _warnings(formulas: list[Formula]) -> list[str]:
    sig = Signature.of(formulas)
    out = [f"{name!r} is used with {' and '.join(map(str, arities))} arguments; each arity is "
           f"a separate symbol" for name, arities in sorted(sig.overloaded().items())]
    loose = sorted(c for c in sig.constants if len(c) == 1 and "u" <= c <= "z")
    if loose:
        out.append(f"{', '.join(map(repr, loose))} {'is' if len(loose) == 1 else 'are'} not "
                   f"bound by any quantifier and read as constant(s)")
    if any(isinstance(n, Equals) for f in formulas for n in subformulas(f)):
        out.append("distinct constants may denote the same individual unless the premises "
                   "say otherwise (no unique-names assumption)")
    return out


def _combine(results: dict[str, BackendVerdict], require_agreement: bool,
             ) -> tuple[BackendVerdict, bool | None, str | None]:
    """The verdict to report, whether the backends agreed, and a reason if undecided."""
    if len(results) == 1:
        only = next(iter(results.values()))
        return only, None, only.reason
    z3_v, e_v = results["z3"], results["eprover"]
    agree = z3_v.verdict == e_v.verdict
    if agree:
        return z3_v, True, z3_v.reason
    if require_agreement:
        reason = f"backends disagree: z3 says {z3_v.verdict}, eprover says {e_v.verdict}"
        details = "; ".join(r for r in (z3_v.reason, e_v.reason) if r)
        return (BackendVerdict(backend="z3", verdict="Unknown"), False,
                f"{reason} ({details})" if details else reason)
    chosen = e_v if z3_v.verdict == "Unknown" else z3_v
    return chosen, False, chosen.reason


async def acheck_entailment(premises: Sequence[str | Formula], conclusion: str | Formula, *,
                            backend: BackendChoice = "z3", require_agreement: bool = False,
                            timeout_s: float = 10.0) -> EntailmentResult:
    """Decide whether ``premises`` entail ``conclusion`` (True), its negation (False), or
    neither (Uncertain).

    Args:
        premises: Formulas as text (FOLIO Unicode or ASCII notation) or parsed formulas.
        conclusion: The formula to decide.
        backend: ``"z3"``, ``"eprover"`` (needs the ``eprover`` binary) or ``"both"``.
        require_agreement: With both backends, answer ``Unknown`` unless they agree.
        timeout_s: Limit for each backend (they run concurrently).

    Raises:
        UserError: a formula does not parse (the message shows where), an invalid option,
            or E was asked for but is not installed.
    """
    if timeout_s <= 0:
        raise UserError(f"timeout_s must be positive, got {timeout_s!r}")
    if backend not in ("z3", "eprover", "both"):
        raise UserError(f"unknown backend {backend!r}; valid: 'z3', 'eprover', 'both'")
    start = time.perf_counter()
    parsed, goal = parse_problem(premises, conclusion)
    if backend != "z3" and eprover_path() is None:
        raise UserError(f"backend {backend!r} needs the E prover, which is not installed "
                        f"(Debian/Ubuntu: apt-get install eprover); use backend='z3'")
    names: list[str] = []
    jobs: list[Awaitable[BackendVerdict]] = []
    if backend in ("z3", "both"):
        names.append("z3")
        jobs.append(asyncio.to_thread(decide_with_z3, parsed, goal, timeout_s=timeout_s))
    if backend in ("eprover", "both"):
        names.append("eprover")
        jobs.append(decide_with_eprover(parsed, goal, timeout_s=timeout_s))
    results = dict(zip(names, await asyncio.gather(*jobs), strict=True))
    chosen, agreement, reason = _combine(results, require_agreement)
    decided = chosen.verdict in ("True", "False", "Inconsistent")
    return EntailmentResult(
        verdict=chosen.verdict,
        premises=[p if isinstance(p, str) else str(p) for p in premises],
        premises_used=(chosen.premises_used or []) if decided else [],
        countermodel=chosen.countermodel if chosen.verdict == "Uncertain" else None,
        backends=results, agreement=agreement, reason=reason,
        warnings=_warnings([*parsed, goal]), duration_s=time.perf_counter() - start)


def check_entailment(premises: Sequence[str | Formula], conclusion: str | Formula, *,
                     backend: BackendChoice = "z3", require_agreement: bool = False,
                     timeout_s: float = 10.0) -> EntailmentResult:
    """Synchronous :func:`acheck_entailment` (use that one inside an event loop)."""
    return run_sync(acheck_entailment(premises, conclusion, backend=backend,
                                      require_agreement=require_agreement, timeout_s=timeout_s),
                    name="check_entailment()", async_form="acheck_entailment(...)")


__all__ = ["BackendChoice", "acheck_entailment", "check_entailment", "parse_problem"]
