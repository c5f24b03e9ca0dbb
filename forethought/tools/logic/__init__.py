"""First-order logic: parse formulas (FOLIO's Unicode notation or ASCII) and decide whether
premises entail a conclusion with z3 and, where installed, the E prover.

Example::

    from forethought.tools.logic import check_entailment

    result = check_entailment(["∀x (Rabbit(x) → Cute(x))", "Rabbit(tom)"], "Cute(tom)")
    result.verdict          # "True"
    result.premises_used    # [0, 1]
"""

from __future__ import annotations

from forethought.tools.logic.entailment import (
    BackendChoice,
    acheck_entailment,
    check_entailment,
    parse_problem,
)
from forethought.tools.logic.eprover import eprover_path
from forethought.tools.logic.formulas import Formula, Signature
from forethought.tools.logic.parser import parse_formula
from forethought.tools.logic.results import (
    BackendVerdict,
    Countermodel,
    EntailmentResult,
    Verdict,
)
from forethought.tools.logic.tool import LogicOptions, LogicToolFactory, logic_tool
from forethought.tools.logic.tptp import to_tptp

__all__ = [
    "BackendChoice",
    "BackendVerdict",
    "Countermodel",
    "EntailmentResult",
    "Formula",
    "LogicOptions",
    "LogicToolFactory",
    "Signature",
    "Verdict",
    "acheck_entailment",
    "check_entailment",
    "eprover_path",
    "logic_tool",
    "parse_formula",
    "parse_problem",
    "to_tptp",
]
