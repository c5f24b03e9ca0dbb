"""The shipped eval recipes run offline from the repository, on the simulator."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from forethought.cli import app
from forethought.recipes import load_recipe, recipe_json_schema

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.mark.parametrize(("name", "limit", "statuses"), [
    ("game24_eval", 3, {"ok"}), ("folio_eval", 6, {"ok"}), ("hotpotqa_eval", 6, {"ok"}),
    ("natural_plan_calendar", 3, {"ok", "unverified"}),
    ("natural_plan_meeting", 2, {"ok", "unverified"}),
    ("natural_plan_trip", 2, {"ok", "unverified"}),
])
def test_a_shipped_eval_recipe_runs_offline(tmp_path: Path, name: str, limit: int,
                                            statuses: set[str]) -> None:
    # Run from elsewhere: every path in a recipe is relative to the recipe's folder.
    out = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["eval", str(ROOT / "recipes" / f"{name}.yaml"), "--limit",
                                 str(limit),
                                 "--offset", "0", "--json", "--store",
                                 str(tmp_path / "s.sqlite"), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == limit and {r["status"] for r in rows} <= statuses
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]["total"]
    assert summary["n"] == limit and summary["correct"] == sum(r["correct"] for r in rows)
    if name == "folio_eval":
        assert all((r["metric_detail"] or "").startswith(("logic says", "the verifier tool"))
                   for r in rows)
        assert {r["reference"] for r in rows} <= {"True", "False", "Uncertain"}
    if name.startswith("natural_plan_"):
        _check_natural_plan(name.removeprefix("natural_plan_"), rows)
        # The selection agent learnt into the eval's own store: one pull per arm it ran.
        with closing(sqlite3.connect(tmp_path / "s.sqlite")) as db:
            families = db.execute("SELECT family, SUM(pulls) FROM selection_stats "
                                  "GROUP BY family").fetchall()
        domain = name.removeprefix("natural_plan_")
        assert len(families) == 1 and families[0][0] == f"natural_plan.{domain}"
        assert families[0][1] >= limit
    if name == "hotpotqa_eval":
        assert set(json.loads(result.stdout.splitlines()[-1])["summary"]["by_tag"]) == {
            "level", "type"}


def _check_natural_plan(domain: str, rows: list[dict[str, Any]]) -> None:
    """Every answer is scored by NATURAL PLAN's own exact match (recomputed here from the
    shipped record), with the constraint satisfaction in the detail; the selection agent
    verified the plans it returned.
    """
    from forethought.tasks.natural_plan.dataset import Instance
    from forethought.tasks.natural_plan.metrics import constraint_satisfaction, exact_match

    path = ROOT / "recipes" / "data" / "natural_plan" / f"{domain}_20.jsonl"
    records = {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
    assert [r["id"] for r in rows] == list(records)[:len(rows)]
    for row in rows:
        record = records[row["id"]]
        golden = record["golden_plan"]
        plan = Instance(id=row["id"], domain=domain,  # pyright: ignore[reportArgumentType]
                        prompt_0shot=record["prompt_0shot"], prompt_5shot=record["prompt_5shot"],
                        golden_plan=" ".join(golden) if isinstance(golden, list) else golden,
                        record=record)
        exact = exact_match(row["answer"], plan)
        assert row["correct"] is (exact == 1.0) and row["score"] == exact
        assert row["metric_detail"] == (f"exact match {exact:g}, constraints satisfied "
                                        f"{constraint_satisfaction(row['answer'], plan):.2f}")
        assert row["strategy"] == "plangen" and row["verified"] is (row["status"] == "ok")
        assert row["tags"]


def test_the_recipe_schema_documents_the_eval_section() -> None:
    schema = recipe_json_schema()
    assert "eval" in schema["properties"]
    assert {"EvalConfig", "DatasetConfig", "MetricConfig"} <= set(schema["$defs"])
    for name in ("game24_eval", "folio_eval", "hotpotqa_eval", "natural_plan_calendar",
                 "natural_plan_meeting", "natural_plan_trip"):
        recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml")
        assert recipe.eval is not None and recipe.eval.dataset is not None
        jsonschema.validate(yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text(
            encoding="utf-8")), schema)
    metric = schema["$defs"]["EvalConfig"]["properties"]["metric"]
    assert "numeric" in metric["anyOf"][0]["enum"]
    for bad in ({"eval": {"metric": "nope"}}, {"eval": {"metric": {"kind": "numeric",
                                                                   "tol": 1}}},
                {"eval": {"dataset": {"path": "x.jsonl", "qestion": "q"}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
