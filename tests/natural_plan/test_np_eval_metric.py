"""The ``natural_plan`` eval metric: NATURAL PLAN's exact match and constraint satisfaction on
eval records, the shipped data slices, and bad options and records.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from forethought.eval.datasets import Instance as EvalInstance
from forethought.eval.metrics import make_metric, metric_names
from forethought.exceptions import UserError
from forethought.tasks.natural_plan.dataset import DOMAINS, Domain
from forethought.tasks.natural_plan.eval_metric import NaturalPlanMetric, plan_instance
from forethought.tasks.natural_plan.metrics import constraint_satisfaction, exact_match
from tests.natural_plan.np_support import instances

ROOT = Path(__file__).resolve().parents[2]
SLICES = ROOT / "recipes" / "data" / "natural_plan"


def _eval_instance(domain: Domain, index: int = 0) -> EvalInstance:
    plan = instances(domain)[index]
    record: dict[str, Any] = {"id": plan.id, **plan.record}
    return EvalInstance(index=index, id=plan.id, question=plan.prompt_5shot,
                        reference=plan.golden_plan, record=record)


def _score(metric: NaturalPlanMetric, answer: str, inst: EvalInstance) -> Any:
    return asyncio.run(metric.score(answer, inst))


def test_the_metric_is_registered_through_its_entry_point() -> None:
    assert "natural_plan" in metric_names()
    metric = make_metric("natural_plan", {"domain": "trip"})
    assert isinstance(metric, NaturalPlanMetric) and metric.measure == "exact_match"


@pytest.mark.parametrize("domain", DOMAINS)
def test_golden_plans_score_one_and_mutants_score_what_the_pack_says(domain: Domain) -> None:
    metric = NaturalPlanMetric(domain=domain)
    for index in range(5):
        inst = _eval_instance(domain, index)
        plan = instances(domain)[index]
        golden = _score(metric, plan.golden_plan, inst)
        assert (golden.correct, golden.value) == (True, 1.0)
        assert golden.detail == "exact match 1, constraints satisfied 1.00"
        wrong = "Here is the proposed plan: nothing at all"
        bad = _score(metric, wrong, inst)
        assert (bad.correct, bad.value) == (False, exact_match(wrong, plan))
        assert bad.detail == (f"exact match {exact_match(wrong, plan):g}, constraints "
                              f"satisfied {constraint_satisfaction(wrong, plan):.2f}")


def test_a_wrong_calendar_slot_fails_exact_match_and_the_measure_picks_the_figure() -> None:
    inst = _eval_instance("calendar")
    plan = instances("calendar")[0]
    other = "Here is the proposed time: Monday, 9:00 - 10:00"
    assert exact_match(other, plan) == 0.0  # the golden plan is another slot
    exact = NaturalPlanMetric(domain="calendar")
    share = NaturalPlanMetric(domain="calendar", measure="constraint_satisfaction")
    by_exact, by_share = _score(exact, other, inst), _score(share, other, inst)
    satisfied = constraint_satisfaction(other, plan)
    assert (by_exact.correct, by_exact.value) == (False, 0.0)
    assert (by_share.correct, by_share.value) == (satisfied >= 1.0, satisfied)
    assert by_exact.detail == by_share.detail == f"exact match 0, constraints satisfied " \
        f"{satisfied:.2f}"


def test_bad_options_and_records_are_named() -> None:
    with pytest.raises(UserError, match=r"metric 'natural_plan': domain: Input should be "
                                        r"'calendar', 'meeting' or 'trip'"):
        make_metric("natural_plan", {"domain": "flights"})
    with pytest.raises(UserError, match=r"metric 'natural_plan': domain: Field required"):
        make_metric("natural_plan", {})
    with pytest.raises(UserError, match=r"measure: Input should be 'exact_match' or "
                                        r"'constraint_satisfaction'"):
        make_metric("natural_plan", {"domain": "trip", "measure": "accuracy"})
    inst = _eval_instance("meeting")
    lacking = EvalInstance(index=0, id="m1", question="q", record={
        k: v for k, v in inst.record.items() if k != "dist_matrix"})
    with pytest.raises(UserError, match=r"instance 'm1' has no field 'dist_matrix'; a NATURAL "
                                        r"PLAN meeting record needs"):
        plan_instance(lacking, "meeting")


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_shipped_slices_are_the_first_records_of_the_data(domain: Domain) -> None:
    lines = (SLICES / f"{domain}_20.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    full = instances(domain)[:20]
    assert [r["id"] for r in records] == [i.id for i in full]
    for record, inst in zip(records, full, strict=True):
        # Only the published prediction (pred_5shot_pro) is left out; the rest is as published.
        expected = {k: v for k, v in inst.record.items() if k != "pred_5shot_pro"}
        assert {k: v for k, v in record.items() if k != "id"} == expected
