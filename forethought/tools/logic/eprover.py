"""Deciding entailment with the E theorem prover (Debian package ``eprover``) through TPTP.

Two proof attempts run concurrently: the conclusion as the conjecture, and its negation.
E reports an SZS status for each: ``Theorem`` (proved), ``CounterSatisfiable`` (E saturated
without a proof, so the conjecture does not follow) or ``ResourceOut``/``GaveUp``. The proof
object names the axioms it used, which become ``premises_used``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import shutil
import time
from collections.abc import Sequence

from forethought.exceptions import UserError
from forethought.tools.logic.formulas import Formula, Not
from forethought.tools.logic.results import BackendVerdict, Verdict
from forethought.tools.logic.tptp import to_tptp

_STATUS = re.compile(r"SZS status (\w+)")
_AXIOM = re.compile(r"file\('[^']*',\s*p(\d+)\)")
_KILL_GRACE_S = 1.0


def eprover_path() -> str | None:
    """The ``eprover`` executable on ``PATH``, or ``None``."""
    return shutil.which("eprover")


async def _prove(binary: str, problem: str, timeout_s: float) -> tuple[str, list[int]]:
    """E's SZS status for ``problem`` and the 0-based premises its proof used."""
    proc = await asyncio.create_subprocess_exec(
        binary, "--auto", "--silent", "--proof-object",
        f"--cpu-limit={max(1, math.ceil(timeout_s))}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout_s + _KILL_GRACE_S):
            out, err = await proc.communicate(problem.encode())
    except TimeoutError:
        return "Timeout", []
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    status = _STATUS.search(text)
    if status is None:
        message = (err.decode(errors="replace").strip() or text.strip())[-300:]
        return f"Error: {message}", []
    used = sorted({int(m) - 1 for m in _AXIOM.findall(text)})
    return status.group(1), used


async def decide_with_eprover(premises: Sequence[Formula], conclusion: Formula, *,
                              timeout_s: float, binary: str | None = None) -> BackendVerdict:
    """Decide whether ``premises`` entail ``conclusion`` with E.

    Raises:
        UserError: E is not installed.
    """
    binary = binary or eprover_path()
    if binary is None:
        raise UserError("the E prover is not installed (Debian/Ubuntu: apt-get install "
                        "eprover); use backend='z3' instead")
    start = time.perf_counter()
    (yes, used_yes), (no, used_no) = await asyncio.gather(
        _prove(binary, to_tptp(premises, conclusion), timeout_s),
        _prove(binary, to_tptp(premises, Not(body=conclusion)), timeout_s))

    def verdict(kind: Verdict, used: list[int] | None = None,
                reason: str | None = None) -> BackendVerdict:
        return BackendVerdict(backend="eprover", verdict=kind,
                              premises_used=used, reason=reason,
                              duration_s=time.perf_counter() - start)

    if "ContradictoryAxioms" in (yes, no) or (yes == "Theorem" and no == "Theorem"):
        return verdict("Inconsistent", used_yes or used_no)
    if yes == "Theorem":
        return verdict("True", used_yes)
    if no == "Theorem":
        return verdict("False", used_no)
    if yes == "CounterSatisfiable" and no == "CounterSatisfiable":
        return verdict("Uncertain")
    limit = f" (limit {timeout_s:g} s)" if "Timeout" in (yes, no) else ""
    return verdict("Unknown", reason=f"eprover: conclusion {yes}, negation {no}{limit}")
