"""``forethought eval`` through typer's runner: JSON lines, the summary, resume, compare and
plot, and every bad input as a one-line error (exit 2) that names what was wrong.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forethought.cli import app
from forethought.eval.store import EvalStore
from tests.eval.helpers import ARITHMETIC, arithmetic_recipe

runner = CliRunner(env={"COLUMNS": "160"})


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["eval", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_json_mode_prints_one_parseable_line_per_instance_then_the_summary(
        tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path)
    code, out, err = run(recipe, "--json", "--store", tmp_path / "s.sqlite", "-o",
                         tmp_path / "r.jsonl")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    *instances, summary = rows
    assert sorted(r["id"] for r in instances) == [f"q{i}" for i in range(len(ARITHMETIC))]
    assert all(r["status"] == "ok" and r["usage"]["model_calls"] == 2 for r in instances)
    assert summary["total"] == summary["done"] == len(ARITHMETIC) and summary["not_run"] == 0
    assert summary["summary"]["total"]["n"] == len(ARITHMETIC)
    assert summary["results"] == str(tmp_path / "r.jsonl")
    on_file = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(on_file, key=lambda r: r["id"]) == sorted(instances, key=lambda r: r["id"])


def test_the_summary_tables_and_compare(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path)
    store = tmp_path / "s.sqlite"
    ids = []
    for model in ("simulated:skill=0.9", "simulated:skill=0.1"):
        code, out, err = run(recipe, "--json", "--model", model, "--store", store, "-o",
                             tmp_path / f"{model}.jsonl")
        assert code == 0, err
        ids.append(json.loads(out.splitlines()[-1])["eval_id"])
    result = runner.invoke(app, ["eval", "--compare", *ids, "--store", str(store), "--plot",
                                 str(tmp_path / "plot.png"), "--x", "calls"])
    assert result.exit_code == 0, result.stderr
    for eval_id in ids:
        assert eval_id in result.stdout
    assert "simulated:skill=0.9" in result.stdout and "8/8" in result.stdout
    png = (tmp_path / "plot.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    result = runner.invoke(app, ["eval", "--compare", "eval-x", "--store", str(store)])
    assert result.exit_code == 2 and result.stderr.startswith("error: no eval 'eval-x'")
    result = runner.invoke(app, ["eval", "--compare", *ids, "--store", str(store), "--plot",
                                 str(tmp_path / "p.png"), "--x", "time"])
    assert result.exit_code == 2
    assert result.stderr == "error: --x 'time': valid axes are 'cost', 'calls', 'tokens'\n"


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip().removeprefix("error: ")


def dataset(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "extra", "message"), [
    (None, [], r"^dataset '.*bad\.jsonl': no such file$"),
    ("", [], r"^dataset '.*bad\.jsonl' is empty: no records$"),
    ('{"prompt": "What is 1 + 1?", "answer": "2"}\n', [],
     r"^dataset '.*bad\.jsonl': none of its 1 records is usable; the first problem: line 1: "
     r"no field 'question' \(for the question; fields: prompt, answer\)$"),
    ('{"question": "What is 1 + 1?", "answer": "2", "id": "a"}\n'
     '{"question": "What is 2 + 1?", "answer": "3", "id": "a"}\n', ["--id-field", "id"],
     r"^dataset '.*bad\.jsonl': id 'a' appears on line 1 and line 2; ids must be unique"),
    ('{"question": "What is 1 + 1?", "answer": "2", "id": "a"}\n{"question": \n', ["--strict"],
     r"^dataset '.*bad\.jsonl', line 2: not valid JSON: Expecting value \(column 14\) "
     r"\(--strict stops at the first malformed record\)$"),
    ('{"question": "What is 1 + 1?", "answer": "2"}\n', ["--metric", "nope"],
     r"^--metric: unknown metric 'nope'; valid metrics: 'choice', 'contains', 'exact', "
     r"'natural_plan', 'normalised', 'numeric', 'verifier'$"),
    ('{"question": "What is 1 + 1?", "answer": "2"}\n', ["--metric", '{"kind": "numeric"'],
     r"^--metric '\{\"kind\": \"numeric\"' is not a JSON object: Expecting"),
])
def test_bad_datasets_and_metrics(tmp_path: Path, text: str | None, extra: list[str],
                                  message: str) -> None:
    recipe = arithmetic_recipe(tmp_path)
    data = dataset(tmp_path, text) if text is not None else tmp_path / "bad.jsonl"
    code, _, err = run(recipe, "--data", data, "--store", tmp_path / "s.sqlite", *extra)
    assert re.search(message, one_line_error(code, err)), err


def test_a_malformed_line_is_reported_and_the_rest_still_run(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path)
    data = dataset(tmp_path, '{"question": "What is 1 + 1?", "answer": "2", "id": "1"}\n'
                   '{"question": \n{"question": "What is 3 + 1?", "answer": "4", "id": "3"}\n')
    code, out, err = run(recipe, "--data", data, "--store", tmp_path / "s.sqlite", "--json",
                         "-o", tmp_path / "r.jsonl")
    assert code == 0
    assert err.splitlines() == [f"warning: dataset {str(data.resolve())!r}: skipped line 2: not "
                                "valid JSON: Expecting value (column 14)"]
    assert [json.loads(line)["id"] for line in out.splitlines()[:-1]] in (["1", "3"],
                                                                         ["3", "1"])


def test_an_unknown_metric_in_the_recipe_names_the_line(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace("metric: numeric", "metric: numerc"))
    code, _, err = run(recipe, "--store", tmp_path / "s.sqlite")
    assert one_line_error(code, err) == (
        f"{recipe}:8: eval.metric: unknown metric 'numerc'; valid metrics: 'choice', "
        "'contains', 'exact', 'natural_plan', 'normalised', 'numeric', 'verifier'")


def test_resume_errors_and_a_resumed_eval_keeps_what_it_started_with(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=3)
    store = tmp_path / "s.sqlite"
    code, _, err = run("--resume", "eval-unknown", "--store", store)
    assert one_line_error(code, err).startswith(
        f"no eval 'eval-unknown' in {str(store)!r}; it holds no evals")
    code, out, err = run(recipe, "--json", "--store", store, "-o", tmp_path / "r.jsonl")
    assert code == 0, err
    eval_id = json.loads(out.splitlines()[-1])["eval_id"]
    code, _, err = run("--resume", eval_id, "--store", store)
    assert one_line_error(code, err) == (f"eval {eval_id!r} is finished: all 3 instances have "
                                         "results; nothing to resume")
    code, _, err = run("--resume", eval_id, "--limit", "2", "--store", store)
    assert one_line_error(code, err) == ("--limit changes what an eval runs; a resumed eval "
                                         "runs what it started with")
    code, _, err = run("--resume", eval_id, "--id-field", "k", "--store", store)
    assert one_line_error(code, err).startswith("--id-field changes what an eval runs")
    code, _, err = run("--retry-failed", eval_id, "--store", store)
    assert one_line_error(code, err) == (f"eval {eval_id!r} has no failed instances to retry "
                                         "(3 of 3 finished)")
    code, _, err = run(tmp_path / "nope.yaml", "--store", store)
    assert one_line_error(code, err) == f"recipe {str(tmp_path / 'nope.yaml')!r}: no such file"
    code, _, err = run(recipe, recipe, "--store", store)
    assert one_line_error(code, err).startswith("name one recipe file (or one eval id with "
                                                "--resume), got 2")
    with EvalStore(store) as evals:
        assert len(evals.results(eval_id)) == 3  # nothing finished was lost on the way


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says anything."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in accepted:
            conn.close()
        thread.join(timeout=5)


def test_without_ray_the_error_names_the_extra(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from forethought.eval import ray_backend

    real = ray_backend.importlib.import_module

    def no_ray(name: str, package: str | None = None) -> object:
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, package)

    monkeypatch.setattr(ray_backend.importlib, "import_module", no_ray)
    code, _, err = run(arithmetic_recipe(tmp_path, n=2), "--backend", "ray", "--store",
                       tmp_path / "s.sqlite")
    assert one_line_error(code, err) == ("--backend ray needs Ray: pip install "
                                         "'forethought[ray]' (or uv sync --extra ray)")


def test_a_ray_address_that_does_not_answer_fails_within_seconds(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=2)
    started = time.perf_counter()
    code, _, err = run(recipe, "--backend", "ray", "--address", "127.0.0.1:9", "--store",
                       tmp_path / "s.sqlite")
    assert time.perf_counter() - started < 10
    assert one_line_error(code, err) == (
        "Ray address '127.0.0.1:9' does not answer (Connection refused within 3s); start a "
        "cluster with `ray start --head`, or leave out --address for a local one")
    code, _, err = run(recipe, "--backend", "ray", "--address", "nonsense", "--store",
                       tmp_path / "s.sqlite")
    assert one_line_error(code, err) == ("Ray address 'nonsense' is not host:port (or "
                                         "ray://host:port)")
    with silent_server() as port:
        started = time.perf_counter()
        code, _, err = run(recipe, "--backend", "ray", "--address", f"127.0.0.1:{port}",
                           "--store", tmp_path / "s.sqlite")
        assert time.perf_counter() - started < 10
    assert one_line_error(code, err) == (
        f"Ray address '127.0.0.1:{port}' answers, but not as a Ray cluster (no gRPC reply "
        "within 3s); start a cluster with `ray start --head`, or leave out --address for a "
        "local one")
    code, _, err = run(recipe, "--backend", "spark", "--store", tmp_path / "s.sqlite")
    assert one_line_error(code, err) == "unknown backend 'spark'; valid backends: 'local', 'ray'"


def test_without_matplotlib_the_plot_error_names_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forethought.eval import plot

    real = plot.importlib.import_module

    def no_matplotlib(name: str, package: str | None = None) -> object:
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real(name, package)

    recipe = arithmetic_recipe(tmp_path, n=2)
    store = tmp_path / "s.sqlite"
    code, out, err = run(recipe, "--json", "--store", store, "-o", tmp_path / "r.jsonl")
    assert code == 0, err
    eval_id = json.loads(out.splitlines()[-1])["eval_id"]
    monkeypatch.setattr(plot.importlib, "import_module", no_matplotlib)
    result = runner.invoke(app, ["eval", "--compare", eval_id, "--store", str(store), "--plot",
                                 str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert result.stderr == ("error: plotting needs matplotlib: pip install "
                             "'forethought[plot]'\n")
    assert not (tmp_path / "p.png").exists()


def test_planner_overrides_the_recipes_planner(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=2)
    store = tmp_path / "s.sqlite"
    code, out, err = run(recipe, "--planner", "react", "--json", "--store", store,
                         "-o", tmp_path / "r.jsonl")
    assert code == 0, err
    *instances, summary = [json.loads(line) for line in out.splitlines()]
    assert {r["strategy"] for r in instances} == {"react"}
    # A different planner is a different eval, and a resumed eval keeps the one it ran with.
    code, out, err = run(recipe, "--json", "--store", store, "-o", tmp_path / "r2.jsonl")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["eval_id"] != summary["eval_id"]
    code, _, err = run("--resume", summary["eval_id"], "--planner", "aot", "--store", store)
    assert one_line_error(code, err).startswith("--planner changes what an eval runs")


def test_planner_naming_the_recipes_own_kind_keeps_its_options(tmp_path: Path) -> None:
    from forethought.eval.plan import Overrides, spec_from_recipe

    recipe = arithmetic_recipe(tmp_path, n=1)
    spec = spec_from_recipe(recipe, Overrides(planner="llmcompiler"))
    planner = spec.recipe().planner_config()
    assert planner.kind == "llmcompiler" and planner.options()["max_replans"] == 1


def test_an_unknown_planner_is_refused_before_anything_runs(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=2)
    store = tmp_path / "s.sqlite"
    code, _, err = run(recipe, "--planner", "nosuch", "--store", store)
    message = one_line_error(code, err)
    assert message.startswith("--planner 'nosuch': planner.kind: unknown planner 'nosuch'")
    assert "'llmcompiler'" in message
    with EvalStore(store) as evals:
        assert evals.evals() == []
