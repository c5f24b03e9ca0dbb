"""forethought: agentic reasoning with tools.

Problems run as DAGs of subtasks, independent ones in parallel; planners build the DAG; tools
do exact work; every step is budgeted and recorded. This module is the public API: import
from here, not from the private modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from forethought._version import __version__

if TYPE_CHECKING:
    from forethought.agents.agent import Agent, AgentResult
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
    from forethought.planners.base import Planner, PlanOutcome, register_planner
    from forethought.planners.llmcompiler import LLMCompilerPlanner
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
    from forethought.tools.base import FunctionTool, Tool, ToolRegistry, tool

# Names are imported on first use (PEP 562), so `import forethought` and `forethought --help`
# stay fast; litellm in particular is only imported when a LiteLLM model makes a call.
_EXPORTS: dict[str, str] = {
    "Agent": "forethought.agents.agent",
    "AgentResult": "forethought.agents.agent",
    "Budget": "forethought.runtime.budget",
    "BudgetExceeded": "forethought.exceptions",
    "BudgetTracker": "forethought.runtime.budget",
    "CachedModel": "forethought.models.cache",
    "Choice": "forethought.models.messages",
    "DependencyFailedError": "forethought.exceptions",
    "Event": "forethought.runtime.events",
    "EventBus": "forethought.runtime.events",
    "Executor": "forethought.runtime.executor",
    "FailurePolicy": "forethought.runtime.executor",
    "ForethoughtError": "forethought.exceptions",
    "FunctionTool": "forethought.tools.base",
    "GraphResult": "forethought.runtime.executor",
    "GraphValidationError": "forethought.exceptions",
    "LLMCompilerPlanner": "forethought.planners.llmcompiler",
    "LiteLLMModel": "forethought.models.litellm_model",
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
    "PlanError": "forethought.exceptions",
    "PlanOutcome": "forethought.planners.base",
    "Planner": "forethought.planners.base",
    "Recipe": "forethought.recipes",
    "RecipeError": "forethought.exceptions",
    "Ref": "forethought.runtime.graph",
    "ResponseCache": "forethought.models.cache",
    "RunContext": "forethought.runtime.context",
    "RunError": "forethought.exceptions",
    "RunStore": "forethought.runtime.store",
    "ScriptedModel": "forethought.models.scripted",
    "SimulatedModel": "forethought.models.simulated",
    "SimulatedTask": "forethought.models.simulated",
    "Subtask": "forethought.runtime.graph",
    "TaskGraph": "forethought.runtime.graph",
    "Template": "forethought.runtime.graph",
    "Tool": "forethought.tools.base",
    "ToolArgumentError": "forethought.exceptions",
    "ToolCall": "forethought.models.messages",
    "ToolError": "forethought.exceptions",
    "ToolExecutionError": "forethought.exceptions",
    "ToolRegistry": "forethought.tools.base",
    "ToolSpec": "forethought.models.messages",
    "UnexpectedModelBehavior": "forethought.exceptions",
    "UnknownNameError": "forethought.exceptions",
    "Usage": "forethought.models.messages",
    "UserError": "forethought.exceptions",
    "build_agent": "forethought.recipes",
    "load_recipe": "forethought.recipes",
    "parse_recipe": "forethought.recipes",
    "register_planner": "forethought.planners.base",
    "resolve_model": "forethought.models.registry",
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
    "Agent",
    "AgentResult",
    "Budget",
    "BudgetExceeded",
    "BudgetTracker",
    "CachedModel",
    "Choice",
    "DependencyFailedError",
    "Event",
    "EventBus",
    "Executor",
    "FailurePolicy",
    "ForethoughtError",
    "FunctionTool",
    "GraphResult",
    "GraphValidationError",
    "LLMCompilerPlanner",
    "LiteLLMModel",
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
    "PlanError",
    "PlanOutcome",
    "Planner",
    "Recipe",
    "RecipeError",
    "Ref",
    "ResponseCache",
    "RunContext",
    "RunError",
    "RunStore",
    "ScriptedModel",
    "SimulatedModel",
    "SimulatedTask",
    "Subtask",
    "TaskGraph",
    "Template",
    "Tool",
    "ToolArgumentError",
    "ToolCall",
    "ToolError",
    "ToolExecutionError",
    "ToolRegistry",
    "ToolSpec",
    "UnexpectedModelBehavior",
    "UnknownNameError",
    "Usage",
    "UserError",
    "__version__",
    "build_agent",
    "load_recipe",
    "parse_recipe",
    "register_planner",
    "resolve_model",
    "tool",
]
