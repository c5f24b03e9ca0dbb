"""The ``verifier`` metric: code decides whether an answer is right, not a reference string.

Two deciders:

- a search task's exact verifier (``{kind: verifier, task: game24}``): the instance's question
  becomes that task and :meth:`~forethought.search.task.SearchTask.verify` checks the answer
  (a Game of 24 expression must use the four numbers once each and make 24);
- a registered tool (``{kind: verifier, tool: logic, arguments: {...}, compare: verdict}``):
  called with arguments filled from the instance's record and the answer. A tool that returns
  a bool or a number in ``[0, 1]`` is the score; with ``compare``, the answer must equal that
  field of the tool's result (both normalised), so a prover can decide what follows from a
  dataset's gold formulas.

Argument values are templates: ``"{answer}"`` is the answer, ``"{field}"`` alone is the
record's value as it is (a list stays a list), and any other string has each ``{field}``
replaced by its text.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

import pydantic

from forethought._options import Spec, split_spec
from forethought._threads import in_thread
from forethought.eval.builtin_metrics import stated
from forethought.eval.datasets import fill
from forethought.eval.metrics import Metric, Score, as_score
from forethought.exceptions import ModelRetry, ToolError, UserError
from forethought.search.answers import normalise_answer

if TYPE_CHECKING:
    from forethought.eval.datasets import Instance
    from forethought.search.machine import Action
    from forethought.search.task import SearchTask
    from forethought.tools.base import Tool



class VerifierOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    task: Spec | None = None
    """A search task kind with an exact verifier (``game24``), or ``{kind: ..., options}``."""
    tool: str | None = None
    """A registered tool that decides."""
    tool_options: dict[str, Any] = pydantic.Field(default_factory=dict[str, Any])
    """Options of a configurable tool."""
    arguments: dict[str, Any] = pydantic.Field(default_factory=dict[str, Any])
    """The tool's arguments, as templates over the record and ``{answer}``."""
    compare: str | None = None
    """The field of the tool's result the answer must equal."""

    @pydantic.model_validator(mode="after")
    def _one_decider(self) -> VerifierOptions:
        if (self.task is None) == (self.tool is None):
            raise ValueError("name exactly one decider: `task` (a search task with an exact "
                             "verifier, e.g. game24) or `tool` (a registered tool)")
        if self.task is not None and (self.arguments or self.compare or self.tool_options):
            raise ValueError("`arguments`, `compare` and `tool_options` go with `tool`")
        return self


def fill_arguments(arguments: Mapping[str, Any], record: Mapping[str, Any],
                   answer: str) -> dict[str, Any]:
    """The tool arguments for one instance (see the module docs)."""
    values = {**record, "answer": answer}
    out: dict[str, Any] = {}
    for name, template in arguments.items():
        if isinstance(template, str):
            field = template[1:-1] if template.startswith("{") and template.endswith("}") \
                and template.count("{") == 1 else None
            out[name] = values[field] if field is not None else fill(template, values)
        else:
            out[name] = template
    return out


class VerifierMetric(Metric):
    """Code decides: a search task's exact verifier or a registered tool (module docs)."""

    name: ClassVar[str] = "verifier"
    Options: ClassVar[type[pydantic.BaseModel]] = VerifierOptions
    needs_reference: ClassVar[bool] = False

    def __init__(self, *, task: Spec | None = None, tool: str | None = None,
                 tool_options: dict[str, Any] | None = None,
                 arguments: dict[str, Any] | None = None, compare: str | None = None) -> None:
        self.arguments = dict(arguments or {})
        self.compare = compare
        self._tool: Tool | None = None
        self._task: tuple[str, dict[str, Any]] | None = None
        if task is not None:
            from forethought.search.task import task_names, task_options

            kind, options = split_spec(task, "verifier task")
            if kind not in task_names():
                raise UserError(f"verifier: unknown search task {kind!r}; valid tasks: "
                                f"{', '.join(repr(n) for n in task_names())}")
            task_options(kind).model_validate(options)
            self._task = (kind, options)
        elif tool is not None:
            from forethought.tools.base import Tool, resolve_tool

            built = resolve_tool(tool, tool_options or None)
            if not isinstance(built, Tool):
                raise UserError(f"verifier: tool {tool!r} has a lifecycle (a toolset); a "
                                f"metric can only call a plain tool")
            self._tool = built

    async def score(self, answer: str, instance: Instance) -> Score:
        if self._task is not None:
            return await self._by_task(answer, instance)
        return await self._by_tool(answer, instance)

    async def _by_task(self, answer: str, instance: Instance) -> Score:
        from forethought.search.task import State, build_task

        assert self._task is not None
        kind, options = self._task
        try:
            task: SearchTask = build_task(kind, instance.question, options)
        except UserError as exc:
            return Score(correct=False, value=0.0, detail=f"not a {kind} instance: {exc}")
        if not task.has_verifier:
            raise UserError(f"verifier: search task {kind!r} has no exact verifier; choose a "
                            f"task that has one (game24) or a tool")
        state = State(final=True, answer=stated(answer))
        value = await _run_action(task.verify(state))
        return as_score(value, f"verifier ({kind})")

    async def _by_tool(self, answer: str, instance: Instance) -> Score:
        assert self._tool is not None
        try:
            args = fill_arguments(self.arguments, instance.record, answer)
        except KeyError as exc:
            return Score(correct=False, value=0.0, detail=f"the record has no field "
                         f"{exc.args[0]!r} for the tool's arguments")
        try:
            result = await self._tool.call(args)
        except (ToolError, ModelRetry) as exc:
            # The instance cannot be judged (say, a gold formula that does not parse): the
            # answer is not counted right, and the reason is kept with the result.
            return Score(correct=False, value=0.0,
                         detail=f"the verifier tool {self._tool.name!r} failed: {exc}")
        if self.compare is None:
            return as_score(result, f"verifier ({self._tool.name})")
        fields: Mapping[str, Any] = cast(Mapping[str, Any], result) \
            if isinstance(result, Mapping) else {}
        if self.compare not in fields:
            return Score(correct=False, value=0.0, detail=f"the tool's result has no field "
                         f"{self.compare!r}: {str(cast(object, result))[:200]}")
        decided = str(fields[self.compare])
        same = normalise_answer(stated(answer)) == normalise_answer(decided)
        return Score(correct=same, value=float(same), detail=f"{self._tool.name} says "
                     f"{decided!r}")


async def _run_action(action: Action) -> object:
    """Run a task's verify action: exact code (a ``Compute``) or a registered tool."""
    from forethought.search.machine import CallTool, Compute
    from forethought.tools.base import resolve_tool

    if isinstance(action, Compute):
        fn = action.fn
        if inspect.iscoroutinefunction(fn):
            return await fn()
        result = await in_thread(fn)
        return await result if inspect.isawaitable(result) else result
    if isinstance(action, CallTool):
        from forethought.tools.base import Tool

        tool = resolve_tool(action.tool)
        if not isinstance(tool, Tool):
            raise UserError(f"verifier: tool {action.tool!r} has a lifecycle (a toolset); a "
                            f"metric can only call a plain tool")
        return await tool.call(action.args)
    raise UserError(f"verifier: a task's verify() gave {action!r}, not exact code or a tool")
