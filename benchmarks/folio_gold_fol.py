"""Accuracy of the ``logic`` tool's prover on FOLIO, deciding from the gold FOL annotations.

Data: ``../shared/data/folio/folio-validation-dev.jsonl``: 102 FOLIO v0.0 validation examples
(CC BY-SA 4.0), each with premises and a conclusion in first-order logic (``premises-FOL``,
``conclusion-FOL``) and the label True / False / Uncertain. Every example is parsed with the
same grammar and decided the same way; nothing is special-cased. Examples are identified by
their 0-based line number in the file (FOLIO v0.0 has no ids).

Three outcomes per example: correct, a parse failure (the annotation does not parse, e.g.
unbalanced parentheses; it counts as wrong) or a disagreement (it parses, but the prover's
verdict differs from the label). Both are listed with the reason, one JSON line each, then a
summary. Targets: accuracy >= 93 % of all examples, the whole file in under 10 s.

Run: ``uv run python benchmarks/folio_gold_fol.py [--quick] [--backend z3|eprover|both]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from _common import emit, machine, round_floats

from forethought.exceptions import UserError
from forethought.tools.logic import BackendChoice, acheck_entailment, eprover_path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "folio" / \
    "folio-validation-dev.jsonl"
TARGET_ACCURACY = 0.93
TARGET_S = 10.0
QUICK_EXAMPLES = 20


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Accuracy of the logic tool on FOLIO's "
                                                 "gold FOL")
    parser.add_argument("--quick", action="store_true",
                        help=f"only the first {QUICK_EXAMPLES} examples")
    parser.add_argument("--backend", choices=["z3", "eprover", "both"], default="z3")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds per example and backend")
    return parser.parse_args()


async def decide(index: int, example: dict[str, Any], backend: BackendChoice,
                 timeout_s: float) -> dict[str, Any]:
    base = {"id": index, "gold": example["label"]}
    try:
        result = await acheck_entailment(example["premises-FOL"], example["conclusion-FOL"],
                                         backend=backend, timeout_s=timeout_s)
    except UserError as exc:
        return {**base, "outcome": "parse_failure", "error": str(exc)}
    record = {**base, "ours": result.verdict,
              "outcome": "correct" if result.verdict == example["label"] else "disagreement",
              "backends": {k: b.verdict for k, b in result.backends.items()},
              "agreement": result.agreement}
    if result.verdict != example["label"]:
        record.update(premises=example["premises-FOL"], conclusion=example["conclusion-FOL"],
                      premises_used=result.premises_used, reason=result.reason,
                      countermodel=result.countermodel.to_dict() if result.countermodel
                      else None, warnings=result.warnings)
    return record


async def main() -> None:
    args = arguments()
    if args.backend != "z3" and eprover_path() is None:
        raise SystemExit("--backend eprover/both needs the E prover: apt-get install eprover")
    with DATA.open(encoding="utf-8") as f:
        examples = [json.loads(line) for line in f if line.strip()]
    if args.quick:
        examples = examples[:QUICK_EXAMPLES]
    emit(machine())
    start = time.perf_counter()
    records = [await decide(i, ex, args.backend, args.timeout) for i, ex in enumerate(examples)]
    elapsed = time.perf_counter() - start
    outcomes = [r.pop("outcome") for r in records]
    for outcome, r in zip(outcomes, records, strict=True):
        if outcome != "correct":
            emit({"kind": outcome, **r})
    correct = outcomes.count("correct")
    decided = [r for r in records if "ours" in r]
    by_verdict: dict[str, int] = {}
    for r in decided:
        by_verdict[r["ours"]] = by_verdict.get(r["ours"], 0) + 1
    accuracy = correct / len(records)
    summary: dict[str, Any] = {
        "kind": "summary", "benchmark": "folio_gold_fol", "backend": args.backend,
        "quick": args.quick, "examples": len(records), "correct": correct,
        "accuracy": accuracy,
        "parse_failures": outcomes.count("parse_failure"),
        "disagreements": outcomes.count("disagreement"),
        "accuracy_on_parsed": correct / len(decided) if decided else 0.0,
        "verdicts": by_verdict, "seconds": elapsed,
        "target_accuracy": TARGET_ACCURACY, "target_seconds": TARGET_S,
        "accuracy_verdict": "pass" if accuracy >= TARGET_ACCURACY else "fail",
        "time_verdict": "pass" if elapsed < TARGET_S else "fail"}
    if args.backend == "both":
        summary["backends_agree"] = sum(r.get("agreement") is True for r in decided)
    emit(round_floats(summary, 4))


if __name__ == "__main__":
    asyncio.run(main())
