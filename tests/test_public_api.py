"""The public surface is curated: pin it, and keep imports light."""

from __future__ import annotations

import subprocess
import sys

import forethought

EXPECTED = {
    "OTelExporter",
    "check_recipe",
    "MalformedResponseError",
    "FixedLimit",
    "AdaptiveLimit",
    "HedgedModel",
    "Score",
    "Metric",
    "register_metric",
    "EvalReport",
    "aevaluate",
    "evaluate",
    "Agent", "AgentResult", "AtomOfThoughtsPlanner", "BeamSearch", "BestOfN", "Budget",
    "BudgetExceeded", "BudgetTracker", "BwrapSandbox", "CachedModel", "Candidate", "ChainTask",
    "Choice",
    "DependencyFailedError", "DockerSandbox", "EntailmentResult", "Event", "EventBus",
    "ExecResult", "Executor", "FailurePolicy", "ForethoughtError", "FunctionTool", "Game24Task",
    "GraphResult", "GraphValidationError", "Hit", "LLMCompilerPlanner", "Limits",
    "LiteLLMModel", "MCPToolset", "MCTS", "Message", "Model", "ModelError", "ModelHTTPError",
    "ModelRequest", "ModelResponse", "ModelRetry", "ModelSettings", "NodeResult", "NodeStatus",
    "NodeTimeoutError", "Parsed", "ParticleFilter", "Passage", "PlanError", "PlanOutcome",
    "Planner", "PoolConfig", "ProcessSandbox", "ReActPlanner", "Rebase", "Recipe",
    "RecipeError", "Ref", "ResponseCache", "RetrievalIndex", "Retriever", "RunContext",
    "RunError", "RunStore", "Sandbox", "SandboxError", "ScriptedModel", "SearchPlanner",
    "SearchTask", "SelfConsistency", "SimulatedModel", "SimulatedTask", "SmtResult", "Strategy",
    "StrategyResult", "Subtask", "TaskGraph", "Template", "Tool", "ToolArgumentError",
    "ToolCall", "ToolError", "ToolExecutionError", "ToolFactory", "ToolRegistry", "ToolSpec",
    "Toolset", "TreeOfThoughtsBFS", "TreeOfThoughtsDFS", "UnexpectedModelBehavior",
    "UnknownNameError", "Usage", "UserError", "__version__", "acheck_entailment", "asolve_smt",
    "build_agent", "check_entailment", "load_recipe", "make_sandbox", "parse_recipe",
    "python_toolset", "register_planner", "register_strategy", "resolve_model", "run_tests",
    "solve_smt", "tool",
    # PlanGEN: the agents, constraints as data, the planner, the verification scorer
    "Constraint", "ConstraintAgent", "ConstraintResult", "ConstraintScorer", "ConstraintSet",
    "FormaliseSolve", "PlanGENPlanner", "Refine", "SelectionAgent", "Verdict",
    "VerificationAgent", "check_constraints", "register_checker",
    # The SDK surface of issue 15: typed outputs, conversations, streaming, extension points.
    "AgentRun", "StreamedRun", "SyncRun", "Conversation", "ConversationInfo", "HistoryPolicy",
    "check_output", "verify_output", "AnswerStream", "AnswerLineStream", "FinishActionStream",
    "RunStarted", "RunFinished", "NodeAdded", "NodeStarted", "NodeFinished", "NodeFailed",
    "NodeSkipped", "ModelCallStarted", "ModelCallFinished", "ModelTextDelta",
    "ToolCallStarted", "ToolCallFinished", "BudgetExhausted", "PlannerEvent", "StrategyStep",
    "Subscriber", "register_task", "State", "Action", "Compute", "Sample", "CallTool", "Outcome",
    "StepMachine", "Scorer", "ScorerOptions", "Verifier", "Verification", "JudgeScorer",
    "OutcomeScorer", "RewardScorer", "ValueScorer", "VerifierScorer", "ToolScorer", "Staged",
    "register_scorer",
}


def test_all_is_pinned() -> None:
    assert set(forethought.__all__) == EXPECTED
    assert len(set(forethought.__all__)) == len(forethought.__all__)  # ruff keeps it sorted
    for name in forethought.__all__:
        assert hasattr(forethought, name), name


def test_extension_points_have_docstrings() -> None:
    for name in ("register_task", "register_planner", "register_strategy", "register_scorer",
                 "Compute", "Verifier", "Scorer", "Planner", "Strategy", "SearchTask",
                 "Agent", "AgentRun", "StreamedRun", "Conversation", "HistoryPolicy",
                 "check_output", "verify_output", "AnswerStream"):
        doc = getattr(forethought, name).__doc__
        assert doc and len(doc.strip()) > 20, name


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
