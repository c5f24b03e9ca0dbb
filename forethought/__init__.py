"""forethought: agentic reasoning with tools.

Problems run as DAGs of subtasks, independent ones in parallel; planners build the DAG; search
strategies spend inference-time compute where it pays; tools do exact work; every step is
budgeted and recorded. This module is the public API: import from here, not from the private
modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from forethought._version import __version__

if TYPE_CHECKING:
    from forethought.agents.agent import Agent, AgentResult
    from forethought.agents.checks import register_checker
    from forethought.agents.constraint_agent import ConstraintAgent
    from forethought.agents.constraints import (
        Constraint,
        ConstraintResult,
        ConstraintSet,
        Verdict,
        check_constraints,
    )
    from forethought.agents.conversation import Conversation, ConversationInfo
    from forethought.agents.formalise import FormaliseSolve
    from forethought.agents.history import HistoryPolicy
    from forethought.agents.output_checks import check_output, verify_output
    from forethought.agents.selection import SelectionAgent
    from forethought.agents.streaming import AgentRun, StreamedRun, SyncRun
    from forethought.agents.verification import ConstraintScorer, VerificationAgent
    from forethought.eval.api import EvalReport, aevaluate, evaluate
    from forethought.eval.metrics import Metric, Score, register_metric
    from forethought.exceptions import (
        BudgetExceeded,
        DependencyFailedError,
        ForethoughtError,
        GraphValidationError,
        MalformedResponseError,
        ModelError,
        ModelHTTPError,
        ModelRetry,
        NodeTimeoutError,
        PlanError,
        RecipeError,
        RunError,
        SandboxError,
        ToolArgumentError,
        ToolError,
        ToolExecutionError,
        UnexpectedModelBehavior,
        UnknownNameError,
        UserError,
    )
    from forethought.models.base import Model
    from forethought.models.cache import CachedModel, ResponseCache
    from forethought.models.concurrency import AdaptiveLimit, FixedLimit
    from forethought.models.hedging import HedgedModel
    from forethought.models.litellm_model import LiteLLMModel
    from forethought.models.messages import (
        Choice,
        Message,
        ModelRequest,
        ModelResponse,
        ModelSettings,
        ToolCall,
        ToolSpec,
        Usage,
    )
    from forethought.models.registry import resolve_model
    from forethought.models.scripted import ScriptedModel
    from forethought.models.simulated import SimulatedModel, SimulatedTask
    from forethought.planners.answer_stream import (
        AnswerLineStream,
        AnswerStream,
        FinishActionStream,
    )
    from forethought.planners.aot import AtomOfThoughtsPlanner
    from forethought.planners.base import Planner, PlanOutcome, register_planner
    from forethought.planners.llmcompiler import LLMCompilerPlanner
    from forethought.planners.plangen import PlanGENPlanner
    from forethought.planners.react import ReActPlanner
    from forethought.planners.search import SearchPlanner
    from forethought.recipes import Recipe, build_agent, check_recipe, load_recipe, parse_recipe
    from forethought.runtime.budget import Budget, BudgetTracker
    from forethought.runtime.context import Parsed, RunContext
    from forethought.runtime.events import (
        BudgetExhausted,
        Event,
        EventBus,
        ModelCallFinished,
        ModelCallStarted,
        ModelTextDelta,
        NodeAdded,
        NodeFailed,
        NodeFinished,
        NodeSkipped,
        NodeStarted,
        PlannerEvent,
        RunFinished,
        RunStarted,
        StrategyStep,
        Subscriber,
        ToolCallFinished,
        ToolCallStarted,
    )
    from forethought.runtime.executor import (
        Executor,
        FailurePolicy,
        GraphResult,
        NodeResult,
        NodeStatus,
    )
    from forethought.runtime.graph import Ref, Subtask, TaskGraph, Template
    from forethought.runtime.store import RunStore
    from forethought.sandbox.base import ExecResult, Limits, Sandbox
    from forethought.sandbox.bwrap import BwrapSandbox
    from forethought.sandbox.docker_backend import DockerSandbox
    from forethought.sandbox.factory import make_sandbox
    from forethought.sandbox.pool import PoolConfig
    from forethought.sandbox.process import ProcessSandbox
    from forethought.sandbox.verify import run_tests
    from forethought.search.base import Candidate, Strategy, StrategyResult, register_strategy
    from forethought.search.beam import BeamSearch
    from forethought.search.best_of_n import BestOfN
    from forethought.search.chain import ChainTask
    from forethought.search.game24 import Game24Task
    from forethought.search.machine import (
        Action,
        CallTool,
        Compute,
        Outcome,
        Sample,
        StepMachine,
    )
    from forethought.search.mcts import MCTS
    from forethought.search.particle_filter import ParticleFilter
    from forethought.search.rebase import Rebase
    from forethought.search.refine import Refine
    from forethought.search.scorers import (
        JudgeScorer,
        OutcomeScorer,
        RewardScorer,
        Scorer,
        ScorerOptions,
        Staged,
        ToolScorer,
        ValueScorer,
        Verification,
        Verifier,
        VerifierScorer,
        register_scorer,
    )
    from forethought.search.self_consistency import SelfConsistency
    from forethought.search.task import SearchTask, State, register_task
    from forethought.search.tot import TreeOfThoughtsBFS, TreeOfThoughtsDFS
    from forethought.tools.base import FunctionTool, Tool, ToolFactory, ToolRegistry, Toolset, tool
    from forethought.tools.logic.entailment import acheck_entailment, check_entailment
    from forethought.tools.logic.results import EntailmentResult
    from forethought.tools.mcp.client import MCPToolset
    from forethought.tools.python_tool import python_toolset
    from forethought.tools.retrieval.index import Hit, RetrievalIndex
    from forethought.tools.retrieval.passages import Passage
    from forethought.tools.retrieval.retriever import Retriever
    from forethought.tools.smt import SmtResult, asolve_smt, solve_smt
    from forethought.trace import OTelExporter

# Names are imported on first use (PEP 562), so `import forethought` and `forethought --help`
# stay fast; litellm in particular is only imported when a LiteLLM model makes a call.
_EXPORTS: dict[str, str] = {
    "OTelExporter": "forethought.trace",
    "check_recipe": "forethought.recipes",
    "MalformedResponseError": "forethought.exceptions",
    "FixedLimit": "forethought.models.concurrency",
    "AdaptiveLimit": "forethought.models.concurrency",
    "HedgedModel": "forethought.models.hedging",
    "Score": "forethought.eval.metrics",
    "Metric": "forethought.eval.metrics",
    "register_metric": "forethought.eval.metrics",
    "EvalReport": "forethought.eval.api",
    "aevaluate": "forethought.eval.api",
    "evaluate": "forethought.eval.api",
    "BwrapSandbox": "forethought.sandbox.bwrap",
    "Agent": "forethought.agents.agent",
    "AgentResult": "forethought.agents.agent",
    "AgentRun": "forethought.agents.streaming",
    "AnswerLineStream": "forethought.planners.answer_stream",
    "AnswerStream": "forethought.planners.answer_stream",
    "AtomOfThoughtsPlanner": "forethought.planners.aot",
    "BeamSearch": "forethought.search.beam",
    "BestOfN": "forethought.search.best_of_n",
    "Budget": "forethought.runtime.budget",
    "BudgetExceeded": "forethought.exceptions",
    "BudgetExhausted": "forethought.runtime.events",
    "BudgetTracker": "forethought.runtime.budget",
    "CachedModel": "forethought.models.cache",
    "Action": "forethought.search.machine",
    "CallTool": "forethought.search.machine",
    "Candidate": "forethought.search.base",
    "ChainTask": "forethought.search.chain",
    "Choice": "forethought.models.messages",
    "Compute": "forethought.search.machine",
    "Constraint": "forethought.agents.constraints",
    "ConstraintAgent": "forethought.agents.constraint_agent",
    "ConstraintResult": "forethought.agents.constraints",
    "ConstraintScorer": "forethought.agents.verification",
    "ConstraintSet": "forethought.agents.constraints",
    "Conversation": "forethought.agents.conversation",
    "ConversationInfo": "forethought.agents.conversation",
    "DependencyFailedError": "forethought.exceptions",
    "DockerSandbox": "forethought.sandbox.docker_backend",
    "EntailmentResult": "forethought.tools.logic.results",
    "Event": "forethought.runtime.events",
    "EventBus": "forethought.runtime.events",
    "ExecResult": "forethought.sandbox.base",
    "Executor": "forethought.runtime.executor",
    "FailurePolicy": "forethought.runtime.executor",
    "FinishActionStream": "forethought.planners.answer_stream",
    "ForethoughtError": "forethought.exceptions",
    "FormaliseSolve": "forethought.agents.formalise",
    "FunctionTool": "forethought.tools.base",
    "Game24Task": "forethought.search.game24",
    "GraphResult": "forethought.runtime.executor",
    "GraphValidationError": "forethought.exceptions",
    "HistoryPolicy": "forethought.agents.history",
    "Hit": "forethought.tools.retrieval.index",
    "JudgeScorer": "forethought.search.scorers",
    "LLMCompilerPlanner": "forethought.planners.llmcompiler",
    "Limits": "forethought.sandbox.base",
    "LiteLLMModel": "forethought.models.litellm_model",
    "MCPToolset": "forethought.tools.mcp.client",
    "MCTS": "forethought.search.mcts",
    "Message": "forethought.models.messages",
    "Model": "forethought.models.base",
    "ModelCallFinished": "forethought.runtime.events",
    "ModelCallStarted": "forethought.runtime.events",
    "ModelError": "forethought.exceptions",
    "ModelHTTPError": "forethought.exceptions",
    "ModelRequest": "forethought.models.messages",
    "ModelResponse": "forethought.models.messages",
    "ModelRetry": "forethought.exceptions",
    "ModelSettings": "forethought.models.messages",
    "ModelTextDelta": "forethought.runtime.events",
    "NodeAdded": "forethought.runtime.events",
    "NodeFailed": "forethought.runtime.events",
    "NodeFinished": "forethought.runtime.events",
    "NodeResult": "forethought.runtime.executor",
    "NodeSkipped": "forethought.runtime.events",
    "NodeStarted": "forethought.runtime.events",
    "NodeStatus": "forethought.runtime.executor",
    "NodeTimeoutError": "forethought.exceptions",
    "Outcome": "forethought.search.machine",
    "OutcomeScorer": "forethought.search.scorers",
    "Parsed": "forethought.runtime.context",
    "ParticleFilter": "forethought.search.particle_filter",
    "Passage": "forethought.tools.retrieval.passages",
    "PlanError": "forethought.exceptions",
    "PlanGENPlanner": "forethought.planners.plangen",
    "PlanOutcome": "forethought.planners.base",
    "Planner": "forethought.planners.base",
    "PlannerEvent": "forethought.runtime.events",
    "PoolConfig": "forethought.sandbox.pool",
    "ProcessSandbox": "forethought.sandbox.process",
    "ReActPlanner": "forethought.planners.react",
    "Rebase": "forethought.search.rebase",
    "Recipe": "forethought.recipes",
    "RecipeError": "forethought.exceptions",
    "Ref": "forethought.runtime.graph",
    "Refine": "forethought.search.refine",
    "ResponseCache": "forethought.models.cache",
    "RetrievalIndex": "forethought.tools.retrieval.index",
    "Retriever": "forethought.tools.retrieval.retriever",
    "RewardScorer": "forethought.search.scorers",
    "RunContext": "forethought.runtime.context",
    "RunError": "forethought.exceptions",
    "RunFinished": "forethought.runtime.events",
    "RunStarted": "forethought.runtime.events",
    "RunStore": "forethought.runtime.store",
    "Sample": "forethought.search.machine",
    "Sandbox": "forethought.sandbox.base",
    "SandboxError": "forethought.exceptions",
    "Scorer": "forethought.search.scorers",
    "ScorerOptions": "forethought.search.scorers",
    "ScriptedModel": "forethought.models.scripted",
    "SearchPlanner": "forethought.planners.search",
    "SearchTask": "forethought.search.task",
    "SelectionAgent": "forethought.agents.selection",
    "SelfConsistency": "forethought.search.self_consistency",
    "SimulatedModel": "forethought.models.simulated",
    "SimulatedTask": "forethought.models.simulated",
    "SmtResult": "forethought.tools.smt",
    "Staged": "forethought.search.scorers",
    "State": "forethought.search.task",
    "StepMachine": "forethought.search.machine",
    "Strategy": "forethought.search.base",
    "StrategyResult": "forethought.search.base",
    "StrategyStep": "forethought.runtime.events",
    "StreamedRun": "forethought.agents.streaming",
    "Subscriber": "forethought.runtime.events",
    "Subtask": "forethought.runtime.graph",
    "SyncRun": "forethought.agents.streaming",
    "TaskGraph": "forethought.runtime.graph",
    "Template": "forethought.runtime.graph",
    "Tool": "forethought.tools.base",
    "ToolArgumentError": "forethought.exceptions",
    "ToolCall": "forethought.models.messages",
    "ToolCallFinished": "forethought.runtime.events",
    "ToolCallStarted": "forethought.runtime.events",
    "ToolError": "forethought.exceptions",
    "ToolExecutionError": "forethought.exceptions",
    "ToolFactory": "forethought.tools.base",
    "ToolRegistry": "forethought.tools.base",
    "ToolScorer": "forethought.search.scorers",
    "ToolSpec": "forethought.models.messages",
    "Toolset": "forethought.tools.base",
    "TreeOfThoughtsBFS": "forethought.search.tot",
    "TreeOfThoughtsDFS": "forethought.search.tot",
    "UnexpectedModelBehavior": "forethought.exceptions",
    "UnknownNameError": "forethought.exceptions",
    "Usage": "forethought.models.messages",
    "UserError": "forethought.exceptions",
    "ValueScorer": "forethought.search.scorers",
    "Verdict": "forethought.agents.constraints",
    "Verification": "forethought.search.scorers",
    "VerificationAgent": "forethought.agents.verification",
    "Verifier": "forethought.search.scorers",
    "VerifierScorer": "forethought.search.scorers",
    "acheck_entailment": "forethought.tools.logic.entailment",
    "asolve_smt": "forethought.tools.smt",
    "build_agent": "forethought.recipes",
    "check_constraints": "forethought.agents.constraints",
    "check_entailment": "forethought.tools.logic.entailment",
    "check_output": "forethought.agents.output_checks",
    "load_recipe": "forethought.recipes",
    "make_sandbox": "forethought.sandbox.factory",
    "parse_recipe": "forethought.recipes",
    "python_toolset": "forethought.tools.python_tool",
    "register_checker": "forethought.agents.checks",
    "register_planner": "forethought.planners.base",
    "register_scorer": "forethought.search.scorers",
    "register_strategy": "forethought.search.base",
    "register_task": "forethought.search.task",
    "resolve_model": "forethought.models.registry",
    "run_tests": "forethought.sandbox.verify",
    "solve_smt": "forethought.tools.smt",
    "tool": "forethought.tools.base",
    "verify_output": "forethought.agents.output_checks",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'forethought' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "MCTS",
    "Action",
    "AdaptiveLimit",
    "Agent",
    "AgentResult",
    "AgentRun",
    "AnswerLineStream",
    "AnswerStream",
    "AtomOfThoughtsPlanner",
    "BeamSearch",
    "BestOfN",
    "Budget",
    "BudgetExceeded",
    "BudgetExhausted",
    "BudgetTracker",
    "BwrapSandbox",
    "CachedModel",
    "CallTool",
    "Candidate",
    "ChainTask",
    "Choice",
    "Compute",
    "Constraint",
    "ConstraintAgent",
    "ConstraintResult",
    "ConstraintScorer",
    "ConstraintSet",
    "Conversation",
    "ConversationInfo",
    "DependencyFailedError",
    "DockerSandbox",
    "EntailmentResult",
    "EvalReport",
    "Event",
    "EventBus",
    "ExecResult",
    "Executor",
    "FailurePolicy",
    "FinishActionStream",
    "FixedLimit",
    "ForethoughtError",
    "FormaliseSolve",
    "FunctionTool",
    "Game24Task",
    "GraphResult",
    "GraphValidationError",
    "HedgedModel",
    "HistoryPolicy",
    "Hit",
    "JudgeScorer",
    "LLMCompilerPlanner",
    "Limits",
    "LiteLLMModel",
    "MCPToolset",
    "MalformedResponseError",
    "Message",
    "Metric",
    "Model",
    "ModelCallFinished",
    "ModelCallStarted",
    "ModelError",
    "ModelHTTPError",
    "ModelRequest",
    "ModelResponse",
    "ModelRetry",
    "ModelSettings",
    "ModelTextDelta",
    "NodeAdded",
    "NodeFailed",
    "NodeFinished",
    "NodeResult",
    "NodeSkipped",
    "NodeStarted",
    "NodeStatus",
    "NodeTimeoutError",
    "OTelExporter",
    "Outcome",
    "OutcomeScorer",
    "Parsed",
    "ParticleFilter",
    "Passage",
    "PlanError",
    "PlanGENPlanner",
    "PlanOutcome",
    "Planner",
    "PlannerEvent",
    "PoolConfig",
    "ProcessSandbox",
    "ReActPlanner",
    "Rebase",
    "Recipe",
    "RecipeError",
    "Ref",
    "Refine",
    "ResponseCache",
    "RetrievalIndex",
    "Retriever",
    "RewardScorer",
    "RunContext",
    "RunError",
    "RunFinished",
    "RunStarted",
    "RunStore",
    "Sample",
    "Sandbox",
    "SandboxError",
    "Score",
    "Scorer",
    "ScorerOptions",
    "ScriptedModel",
    "SearchPlanner",
    "SearchTask",
    "SelectionAgent",
    "SelfConsistency",
    "SimulatedModel",
    "SimulatedTask",
    "SmtResult",
    "Staged",
    "State",
    "StepMachine",
    "Strategy",
    "StrategyResult",
    "StrategyStep",
    "StreamedRun",
    "Subscriber",
    "Subtask",
    "SyncRun",
    "TaskGraph",
    "Template",
    "Tool",
    "ToolArgumentError",
    "ToolCall",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolError",
    "ToolExecutionError",
    "ToolFactory",
    "ToolRegistry",
    "ToolScorer",
    "ToolSpec",
    "Toolset",
    "TreeOfThoughtsBFS",
    "TreeOfThoughtsDFS",
    "UnexpectedModelBehavior",
    "UnknownNameError",
    "Usage",
    "UserError",
    "ValueScorer",
    "Verdict",
    "Verification",
    "VerificationAgent",
    "Verifier",
    "VerifierScorer",
    "__version__",
    "acheck_entailment",
    "aevaluate",
    "asolve_smt",
    "build_agent",
    "check_constraints",
    "check_entailment",
    "check_output",
    "check_recipe",
    "evaluate",
    "load_recipe",
    "make_sandbox",
    "parse_recipe",
    "python_toolset",
    "register_checker",
    "register_metric",
    "register_planner",
    "register_scorer",
    "register_strategy",
    "register_task",
    "resolve_model",
    "run_tests",
    "solve_smt",
    "tool",
    "verify_output",
]
