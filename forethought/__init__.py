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
    from forethought.agents.formalise import FormaliseSolve
    from forethought.agents.selection import SelectionAgent
    from forethought.agents.verification import ConstraintScorer, VerificationAgent
    from forethought.exceptions import (
        BudgetExceeded,
        DependencyFailedError,
        ForethoughtError,
        GraphValidationError,
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
    from forethought.planners.aot import AtomOfThoughtsPlanner
    from forethought.planners.base import Planner, PlanOutcome, register_planner
    from forethought.planners.llmcompiler import LLMCompilerPlanner
    from forethought.planners.plangen import PlanGENPlanner
    from forethought.planners.react import ReActPlanner
    from forethought.planners.search import SearchPlanner
    from forethought.recipes import Recipe, build_agent, load_recipe, parse_recipe
    from forethought.runtime.budget import Budget, BudgetTracker
    from forethought.runtime.context import Parsed, RunContext
    from forethought.runtime.events import Event, EventBus
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
    from forethought.search.mcts import MCTS
    from forethought.search.particle_filter import ParticleFilter
    from forethought.search.rebase import Rebase
    from forethought.search.refine import Refine
    from forethought.search.self_consistency import SelfConsistency
    from forethought.search.task import SearchTask
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

# Names are imported on first use (PEP 562), so `import forethought` and `forethought --help`
# stay fast; litellm in particular is only imported when a LiteLLM model makes a call.
_EXPORTS: dict[str, str] = {
    "Agent": "forethought.agents.agent",
    "AgentResult": "forethought.agents.agent",
    "AtomOfThoughtsPlanner": "forethought.planners.aot",
    "BeamSearch": "forethought.search.beam",
    "BestOfN": "forethought.search.best_of_n",
    "Budget": "forethought.runtime.budget",
    "BudgetExceeded": "forethought.exceptions",
    "BudgetTracker": "forethought.runtime.budget",
    "CachedModel": "forethought.models.cache",
    "Candidate": "forethought.search.base",
    "ChainTask": "forethought.search.chain",
    "Choice": "forethought.models.messages",
    "Constraint": "forethought.agents.constraints",
    "ConstraintAgent": "forethought.agents.constraint_agent",
    "ConstraintResult": "forethought.agents.constraints",
    "ConstraintScorer": "forethought.agents.verification",
    "ConstraintSet": "forethought.agents.constraints",
    "DependencyFailedError": "forethought.exceptions",
    "DockerSandbox": "forethought.sandbox.docker_backend",
    "EntailmentResult": "forethought.tools.logic.results",
    "Event": "forethought.runtime.events",
    "EventBus": "forethought.runtime.events",
    "ExecResult": "forethought.sandbox.base",
    "Executor": "forethought.runtime.executor",
    "FailurePolicy": "forethought.runtime.executor",
    "ForethoughtError": "forethought.exceptions",
    "FormaliseSolve": "forethought.agents.formalise",
    "FunctionTool": "forethought.tools.base",
    "Game24Task": "forethought.search.game24",
    "GraphResult": "forethought.runtime.executor",
    "GraphValidationError": "forethought.exceptions",
    "Hit": "forethought.tools.retrieval.index",
    "LLMCompilerPlanner": "forethought.planners.llmcompiler",
    "Limits": "forethought.sandbox.base",
    "LiteLLMModel": "forethought.models.litellm_model",
    "MCPToolset": "forethought.tools.mcp.client",
    "MCTS": "forethought.search.mcts",
    "Message": "forethought.models.messages",
    "Model": "forethought.models.base",
    "ModelError": "forethought.exceptions",
    "ModelHTTPError": "forethought.exceptions",
    "ModelRequest": "forethought.models.messages",
    "ModelResponse": "forethought.models.messages",
    "ModelRetry": "forethought.exceptions",
    "ModelSettings": "forethought.models.messages",
    "NodeResult": "forethought.runtime.executor",
    "NodeStatus": "forethought.runtime.executor",
    "NodeTimeoutError": "forethought.exceptions",
    "Parsed": "forethought.runtime.context",
    "ParticleFilter": "forethought.search.particle_filter",
    "Passage": "forethought.tools.retrieval.passages",
    "PlanError": "forethought.exceptions",
    "PlanGENPlanner": "forethought.planners.plangen",
    "PlanOutcome": "forethought.planners.base",
    "Planner": "forethought.planners.base",
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
    "RunContext": "forethought.runtime.context",
    "RunError": "forethought.exceptions",
    "RunStore": "forethought.runtime.store",
    "Sandbox": "forethought.sandbox.base",
    "SandboxError": "forethought.exceptions",
    "ScriptedModel": "forethought.models.scripted",
    "SearchPlanner": "forethought.planners.search",
    "SearchTask": "forethought.search.task",
    "SelectionAgent": "forethought.agents.selection",
    "SelfConsistency": "forethought.search.self_consistency",
    "SimulatedModel": "forethought.models.simulated",
    "SimulatedTask": "forethought.models.simulated",
    "SmtResult": "forethought.tools.smt",
    "Strategy": "forethought.search.base",
    "StrategyResult": "forethought.search.base",
    "Subtask": "forethought.runtime.graph",
    "TaskGraph": "forethought.runtime.graph",
    "Template": "forethought.runtime.graph",
    "Tool": "forethought.tools.base",
    "ToolArgumentError": "forethought.exceptions",
    "ToolCall": "forethought.models.messages",
    "ToolError": "forethought.exceptions",
    "ToolExecutionError": "forethought.exceptions",
    "ToolFactory": "forethought.tools.base",
    "ToolRegistry": "forethought.tools.base",
    "ToolSpec": "forethought.models.messages",
    "Toolset": "forethought.tools.base",
    "TreeOfThoughtsBFS": "forethought.search.tot",
    "TreeOfThoughtsDFS": "forethought.search.tot",
    "UnexpectedModelBehavior": "forethought.exceptions",
    "UnknownNameError": "forethought.exceptions",
    "Usage": "forethought.models.messages",
    "UserError": "forethought.exceptions",
    "Verdict": "forethought.agents.constraints",
    "VerificationAgent": "forethought.agents.verification",
    "acheck_entailment": "forethought.tools.logic.entailment",
    "asolve_smt": "forethought.tools.smt",
    "build_agent": "forethought.recipes",
    "check_constraints": "forethought.agents.constraints",
    "check_entailment": "forethought.tools.logic.entailment",
    "load_recipe": "forethought.recipes",
    "make_sandbox": "forethought.sandbox.factory",
    "parse_recipe": "forethought.recipes",
    "python_toolset": "forethought.tools.python_tool",
    "register_checker": "forethought.agents.checks",
    "register_planner": "forethought.planners.base",
    "register_strategy": "forethought.search.base",
    "resolve_model": "forethought.models.registry",
    "run_tests": "forethought.sandbox.verify",
    "solve_smt": "forethought.tools.smt",
    "tool": "forethought.tools.base",
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
    "Agent",
    "AgentResult",
    "AtomOfThoughtsPlanner",
    "BeamSearch",
    "BestOfN",
    "Budget",
    "BudgetExceeded",
    "BudgetTracker",
    "CachedModel",
    "Candidate",
    "ChainTask",
    "Choice",
    "Constraint",
    "ConstraintAgent",
    "ConstraintResult",
    "ConstraintScorer",
    "ConstraintSet",
    "DependencyFailedError",
    "DockerSandbox",
    "EntailmentResult",
    "Event",
    "EventBus",
    "ExecResult",
    "Executor",
    "FailurePolicy",
    "ForethoughtError",
    "FormaliseSolve",
    "FunctionTool",
    "Game24Task",
    "GraphResult",
    "GraphValidationError",
    "Hit",
    "LLMCompilerPlanner",
    "Limits",
    "LiteLLMModel",
    "MCPToolset",
    "Message",
    "Model",
    "ModelError",
    "ModelHTTPError",
    "ModelRequest",
    "ModelResponse",
    "ModelRetry",
    "ModelSettings",
    "NodeResult",
    "NodeStatus",
    "NodeTimeoutError",
    "Parsed",
    "ParticleFilter",
    "Passage",
    "PlanError",
    "PlanGENPlanner",
    "PlanOutcome",
    "Planner",
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
    "RunContext",
    "RunError",
    "RunStore",
    "Sandbox",
    "SandboxError",
    "ScriptedModel",
    "SearchPlanner",
    "SearchTask",
    "SelectionAgent",
    "SelfConsistency",
    "SimulatedModel",
    "SimulatedTask",
    "SmtResult",
    "Strategy",
    "StrategyResult",
    "Subtask",
    "TaskGraph",
    "Template",
    "Tool",
    "ToolArgumentError",
    "ToolCall",
    "ToolError",
    "ToolExecutionError",
    "ToolFactory",
    "ToolRegistry",
    "ToolSpec",
    "Toolset",
    "TreeOfThoughtsBFS",
    "TreeOfThoughtsDFS",
    "UnexpectedModelBehavior",
    "UnknownNameError",
    "Usage",
    "UserError",
    "Verdict",
    "VerificationAgent",
    "__version__",
    "acheck_entailment",
    "asolve_smt",
    "build_agent",
    "check_constraints",
    "check_entailment",
    "load_recipe",
    "make_sandbox",
    "parse_recipe",
    "python_toolset",
    "register_checker",
    "register_planner",
    "register_strategy",
    "resolve_model",
    "run_tests",
    "solve_smt",
    "tool",
]
