"""Running evals in process: every instance committed once, resume and retry, the dataset
budget over instances in flight, the results file and the summary.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from forethought.agents.agent import Agent
from forethought.eval.api import EvalReport, aevaluate, evaluate
from forethought.eval.local import LocalBackend
from forethought.eval.plan import Overrides
from forethought.eval.store import EvalStore
from forethought.exceptions import ModelError, UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.store import RunStore
from tests.eval.helpers import ARITHMETIC, Crash, OneCall, StopAfter, arithmetic_recipe


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def essentials(report: EvalReport) -> list[tuple[object, ...]]:
    return [(r.id, r.answer, r.correct, r.status, r.usage.model_calls, r.usage.total_tokens)
            for r in report.results]


def test_an_eval_commits_every_instance_and_writes_the_results_file(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path)
    store = tmp_path / "runs.sqlite"
    report = evaluate(recipe, store=store, output=tmp_path / "out.jsonl", concurrency=3)
    assert report.complete and report.total == len(ARITHMETIC)
    rows = lines(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(len(ARITHMETIC))]
    assert set(rows[0]) == {"id", "index", "question", "answer", "reference", "correct",
                            "score", "status", "partial", "strategy", "verified", "usage",
                            "duration_s",
                            "run_id", "error", "metric_detail", "tags", "worker"}
    assert rows[0]["strategy"] == "llmcompiler" and rows[0]["tags"] == {"level": "hard"}
    assert all(r["usage"]["model_calls"] == 2 for r in rows)  # type: ignore[index]
    # The summary agrees with the lines, and every run is in the run store.
    total = report.summary.total
    assert total.n == len(rows) and total.correct == sum(bool(r["correct"]) for r in rows)
    assert set(report.summary.by_tag["level"]) == {"easy", "hard"}
    with RunStore(store) as runs:
        for r in rows:
            record = runs.get_run(str(r["run_id"]))
            assert record.status == r["status"] and record.answer == r["answer"]
    with EvalStore(store) as evals:
        assert len(evals.statuses(report.eval_id)) == len(rows)


def test_a_crashed_eval_resumes_without_repeating_or_losing_an_instance(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=20)
    store = tmp_path / "runs.sqlite"
    whole = evaluate(recipe, store=tmp_path / "whole.sqlite", output=tmp_path / "whole.jsonl")
    with pytest.raises(Crash):
        asyncio.run(aevaluate(recipe, store=store, backend=StopAfter(7, concurrency=4,
                                                                      store=store)))
    with EvalStore(store) as evals:
        (record,) = evals.evals()
        first = len(evals.statuses(record.id))
        assert 7 <= first < 20  # the crash came while other instances were finishing
    with pytest.raises(Crash):
        asyncio.run(aevaluate(eval_id=record.id, store=store,
                              backend=StopAfter(5, concurrency=2, store=store)))
    with EvalStore(store) as evals:
        before = len(evals.statuses(record.id))
    # Rerunning the same command with --resume finds the same eval.
    report = evaluate(recipe, resume_eval=True, store=store, output=tmp_path / "out.jsonl")
    assert report.eval_id == record.id and report.outcome.ran == 20 - before
    assert essentials(report) == essentials(whole)
    assert [r["id"] for r in lines(tmp_path / "out.jsonl")] == [f"q{i}" for i in range(20)]
    assert report.summary.total.usage == whole.summary.total.usage


def test_resume_refuses_unknown_finished_and_changed_evals(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=4)
    store = tmp_path / "runs.sqlite"
    done = evaluate(recipe, store=store, output=tmp_path / "a.jsonl")
    with pytest.raises(UserError, match=r"^no eval 'eval-nope' in '.*runs\.sqlite'; recent "
                       r"evals: eval-"):
        evaluate(eval_id="eval-nope", store=store)
    with pytest.raises(UserError, match=rf"^eval '{done.eval_id}' is finished: all 4 instances "
                       r"have results; nothing to resume$"):
        evaluate(eval_id=done.eval_id, store=store)
    with pytest.raises(UserError, match=r"is finished: all 4 instances have results"):
        evaluate(recipe, resume_eval=True, store=store)
    with pytest.raises(UserError, match="has no failed instances to retry"):
        evaluate(eval_id=done.eval_id, retry_failed=True, store=store)
    with (tmp_path / "data.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "new", "question": "What is 1 + 1?", "answer": "2"}) + "\n")
    with pytest.raises(UserError, match=r"the instances of '.*data\.jsonl' changed since it "
                       r"started \(5 selected now, 4 then\)"):
        evaluate(eval_id=done.eval_id, store=store)
    with pytest.raises(UserError, match="a recipe or an eval id"):
        evaluate(recipe, eval_id=done.eval_id, store=store)


def _flaky_agent(broken: set[str]) -> Agent:
    def reply(request: ModelRequest) -> str:
        question = request.messages[-1].content
        if question in broken:
            raise ModelError(f"provider down for {question!r}")
        return "5"
    return Agent(ScriptedModel(reply), planner=OneCall(), store=None)


def test_retry_failed_reruns_only_the_failed_instances(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=6)
    store = tmp_path / "runs.sqlite"
    broken = {ARITHMETIC[1][0], ARITHMETIC[4][0]}
    first = evaluate_with(recipe, store, _flaky_agent(broken))
    assert [r.status for r in first.results] == ["ok", "error", "ok", "ok", "error", "ok"]
    assert first.results[1].error == f"ModelError: provider down for {ARITHMETIC[1][0]!r}"
    assert first.summary.total.failures == 2
    second = evaluate_with(recipe, store, _flaky_agent(set()), eval_id=first.eval_id,
                           retry_failed=True)
    assert second.eval_id == first.eval_id and second.outcome.ran == 2
    assert [r.status for r in second.results] == ["ok"] * 6
    assert [r.run_id for r in second.results if r.id not in ("q1", "q4")] == \
        [r.run_id for r in first.results if r.id not in ("q1", "q4")]
    assert second.summary.total.n == 6 and second.summary.total.failures == 0


def evaluate_with(recipe: Path, store: Path, agent: Agent, **kwargs: object) -> EvalReport:
    backend = LocalBackend(agent=agent, concurrency=3)
    if "eval_id" in kwargs:
        return asyncio.run(aevaluate(store=store, backend=backend, **kwargs))  # type: ignore[arg-type]
    return asyncio.run(aevaluate(recipe, store=store, backend=backend, **kwargs))  # type: ignore[arg-type]


def test_the_dataset_budget_stops_dispatch_and_the_rest_stays_to_do(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=8, extra="  budget: {max_model_calls: 3}\n")
    store = tmp_path / "runs.sqlite"
    report = evaluate_with(recipe, store, _flaky_agent(set()))
    assert len(report.results) == 3 and not report.complete
    assert report.outcome.not_run == 5
    assert report.outcome.budget_stop == "dataset budget: model calls 3 >= limit 3"
    assert report.summary.total.usage.model_calls == 3
    # Resuming with the budget spent runs nothing more and says why.
    again = evaluate_with(recipe, store, _flaky_agent(set()), eval_id=report.eval_id)
    assert again.outcome.ran == 0 and again.outcome.not_run == 5
    assert again.outcome.budget_stop == "dataset budget: model calls 3 >= limit 3"


def test_the_dataset_budget_is_admitted_per_call_across_instances_in_flight(
        tmp_path: Path) -> None:
    # Two calls per instance (plan and join), eight instances at once, a cap of 5 calls: the
    # cap is exact, and the instance stopped half-way is recorded as budget_exhausted.
    recipe = arithmetic_recipe(tmp_path, n=8, extra="  budget: {max_model_calls: 5}\n"
                               "  concurrency: 8\n")
    report = evaluate(recipe, store=tmp_path / "runs.sqlite", output=tmp_path / "o.jsonl")
    assert report.summary.total.usage.model_calls == 5
    statuses = sorted(r.status for r in report.results)
    assert statuses.count("budget_exhausted") >= 1
    assert all(r.usage.model_calls >= 1 for r in report.results)


def test_overrides_and_a_recipe_without_a_dataset(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path)
    report = asyncio.run(aevaluate(recipe, store=tmp_path / "s.sqlite", output=tmp_path / "o",
                                   overrides=Overrides(limit=2, offset=3)))
    assert [r.id for r in report.results] == ["q3", "q4"]
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\ntools: [calculator]\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bare\.yaml: eval: no dataset: add an `eval: "
                       r"\{dataset: \{path: \.\.\.\}\}` section or pass --data FILE"):
        evaluate(bare, store=tmp_path / "s.sqlite")
    with pytest.raises(UserError, match="metric 'numeric' compares answers with a reference"):
        evaluate(bare, data=tmp_path / "data.jsonl", metric="numeric", store=tmp_path / "s")
    report = evaluate(bare, data=tmp_path / "data.jsonl", reference="answer",
                      metric="contains", ids=["2", "5"], store=tmp_path / "s.sqlite",
                      output=tmp_path / "o2")
    assert [(r.id, r.question, r.reference) for r in report.results] == [
        ("2", ARITHMETIC[1][0], "42"), ("5", ARITHMETIC[4][0], "9")]


def test_a_result_line_round_trips_and_names_every_field() -> None:
    from dataclasses import fields

    from forethought.eval.results import InstanceResult, InstanceUsage

    result = InstanceResult(id="a", index=3, question="q", answer="x", reference="y",
                            correct=False, score=0.25, status="budget_exhausted", partial=True,
                            strategy="beam", verified=False,
                            usage=InstanceUsage(model_calls=2, prompt_tokens=5,
                                                completion_tokens=7, cost_usd=0.5),
                            duration_s=1.5, run_id="r", error="e", metric_detail="d",
                            tags={"level": "hard"}, worker="h:1")
    data = result.to_dict()
    assert set(data) == {f.name for f in fields(InstanceResult)}
    assert InstanceResult.from_dict(json.loads(json.dumps(data))) == result
