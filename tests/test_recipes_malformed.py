"""Malformed recipes: each gets exactly one problem, with its exact message, line and field;
never a traceback, quickly, and before anything of the recipe runs.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forethought.cli import app
from forethought.exceptions import RecipeError
from forethought.recipes import check_recipe, load_recipe

ROOT = Path(__file__).resolve().parent.parent
VALID_TOOLS = "'calculator', 'clock', 'logic', 'mcp', 'python', 'retrieve', 'smt'"
VALID_STRATEGIES = ("'beam', 'best_of_n', 'mcts', 'particle_filter', 'rebase', 'refine', "
                    "'self_consistency', 'tot_bfs', 'tot_dfs'")
DUPLICATE = "a repeated key would silently replace the first"


def laughs(levels: int) -> str:
    """A "billion laughs" document: each level repeats the one before nine times."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        name, prev = chr(97 + i), chr(96 + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


# (id, recipe text, line, field, message): `{dir}` is the recipe's folder.
CASES: list[tuple[str, str, int, str | None, str]] = [
    ("missing corpus file (relative to the recipe)",
     "tools:\n  - name: retrieve\n    corpus: missing.jsonl\n", 3, "tools.0.corpus",
     "no such file or folder: '{dir}/missing.jsonl'"),
    ("missing saved index",
     "tools:\n  - name: retrieve\n    index: no-index\n", 3, "tools.0.index",
     "no saved index at '{dir}/no-index' (give `corpus` to build one there)"),
    ("MCP command not on PATH",
     "tools:\n  - calculator\n  - name: mcp\n    command: no-such-mcp-server-xyz\n", 4,
     "tools.1.command",
     "program 'no-such-mcp-server-xyz' is not found on PATH; install it, or give the path "
     "to an executable"),
    ("MCP working directory missing",
     "tools:\n  - name: mcp\n    command: sh\n    cwd: nowhere\n", 4, "tools.0.cwd",
     "no such folder: '{dir}/nowhere'"),
    ("memory_mb 1e23",
     "tools:\n  - name: python\n    memory_mb: 1e23\n", 3, "tools.0.memory_mb",
     "Input should be a valid integer, got 1e+23"),
    ("memory_mb a float where an integer is meant",
     "tools:\n  - name: python\n    memory_mb: 512.0\n", 3, "tools.0.memory_mb",
     "Input should be a valid integer, got 512.0"),
    ("memory_mb beyond any machine",
     "tools:\n  - name: python\n    memory_mb: 100000000\n", 3, "tools.0.memory_mb",
     "Input should be less than or equal to 262144, got 100000000"),
    ("misspelled scorer tool",
     "tools: [calculator]\nplanner:\n  kind: search\n  scorer: {kind: tool, tool: calculater}\n",
     4, "planner.scorer.tool",
     "tool 'calculater' is not one of the recipe's tools ('calculator'); add it to `tools:`; "
     "did you mean 'calculator'?"),
    ("unknown strategy: the line of the nested key",
     "planner:\n  kind: search\n  strategy:\n    kind: beem\n    width: 2\n", 4,
     "planner.strategy.kind", f"unknown strategy 'beem'; valid strategies: {VALID_STRATEGIES}"),
    ("unknown strategy given as a name",
     "planner:\n  kind: search\n  strategy: beem\n", 3, "planner.strategy",
     f"unknown strategy 'beem'; valid strategies: {VALID_STRATEGIES}"),
    ("misspelled strategy option",
     "planner:\n  kind: search\n  strategy:\n    kind: beam\n    widht: 2\n", 5,
     "planner.strategy.widht",
     "unknown option of strategy 'beam'; valid options: width, expansion, aggregation, "
     "proceed_at"),
    ("unknown tool in a list: the line of the item",
     "tools:\n  - calculator\n  - clock\n  - serch\n", 4, "tools.2",
     f"unknown tool 'serch'; valid tools: {VALID_TOOLS}"),
    ("unknown tool in a flow list",
     "tools: [calculator, serch]\n", 1, "tools.1",
     f"unknown tool 'serch'; valid tools: {VALID_TOOLS}"),
    ("unknown tool by name in a mapping",
     "tools:\n  - calculator\n  - name: pyhton\n    wall_s: 3\n", 3, "tools.1.name",
     f"unknown tool 'pyhton'; valid tools: {VALID_TOOLS}"),
    ("duplicate top-level key",
     "name: a\nmodel: simulated\nname: b\n", 3, "name",
     f"key 'name' appears twice in this mapping (lines 1 and 3); {DUPLICATE}"),
    ("duplicate nested key",
     "planner:\n  kind: llmcompiler\n  max_replans: 1\n  max_replans: 2\n", 4,
     "planner.max_replans",
     f"key 'max_replans' appears twice in this mapping (lines 3 and 4); {DUPLICATE}"),
    ("12,000-deep flow nesting",
     "planner: " + "[" * 12_000 + "]" * 12_000 + "\n", 1, None,
     "the recipe nests deeper than 64 levels"),
    ("deep block nesting",
     "planner:\n" + "".join("  " * i + "- \n" for i in range(1, 80)), 65, None,
     "the recipe nests deeper than 64 levels"),
    ("billion laughs",
     laughs(9), 5, None,
     "the recipe has more than 10,000 values (aliases count as many values as they repeat); "
     "recipes are small"),
    ("recursive alias",
     "tools: &t [calculator, *t]\n", 1, None,
     "alias *t is used inside the value it names (a recursive structure)"),
    ("negative timeout",
     "tools:\n  - name: mcp\n    command: sh\n    startup_timeout_s: -1\n", 4,
     "tools.0.startup_timeout_s", "Input should be greater than 0, got -1"),
    ("zero timeout",
     "model:\n  name: openai/gpt-4o-mini\n  timeout_s: 0\n", 3, "model.timeout_s",
     "Input should be greater than 0, got 0"),
    ("zero sandbox wall time",
     "tools:\n  - name: python\n    wall_s: 0\n", 3, "tools.0.wall_s",
     "Input should be greater than or equal to 0.01, got 0"),
    ("n above range",
     "planner:\n  kind: search\n  strategy: {kind: best_of_n, n: 5000}\n", 3,
     "planner.strategy.n", "Input should be less than or equal to 4096, got 5000"),
    ("n zero",
     "planner:\n  kind: search\n  strategy:\n    kind: self_consistency\n    n: 0\n", 5,
     "planner.strategy.n", "Input should be greater than or equal to 1, got 0"),
    ("n a fraction",
     "planner:\n  kind: search\n  strategy:\n    kind: self_consistency\n    n: 8.5\n", 5,
     "planner.strategy.n", "Input should be a valid integer, got 8.5"),
    ("proceed_at above 1",
     "planner:\n  kind: search\n  strategy: {kind: beam, proceed_at: 1.5}\n", 3,
     "planner.strategy.proceed_at", "Input should be less than or equal to 1, got 1.5"),
    ("proceed_at zero",
     "planner:\n  kind: search\n  strategy:\n    kind: rebase\n    proceed_at: 0\n", 5,
     "planner.strategy.proceed_at", "Input should be greater than 0, got 0"),
    ("proceed_at a quoted number",
     "planner:\n  kind: search\n  strategy: {kind: particle_filter, proceed_at: '0.5'}\n", 3,
     "planner.strategy.proceed_at", "Input should be a valid number, got '0.5'"),
    ("proceed_at on a strategy without steps",
     "planner:\n  kind: search\n  strategy: {kind: mcts, proceed_at: 0.5}\n", 3,
     "planner.strategy.proceed_at",
     "unknown option of strategy 'mcts'; valid options: simulations, width, exploration, "
     "evaluation, accept"),
    ("proceed_at with a Tree of Thoughts vote",
     "planner:\n  kind: search\n  strategy: {kind: tot_bfs, proceed_at: 0.5, "
     "evaluation: vote}\n", 3, "planner.strategy",
     "proceed_at=0.5 needs evaluation 'value' or 'scorer': a vote compares all of a level's "
     "states in one call"),
    ("stop_early not a boolean",
     "planner:\n  kind: search\n  strategy: {kind: self_consistency, stop_early: 'yes'}\n",
     3, "planner.strategy.stop_early", "Input should be a valid boolean, got 'yes'"),
    ("stop_early on a strategy that has none",
     "planner:\n  kind: search\n  strategy: {kind: beam, stop_early: true}\n", 3,
     "planner.strategy.stop_early",
     "unknown option of strategy 'beam'; valid options: width, expansion, aggregation, "
     "proceed_at"),
    ("best-of-N stopping early on a final scorer that does not verify",
     "planner:\n  kind: search\n  strategy: {kind: best_of_n, stop_early: true}\n"
     "  final_scorer: reward\n", 1, "planner",
     "best_of_n stop_early stops at the first answer the final scorer accepts, but "
     "final_scorer 'reward' does not verify; use a verifying final scorer (judge, verifier, "
     "tool, or a Verifier registered with register_scorer) or stop_early: false"),
    ("an API key pasted where its variable's name goes (never echoed)",
     "model:\n  name: openai/gpt-4o-mini\n  api_key_env: sk-proj-abc123XYZ\n", 3,
     "model.api_key_env",
     "must be the NAME of an environment variable (letters, digits and '_', not starting "
     "with a digit), such as OPENAI_API_KEY; the value given is not one and is not shown, in "
     "case it is a key"),
    ("API key variable not set",
     "model:\n  name: openai/gpt-4o-mini\n  api_key_env: FORETHOUGHT_TEST_UNSET_KEY\n", 3,
     "model.api_key_env",
     "environment variable 'FORETHOUGHT_TEST_UNSET_KEY' is not set (it should hold the API "
     "key for 'openai/gpt-4o-mini')"),
    ("a string where a list goes",
     "tools: calculator\n", 1, "tools", "Input should be a valid list, got 'calculator'"),
    ("a word where a number goes",
     "budget:\n  max_model_calls: lots\n", 2, "budget.max_model_calls",
     "Input should be a valid integer, got 'lots'"),
    ("a list where text goes",
     "input: [what, is, 2]\n", 1, "input", "Input should be a valid string, got a list"),
    ("a setting the simulator would ignore",
     "model:\n  name: simulated\n  max_tokens: 100\n", 3, "model.max_tokens",
     "the simulated model does not apply 'max_tokens' (it does not truncate replies); "
     "remove it, or name a LiteLLM model to use it"),
    ("a server for the simulator",
     "model:\n  name: simulated\n  api_base: http://127.0.0.1:8000/v1\n", 3,
     "model.api_base",
     "the simulated model does not apply 'api_base' (it reaches no provider); remove it, or "
     "name a LiteLLM model to use it"),
    ("model without a provider",
     "model: gpt-4o-mini\n", 1, "model",
     "model 'gpt-4o-mini': name a provider as LiteLLM expects, e.g. 'openai/gpt-4o-mini', or "
     "use 'simulated' to run offline"),
    ("document over the size limit",
     "input: " + "word " * 60_000 + "\n", 1, None,
     "the recipe is larger than the 262,144 bytes a recipe may have; pass long questions "
     "with -i/--input"),
    ("control character",
     "name: a\ninput: ring \x07 the bell\n", 2, None,
     "character U+0007 is not allowed in YAML (control characters and unpaired surrogates "
     "are not)"),
    ("tab indentation",
     "planner:\n\tkind: react\n", 2, None,
     "not valid YAML: found character '\\t' that cannot start any token"),
    ("two documents",
     "name: a\n---\nname: b\n", 2, None,
     "not valid YAML: expected a single document in the stream; but found another document"),
    ("a Python object tag",
     "name: !!python/object/apply:os.system [echo hi]\n", 1, None,
     "not valid YAML: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("unknown top-level field",
     "name: x\nbugdet: {max_model_calls: 3}\n", 2, "bugdet",
     "unknown field; valid fields here: version, name, description, model, tools, planner, "
     "budget, input, eval"),
    ("misspelled planner option",
     "planner:\n  kind: react\n  max_step: 3\n", 3, "planner.max_step",
     "unknown option of planner 'react'; valid options: max_steps, max_observation_chars, "
     "native_tools"),
    ("default solver time above its own ceiling",
     "tools:\n  - name: smt\n    timeout_s: 120\n", 2, "tools.0",
     "timeout_s=120 is more than max_timeout_s=60"),
    ("zero budget",
     "budget:\n  max_cost_usd: 0\n", 2, "budget.max_cost_usd",
     "Input should be greater than 0, got 0"),
    ("NaN budget",
     "budget:\n  max_seconds: .nan\n", 2, "budget.max_seconds",
     "Input should be a finite number, got nan"),
    ("top_p above 1",
     "model:\n  name: openai/gpt-4o-mini\n  top_p: 1.5\n", 3, "model.top_p",
     "Input should be less than or equal to 1, got 1.5"),
    ("api_base not a URL",
     "model:\n  name: openai/gpt-4o-mini\n  api_base: localhost:8000\n", 3, "model.api_base",
     "must be an http:// or https:// URL, such as http://127.0.0.1:8000/v1, got "
     "'localhost:8000'"),
    ("two tools with one name",
     "tools: [calculator, clock, calculator]\n", 1, "tools.2",
     "tools.0 already makes a tool named 'calculator'; two tools cannot share a name"),
    ("nested strategy options out of range",
     "planner:\n  kind: aot\n  strategy: self_consistency\n  strategy_options:\n    n: 99999\n",
     5, "planner.strategy_options.n", "Input should be less than or equal to 4096, got 99999"),
    ("scorer samples zero",
     "planner:\n  kind: search\n  scorer: {kind: judge, samples: 0}\n", 3,
     "planner.scorer.samples", "Input should be greater than or equal to 1, got 0"),
    ("seed a fraction",
     "model:\n  name: openai/gpt-4o-mini\n  seed: 1.5\n", 3, "model.seed",
     "Input should be a valid integer, got 1.5"),
    ("a number where a tool goes",
     "tools:\n  - 3\n", 2, "tools.0",
     "a tool is a name, or a mapping with `name` and its options, got 3"),
    ("undefined alias",
     "tools: [*nope]\n", 1, None, "not valid YAML: found undefined alias 'nope'"),
    ("retries beyond reason",
     "model:\n  name: openai/gpt-4o-mini\n  max_retries: 100\n", 3, "model.max_retries",
     "Input should be less than or equal to 20, got 100"),
]


