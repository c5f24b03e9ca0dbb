"""The public surface is curated: pin it, and keep imports light."""

from __future__ import annotations

import subprocess
import sys

import forethought

EXPECTED = {
    "Agent", "AgentResult", "Budget", "BudgetExceeded", "BudgetTracker", "CachedModel",
    "Choice", "DependencyFailedError", "Event", "EventBus", "Executor", "FailurePolicy",
    "ForethoughtError", "FunctionTool", "GraphResult", "GraphValidationError",
    "LLMCompilerPlanner", "LiteLLMModel", "Message", "Model", "ModelError", "ModelHTTPError",
    "ModelRequest", "ModelResponse", "ModelRetry", "ModelSettings", "NodeResult", "NodeStatus",
    "NodeTimeoutError", "Parsed", "PlanError", "PlanOutcome", "Planner", "Recipe",
    "RecipeError", "Ref", "ResponseCache", "RunContext", "RunError", "RunStore",
    "ScriptedModel", "SimulatedModel", "SimulatedTask", "Subtask", "TaskGraph", "Template",
    "Tool", "ToolArgumentError", "ToolCall", "ToolError", "ToolExecutionError", "ToolRegistry",
    "ToolSpec", "UnexpectedModelBehavior", "UnknownNameError", "Usage", "UserError",
    "__version__", "build_agent", "load_recipe", "parse_recipe", "register_planner",
    "resolve_model", "tool",
}


def test_all_is_pinned() -> None:
    assert set(forethought.__all__) == EXPECTED
    assert sorted(forethought.__all__) == forethought.__all__
    for name in forethought.__all__:
        assert hasattr(forethought, name), name


def test_exceptions_form_one_tree() -> None:
    for name in forethought.__all__:
        obj = getattr(forethought, name)
        is_error = isinstance(obj, type) and issubclass(obj, Exception)
        if is_error and obj is not forethought.ModelRetry:
            assert issubclass(obj, forethought.ForethoughtError), name


def _modules_after(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_and_help_do_not_import_litellm_or_networkx() -> None:
    out = _modules_after("import sys, forethought; "
                         "print('litellm' in sys.modules, 'networkx' in sys.modules)")
    assert out == "False False"
    out = _modules_after(
        "import sys\nfrom typer.testing import CliRunner\nfrom forethought.cli import app\n"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output\n"
        "print('litellm' in sys.modules)")
    assert out == "False"
