"""The command line, through typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from forethought import RunStore, __version__
from forethought.cli import app

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = str(ROOT / "recipes" / "quickstart.yaml")
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"forethought {__version__}"


def test_quickstart_runs_offline_and_prints_answer_and_usage() -> None:
    result = runner.invoke(app, ["run", QUICKSTART])
    assert result.exit_code == 0, result.output
    answer, usage = result.output.strip().splitlines()[-2:]
    assert answer == "195"  # (17 + 25) * (9 - 4) - 120 / 8
    assert usage.startswith("usage: 2 model calls, ")


def test_question_json_and_store(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    result = runner.invoke(app, ["run", QUICKSTART, "-i", "What is 6 * (1 + 1)?", "--json",
                                 "--store", str(store)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["answer"] == "12" and out["status"] == "ok"
    assert RunStore(store).get_run(out["run_id"]).answer == "12"


def test_verbose_prints_events() -> None:
    result = runner.invoke(app, ["run", QUICKSTART, "-v"])
    assert result.exit_code == 0
    assert "· node_finished [1]" in result.output and "· run_finished" in result.output


def test_bad_recipe_exits_2_naming_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools: [calculator, nope]\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert f"error: {bad}:1: tools.1: unknown tool 'nope'; valid tools:" in result.output
    result = runner.invoke(app, ["recipe", "check", str(bad)])
    assert result.exit_code == 2


def test_missing_question_and_file(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("tools: [calculator]\n")
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2 and "no question" in result.output
    result = runner.invoke(app, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_recipe_check_and_schema() -> None:
    result = runner.invoke(app, ["recipe", "check", QUICKSTART])
    assert result.exit_code == 0 and "ok (quickstart)" in result.output
    result = runner.invoke(app, ["recipe", "schema"])
    assert json.loads(result.output)["title"] == "Recipe"


def test_console_script_help_is_a_real_subprocess() -> None:
    proc = subprocess.run([sys.executable, "-m", "forethought.cli", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "run" in proc.stdout
