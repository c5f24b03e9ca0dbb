"""``forethought trace --eval EVAL_ID --html FILE`` reads the eval tables: a row per instance
(pending ones included), each linking to its run's page.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forethought.cli import app
from forethought.eval import trace_reader
from forethought.eval.api import aevaluate
from forethought.eval.store import EvalStore
from forethought.runtime.store import RunStore
from forethought.trace.eval_page import open_eval_reader, set_eval_reader_factory
from tests.eval.helpers import Crash, StopAfter, arithmetic_recipe


@pytest.fixture(autouse=True)
def _reader() -> Iterator[None]:
    trace_reader.install()  # another test may have replaced it with its own
    yield
    set_eval_reader_factory(None)


def test_the_eval_page_lists_every_instance_with_links_to_its_runs(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=6)
    store = tmp_path / "runs.sqlite"
    with pytest.raises(Crash):
        asyncio.run(aevaluate(recipe, store=store, output=tmp_path / "r.jsonl",
                              backend=StopAfter(3, concurrency=1, store=store)))
    with EvalStore(store) as evals:
        (record,) = evals.evals()
        done = evals.results(record.id)
    with RunStore(store) as runs:
        reader = open_eval_reader(runs)
        summary = reader.get_eval(record.id)
        rows = list(reader.eval_instances(record.id))
    assert summary.status == "unfinished (3 of 6)" and summary.meta["metric"] == "numeric"
    assert [(r.instance_id, r.status) for r in rows] == [
        ("q0", "ok"), ("q1", "ok"), ("q2", "ok"), ("q3", "pending"), ("q4", "pending"),
        ("q5", "pending")]
    assert [r.run_id for r in rows[:3]] == [r.run_id for r in done]
    out = tmp_path / "page" / "eval.html"
    result = CliRunner().invoke(app, ["trace", "--eval", record.id, "--html", str(out),
                                      "--store", str(store)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert html.count('data-status="pending"') == 3 and html.count('class="run"') == 3
    for r in done:
        assert (out.parent / "eval_runs" / f"{r.run_id}.html").exists()
    embedded = html.split('<script type="application/json" id="trace-data">')[1]
    data = json.loads(embedded.split("</script>")[0])
    assert data["eval"]["id"] == record.id
    assert [(i["instance_id"], i["correct"]) for i in data["instances"]] == [
        (r.id, r.correct) for r in done] + [("q3", None), ("q4", None), ("q5", None)]
    unknown = CliRunner().invoke(app, ["trace", "--eval", "eval-nope", "--html", str(out),
                                       "--store", str(store)])
    assert unknown.exit_code == 2 and "no eval 'eval-nope'" in unknown.output