@pytest.fixture(scope="module", autouse=True)
def _registries_loaded() -> None:
    # The first check imports every registered tool, planner and strategy; the timings below
    # are of checking, not of that one-off import.
    for shipped in (ROOT / "recipes").glob("*.yaml"):
        check_recipe(shipped)


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    return tmp_path / "bad.yaml"


@pytest.mark.parametrize(("text", "line", "field", "message"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_malformed_recipe_has_one_exact_problem(recipe_file: Path, text: str, line: int,
                                                     field: str | None, message: str) -> None:
    recipe_file.write_text(text, encoding="utf-8")
    message = message.replace("{dir}", str(recipe_file.parent))
    start = time.perf_counter()
    problems = check_recipe(recipe_file)
    assert time.perf_counter() - start < 1.0
    where = f"{recipe_file}:{line}: " + (f"{field}: " if field else "")
    assert [str(p) for p in problems] == [where + message]
    (problem,) = problems
    assert (problem.line, problem.field, problem.message) == (line, field, message)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file)
    assert str(info.value) == where + message


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


def test_invalid_utf8_names_the_line_and_column(recipe_file: Path) -> None:
    recipe_file.write_bytes("name: café\n".encode() + b"input: caf\xe9 au lait\n")
    assert [str(p) for p in check_recipe(recipe_file)] == [
        f"{recipe_file}:2: not valid UTF-8: byte 0xe9 at column 11 (save the file as UTF-8)"]


def test_a_huge_file_is_not_read_whole(recipe_file: Path) -> None:
    with recipe_file.open("w", encoding="utf-8") as f:
        f.write("input: |\n")
        for _ in range(400_000):  # ~10 MB
            f.write("  more text for a question nobody asked\n")
    tracemalloc.start()
    try:
        start = time.perf_counter()
        (problem,) = check_recipe(recipe_file)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line = 2 + (262_144 - len("input: |\n")) // len("  more text for a question nobody asked\n")
    assert problem.line == line == 6555  # where the limit was crossed
    assert "larger than the 262,144 bytes" in problem.message
    assert elapsed < 1.0 and peak < 4 * 2**20


@pytest.mark.parametrize("text", [laughs(12), "a: " + "[" * 50_000 + "]" * 50_000 + "\n"],
                         ids=["laughs-10^12", "50000-deep"])
def test_bombs_cost_little_time_and_memory(recipe_file: Path, text: str) -> None:
    recipe_file.write_text(text, encoding="utf-8")
    tracemalloc.start()
    try:
        start = time.perf_counter()
        problems = check_recipe(recipe_file)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(problems) == 1 and problems[0].line is not None
    assert elapsed < 1.0 and peak < 8 * 2**20


def test_several_problems_are_all_listed_by_line(recipe_file: Path) -> None:
    recipe_file.write_text("tools:\n  - name: retrieve\n    corpus: gone.jsonl\n"
                           "  - name: mcp\n    command: no-such-mcp-server-xyz\n"
                           "planner:\n  kind: search\n  scorer: {kind: tool, tool: checker}\n",
                           encoding="utf-8")
    problems = check_recipe(recipe_file)
    assert [(p.line, p.field) for p in problems] == [
        (3, "tools.0.corpus"), (5, "tools.1.command")]
    # The scorer's tool is not checked against a toolset whose tools are known only once
    # its server runs; the run itself fails clearly if it is missing (test_search_planner).
    with pytest.raises(RecipeError, match=r":3: tools\.0\.corpus: .* \(and 1 more problem; "
                                          r"`forethought recipe check` lists them\)$"):
        load_recipe(recipe_file)


def test_a_command_that_is_not_executable(recipe_file: Path) -> None:
    server = recipe_file.parent / "server.sh"
    server.write_text("#!/bin/sh\n")
    recipe_file.write_text("tools:\n  - name: mcp\n    command: ./server.sh\n")
    assert [str(p) for p in check_recipe(recipe_file)] == [
        f"{recipe_file}:3: tools.0.command: '{server}' is not an executable file"]
    server.chmod(server.stat().st_mode | stat.S_IXUSR)
    assert check_recipe(recipe_file) == []


def test_merge_keys_may_override_but_not_repeat(recipe_file: Path) -> None:
    recipe_file.write_text("x-base: &base {kind: llmcompiler, max_replans: 1}\n")
    assert "x-base: unknown field" in str(check_recipe(recipe_file)[0])
    recipe_file.write_text("planner:\n  <<: {kind: llmcompiler, max_replans: 1}\n"
                           "  max_replans: 3\n")
    assert load_recipe(recipe_file).planner_config().options() == {"max_replans": 3}


# -- the command line -------------------------------------------------------------------------

runner = CliRunner()


def test_recipe_check_prints_one_line_and_exits_2(recipe_file: Path) -> None:
    recipe_file.write_text("planner:\n  kind: search\n  strategy:\n    kind: beem\n")
    result = runner.invoke(app, ["recipe", "check", str(recipe_file)])
    assert result.exit_code == 2
    assert result.output == (f"{recipe_file}:4: planner.strategy.kind: unknown strategy "
                             f"'beem'; valid strategies: {VALID_STRATEGIES}\n")


def test_run_with_a_bad_recipe_prints_one_line_and_exits_2(recipe_file: Path) -> None:
    recipe_file.write_text("tools:\n  - name: python\n    memory_mb: 1e23\n"
                           "input: What is 2 + 2?\n")
    result = runner.invoke(app, ["run", str(recipe_file)])
    assert result.exit_code == 2
    assert result.output == (f"error: {recipe_file}:3: tools.0.memory_mb: Input should be a "
                             f"valid integer, got 1e+23\n")


def test_deep_nesting_in_a_real_process_is_one_line_not_a_traceback(recipe_file: Path) -> None:
    recipe_file.write_text("planner: " + "[" * 12_000 + "]" * 12_000 + "\n")
    for command in (["recipe", "check"], ["run"]):
        proc = subprocess.run([sys.executable, "-m", "forethought.cli", *command,
                               str(recipe_file)], capture_output=True, text=True, check=False,
                              timeout=60)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        assert out.strip().splitlines() == [
            ("error: " if command == ["run"] else "")
            + f"{recipe_file}:1: the recipe nests deeper than 64 levels"]


@pytest.mark.parametrize("shipped", sorted((ROOT / "recipes").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_recipe_passes_check(shipped: Path) -> None:
    result = runner.invoke(app, ["recipe", "check", str(shipped)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{shipped}: ok (")


def test_nothing_runs_before_the_recipe_is_checked(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    server = tmp_path / "server.sh"
    server.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 30\n")
    server.chmod(server.stat().st_mode | stat.S_IXUSR)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"tools:\n  - name: mcp\n    command: {server}\n"
                      "  - name: retrieve\n    corpus: not-here.jsonl\n"
                      "input: What is 2 + 2?\n")
    store = tmp_path / "runs.sqlite"
    result = runner.invoke(app, ["run", str(recipe), "--store", str(store)])
    assert result.exit_code == 2
    assert "tools.1.corpus: no such file or folder" in result.output
    assert not marker.exists() and not store.exists()  # no server started, no run recorded
    # A recipe that passes is checked without starting its servers either.
    recipe.write_text(f"tools:\n  - name: mcp\n    command: {server}\n")
    assert check_recipe(recipe) == []
    assert not marker.exists()
    assert os.access(server, os.X_OK)
