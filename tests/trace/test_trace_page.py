"""The HTML trace pages opened in headless Chromium: everything in the DOM, nothing fetched.

Screenshots go to ``$FORETHOUGHT_TEST_ARTIFACTS`` (default ``test-artifacts/``, gitignored),
which CI keeps as artifacts. Without Chromium these tests are skipped with the reason, except
in CI (``CI=true``), where .ci/run installs it and a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from chromium import HAVE_CHROMIUM, Chromium, Page
from trace_support import HOSTILE, expected_ids, record_decisions, record_replan
from typer.testing import CliRunner

from forethought import RunStore, UserError
from forethought.cli import app
from forethought.trace.eval_page import (
    EvalInstance,
    EvalSummary,
    set_eval_reader_factory,
)
from forethought.trace.html import render_page, write_page
from forethought.trace.model import build_trace

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("FORETHOUGHT_TEST_ARTIFACTS", ROOT / "test-artifacts"))

pytestmark = pytest.mark.skipif(
    not HAVE_CHROMIUM and os.environ.get("CI") != "true",
    reason="Chromium is not installed (Debian package `chromium`)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as b:
        yield b


def open_page(browser: Chromium, path: Path) -> Page:
    page = browser.open(path.as_uri())
    page.wait_for("document.documentElement.dataset.painted")
    return page


def dom_list(page: Page, selector: str, attribute: str) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll({selector!r}), "
                         f"e => e.getAttribute({attribute!r}))")


def test_every_node_and_call_is_in_the_dom_and_nothing_leaves_the_page(
        browser: Chromium, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = record_replan(store)
    trace = build_trace(run_id, store.events(run_id, content=True), store.get_run(run_id))
    path = write_page(trace, tmp_path / "trace.html")
    page = open_page(browser, path)
    nodes, calls = expected_ids(store, run_id)
    assert set(dom_list(page, "#nodes tr[data-node-id]", "data-node-id")) == nodes
    assert set(dom_list(page, "#dag rect[data-node-id]", "data-node-id")) == nodes
    assert dom_list(page, "#calls tr[data-call]", "data-call") == [
        str(n) for n in range(1, calls + 1)]
    assert page.evaluate("document.querySelectorAll('#timeline rect.c').length") == calls
    # Only the page itself was requested, and the hostile text stayed text.
    assert page.requests() == [path.as_uri()]
    assert page.console_errors() == []
    assert page.evaluate("document.images.length") == 0
    assert page.evaluate("document.title") == f"forethought trace {run_id}"
    assert HOSTILE in page.evaluate("document.getElementById('summary').textContent")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(ARTIFACTS / "trace_page_graph.png")

    # A call's messages and completion on demand.
    page.evaluate("document.querySelector('#calls tr[data-call=\"4\"]').click()")
    detail = page.evaluate("document.getElementById('detail').textContent")
    assert "#4 chat scripted" in detail and "Plan results:" in detail
    assert "Action: Replan(task 2 failed; compute with $1 instead)" in detail
    page.evaluate("document.querySelector('[data-tab=timeline]').click()")
    page.screenshot(ARTIFACTS / "trace_page_timeline.png")
    # A failed node shows its error.
    page.evaluate("document.querySelector('#dag rect[data-node-id=\"2\"]')"
                  ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert "disk on fire" in page.evaluate("document.getElementById('detail').textContent")


def test_decisions_and_unknown_event_kinds_are_shown(browser: Chromium, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = record_decisions(store)
    trace = build_trace(run_id, store.events(run_id, content=True), store.get_run(run_id))
    page = open_page(browser, write_page(trace, tmp_path / "decisions.html"))
    tabs = dom_list(page, "#tabs button", "data-tab")
    assert tabs == ["graph", "timeline", "calls", "nodes", "decisions", "events"]
    decision = page.evaluate("document.querySelector('#decisions .decision').textContent")
    assert "selection · node 1" in decision and "strategymcts" in decision
    assert '{"best_of_n":0.4,"mcts":0.6}' in decision
    kinds = page.evaluate("Array.from(document.querySelectorAll('#events tbody tr'), "
                          "r => r.cells[1].textContent)")
    assert "plugin_custom" in kinds and "selection" in kinds and "planner" in kinds
    assert page.requests() == [(tmp_path / "decisions.html").as_uri()]


def test_the_page_names_no_external_resource(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = record_replan(store)
    text = render_page(build_trace(run_id, store.events(run_id, content=True),
                                   store.get_run(run_id)))
    data = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', text,
                     re.S)
    assert data is not None
    # The run is data: the hostile text is in it only as escaped JSON, never as markup.
    assert "<" not in data.group(1) and "\\u003cimg src=" in data.group(1)
    code = text.replace(data.group(0), "")
    for needle in ("src=", "href=", "url(", "@import", "http://", "https://", "fetch(",
                   "XMLHttpRequest", "WebSocket", "sendBeacon", "import("):
        assert needle not in code, needle
    assert "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';" in code


def test_the_request_check_sees_a_request_when_there_is_one(browser: Chromium,
                                                            tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<!doctype html><img src="http://127.0.0.1:9/pixel.png">')
    page = browser.open(leaky.as_uri())
    assert "http://127.0.0.1:9/pixel.png" in page.requests()


class FixtureEvalReader:
    """An :class:`EvalReader` over a small fixture table (the eval tables' stand-in)."""

    def __init__(self, store: RunStore) -> None:
        self.db = sqlite3.connect(store.path)

    def get_eval(self, eval_id: str) -> EvalSummary:
        row = self.db.execute("SELECT id, recipe, status FROM fixture_evals WHERE id=?",
                              (eval_id,)).fetchone()
        if row is None:
            raise UserError(f"no evaluation {eval_id!r}")
        return EvalSummary(id=row[0], recipe=row[1], status=row[2], meta={"metric": "exact"})

    def eval_instances(self, eval_id: str) -> Iterable[EvalInstance]:
        for iid, status, correct, answer, ref, run_id in self.db.execute(
                "SELECT instance, status, correct, answer, reference, run_id FROM "
                "fixture_instances WHERE eval_id=? ORDER BY rowid", (eval_id,)):
            yield EvalInstance(instance_id=iid, status=status,
                               correct=None if correct is None else bool(correct),
                               answer=answer, reference=ref, run_id=run_id,
                               usage={"prompt_tokens": 10, "completion_tokens": 2,
                                      "cost_usd": 0.001})


@pytest.fixture
def eval_store(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        runs = [record_replan(store), record_decisions(store)]
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE fixture_evals (id TEXT PRIMARY KEY, recipe TEXT, status TEXT);
        CREATE TABLE fixture_instances (eval_id TEXT, instance TEXT, status TEXT,
            correct INTEGER, answer TEXT, reference TEXT, run_id TEXT);
    """)
    db.execute("INSERT INTO fixture_evals VALUES ('e1', 'game24_eval.yaml', 'finished')")
    db.executemany("INSERT INTO fixture_instances VALUES ('e1', ?, ?, ?, ?, ?, ?)", [
        ("i1", "ok", 1, "40", "40", runs[0]),
        ("i2", "ok", 0, "2", "3", runs[1]),
        ("i3 <b>x</b>", "failed", None, None, "7", "run-not-in-this-store"),
        ("i4", "pending", None, None, "9", None),
    ])
    db.commit()
    db.close()
    set_eval_reader_factory(FixtureEvalReader)
    try:
        yield path, runs
    finally:
        set_eval_reader_factory(None)


def test_eval_page_has_a_row_per_instance_linking_to_its_run(
        browser: Chromium, eval_store: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, runs = eval_store
    out = tmp_path / "pages" / "e1.html"
    result = CliRunner().invoke(app, ["trace", "--eval", "e1", "--html", str(out),
                                      "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out} and 2 run pages in {out.parent / 'e1_runs'}"
    page = open_page_eval(browser, out)
    assert dom_list(page, "#instances tbody tr", "data-instance") == [
        "i1", "i2", "i3 <b>x</b>", "i4"]
    links = dom_list(page, "#instances a.run", "href")
    assert links == [f"e1_runs/{runs[0]}.html", f"e1_runs/{runs[1]}.html"]
    assert page.evaluate("document.querySelector('header').textContent").count(
        "accuracy 50.0% (1/2 scored)") == 1
    assert page.requests() == [out.as_uri()]
    page.screenshot(ARTIFACTS / "eval_page.png")
    # Filtering keeps the rows in the DOM and hides the others.
    page.evaluate("const f = document.getElementById('filter'); f.value = 'wrong'; "
                  "f.dispatchEvent(new Event('change'))")
    assert page.evaluate("document.getElementById('shown').textContent") == "1 of 4 instances"
    # Each link opens that run's own page.
    run_page = open_page(browser, out.parent / links[0])
    assert run_page.evaluate("document.title") == f"forethought trace {runs[0]}"
    unknown = CliRunner().invoke(app, ["trace", "--eval", "e9", "--html", str(out),
                                       "--store", str(path)])
    assert unknown.exit_code == 2 and "no evaluation 'e9'" in unknown.output


def open_page_eval(browser: Chromium, path: Path) -> Page:
    page = browser.open(path.as_uri())
    page.wait_for("document.documentElement.dataset.built")
    return page
