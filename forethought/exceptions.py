"""Every error forethought raises, in one rooted tree.

Misuse (fix your code or config), run failures (something went wrong while running) and
control-flow signals (not errors at all) are kept apart so callers can catch exactly what
they mean to handle::

    ForethoughtError
    ├── UserError                    misuse: bad arguments, config or names
    │   ├── UnknownNameError         a registry lookup failed; lists the valid names
    │   ├── RecipeError              a recipe file is invalid; names file, line and field
    │   └── GraphValidationError     cycle, dangling reference, unknown tool; names the node
    └── RunError                     a run could not complete as asked
        ├── ModelError               the provider failed (after retries)
        │   ├── ModelHTTPError       with the HTTP status code
        │   └── MalformedResponseError  a reply that is not what the API promises (after retries)
        ├── UnexpectedModelBehavior  the model's output was unusable (after a repair turn)
        ├── ToolError                a tool call failed
        │   ├── ToolArgumentError    the model passed arguments that fail the tool's schema
        │   └── ToolExecutionError   the tool itself raised
        ├── NodeTimeoutError         a task-graph node ran past its timeout
        ├── DependencyFailedError    a node was skipped because an input failed
        ├── PlanError                a plan could not be parsed or validated
        ├── SandboxError             the sandbox itself failed (no daemon, no image, a worker
        │                            that stopped answering); never the sandboxed code's error
        └── BudgetExceeded           the run's budget is spent

    ModelRetry                       signal: a tool asks the model to try again
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forethought.models.messages import ModelResponse

__all__ = [
    "BudgetExceeded",
    "DependencyFailedError",
    "ForethoughtError",
    "GraphValidationError",
    "MalformedResponseError",
    "ModelError",
    "ModelHTTPError",
    "ModelRetry",
    "NodeTimeoutError",
    "PlanError",
    "RecipeError",
    "RunError",
    "SandboxError",
    "ToolArgumentError",
    "ToolError",
    "ToolExecutionError",
    "UnexpectedModelBehavior",
    "UnknownNameError",
    "UserError",
]


class ForethoughtError(Exception):
    """Base class of every error raised by forethought."""


class UserError(ForethoughtError):
    """The caller misused the API or wrote an invalid configuration."""


class UnknownNameError(UserError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        choices = ", ".join(repr(v) for v in self.valid) or "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; valid {_plural(kind)}: {choices}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


class RecipeError(UserError):
    """A recipe file failed validation; the message names the file, line and field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        """The problem alone, without file, line and field."""
        self.path = path
        self.line = line
        self.field = field
        where = path or "<recipe>"
        if line is not None:
            where += f":{line}"
        prefix = f"{where}: " + (f"{field}: " if field else "")
        super().__init__(prefix + message)


class GraphValidationError(UserError):
    """A task graph is malformed; ``node_id`` names the offending node."""

    def __init__(self, message: str, *, node_id: str | None = None) -> None:
        self.node_id = node_id
        super().__init__(message)


class RunError(ForethoughtError):
    """A run could not complete as asked."""


class ModelError(RunError):
    """A model provider failed, after any retries.

    ``partial`` holds what arrived before the failure (a stream cut short: its text so far and
    the tokens it used), so that nothing received is lost and the budget counts it.
    """

    partial: ModelResponse | None = None


class ModelHTTPError(ModelError):
    """A model provider answered with an HTTP error status."""

    def __init__(self, message: str, *, status_code: int, model: str) -> None:
        self.status_code = status_code
        self.model = model
        super().__init__(f"{model}: HTTP {status_code}: {message}")


class MalformedResponseError(ModelError):
    """The provider answered with success but a body that is not a valid reply (invalid JSON,
    missing fields); retried a bounded number of times before this is raised.
    """

    def __init__(self, message: str, *, model: str) -> None:
        self.model = model
        super().__init__(f"{model}: malformed response: {message}")


class UnexpectedModelBehavior(RunError):  # noqa: N818 - pydantic-ai's familiar name
    """The model's reply could not be used (e.g. invalid JSON even after a repair turn)."""

    def __init__(self, message: str, *, body: str | None = None) -> None:
        self.body = body
        super().__init__(message)


class ToolError(RunError):
    """A tool call failed."""

    def __init__(self, message: str, *, tool: str) -> None:
        self.tool = tool
        super().__init__(message)


class ToolArgumentError(ToolError):
    """The arguments given to a tool do not match its schema (sent back to the model)."""


class ToolExecutionError(ToolError):
    """The tool raised while running."""


class NodeTimeoutError(RunError):
    """A task-graph node ran longer than its timeout."""


class DependencyFailedError(RunError):
    """A node did not run because one of its inputs failed or was skipped."""


class PlanError(RunError):
    """A plan written by a model could not be parsed or validated."""


class SandboxError(RunError):
    """A sandbox could not run code: no Docker daemon or image, a worker that would not start
    or stopped answering. What the sandboxed code itself did is an ``ExecResult``, not this.
    """


class BudgetExceeded(RunError):  # noqa: N818 - the name users search for
    """The run's budget is spent; ``reason`` says which limit was hit."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"budget exceeded: {reason}")


class ModelRetry(Exception):  # noqa: N818 - a signal, not an error, so no "Error" suffix
    """Raised by a tool to send ``message`` back to the model and let it try again."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
