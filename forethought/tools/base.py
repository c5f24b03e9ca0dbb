"""Tools: typed callables with a JSON schema, validated arguments and a registry of names."""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import (
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    overload,
)

import pydantic

from forethought._options import Problem, validate_options
from forethought._threads import in_thread
from forethought.exceptions import (
    ToolArgumentError,
    ToolExecutionError,
    UnknownNameError,
    UserError,
)
from forethought.models.messages import ToolSpec
from forethought.runtime.context import DepsT, RunContext
from forethought.runtime.rendering import render_output

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class Tool(ABC, Generic[DepsT]):
    """A tool a model can call. Subclass it, or decorate a function with :func:`tool`.

    Generic in the deps type it needs from the run (``Any``: it needs none in particular).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""
    timeout_s: float | None = None
    """Seconds a call may take before it fails; ``None`` for no limit."""

    @abstractmethod
    async def call(self, args: dict[str, Any], ctx: RunContext[DepsT] | None = None) -> Any:
        """Run the tool. Raise :class:`ToolArgumentError` for arguments that fail the schema;
        any other exception is reported to the model as the tool's failure.
        """

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def __repr__(self) -> str:
        return f"<tool {self.name!r}>"


def _param_docs(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and the ``Args:`` descriptions."""
    summary: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    args_indent: int | None = None
    for raw in inspect.cleandoc(doc).splitlines():
        line = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if re.fullmatch(r"(Args|Arguments|Parameters):", line):
            section, current, args_indent = "args", None, None
        elif indent == 0 and re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            section = "other"
        elif section == "summary":
            summary.append(line)
        elif section == "args" and line:
            if args_indent is None:
                args_indent = indent
            m = re.match(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", line)
            if indent <= args_indent and m:
                current = str(m.group(1))
                params[current] = str(m.group(2))
            elif current is not None:
                params[current] = f"{params[current]} {line}".strip()
    return " ".join(s for s in summary if s).strip(), params


def _is_run_context(annotation: Any) -> bool:
    """``RunContext`` or ``RunContext[X]`` (matched by identity, not by name)."""
    return annotation is RunContext or get_origin(annotation) is RunContext


def _hints(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        return get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise UserError(f"tool {name!r}: the annotation {exc.name!r} cannot be resolved (with "
                        f"`from __future__ import annotations`, types must be defined at "
                        f"module level)") from None


class FunctionTool(Tool[DepsT]):
    """A tool made from a typed Python function (sync functions run in a worker thread).

    A first parameter annotated ``RunContext`` (or ``RunContext[Deps]``) receives the run's
    context and is left out of the schema; :attr:`deps_type` records ``Deps``.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 description: str | None = None, timeout_s: float | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not _NAME.match(self.name):
            raise UserError(f"invalid tool name {self.name!r}: use letters, digits, '_', '.', '-'")
        summary, param_docs = _param_docs(fn.__doc__ or "")
        self.description = description or summary or self.name
        self.timeout_s = timeout_s
        self._is_async = inspect.iscoroutinefunction(fn)
        hints = _hints(fn, self.name)
        fields: dict[str, Any] = {}
        self._ctx_param: str | None = None
        self.deps_type: Any = None
        """The deps type the context parameter declares (``Any`` for a bare ``RunContext``);
        ``None`` when the tool takes no context."""
        for i, (pname, param) in enumerate(inspect.signature(fn).parameters.items()):
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise UserError(f"tool {self.name!r}: *args/**kwargs cannot be described "
                                "to a model")
            annotation = hints.get(pname, Any)
            if _is_run_context(annotation):
                if i != 0:
                    raise UserError(f"tool {self.name!r}: the RunContext parameter {pname!r} "
                                    f"must be the first parameter")
                self._ctx_param = pname
                args = get_args(annotation)
                self.deps_type = args[0] if args else Any
                continue
            default = ... if param.default is param.empty else param.default
            doc = param_docs.get(pname)
            # Only a docstring description overrides one given in Annotated[..., Field(...)].
            fields[pname] = (annotation, pydantic.Field(default, description=doc) if doc
                             else pydantic.Field(default))
        self._args_model: type[pydantic.BaseModel] = pydantic.create_model(
            f"{self.name}_args", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
        schema = self._args_model.model_json_schema()
        schema.pop("title", None)
        for prop in cast(dict[str, dict[str, Any]], schema.get("properties", {})).values():
            prop.pop("title", None)
        self.parameters = schema

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Validate ``args`` against the signature; the error names each bad field."""
        try:
            model = self._args_model.model_validate(args)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']} "
                f"(got {err.get('input')!r})" for err in exc.errors())
            raise ToolArgumentError(f"invalid arguments for tool {self.name!r}: {problems}",
                                    tool=self.name) from None
        return {k: getattr(model, k) for k in type(model).model_fields}

    async def call(self, args: dict[str, Any], ctx: RunContext[DepsT] | None = None) -> Any:
        kwargs = self.validate(args)
        if self._ctx_param is not None:
            kwargs[self._ctx_param] = ctx
        if self._is_async:
            return await cast(Awaitable[Any], self.fn(**kwargs))
        return await in_thread(self.fn, **kwargs)


_P = ParamSpec("_P")
_D = TypeVar("_D")


class ToolDecorator:
    """What ``@tool(name=..., ...)`` returns: applied to a function, it makes the tool."""

    def __init__(self, *, name: str | None, description: str | None,
                 timeout_s: float | None) -> None:
        self._options: dict[str, Any] = {"name": name, "description": description,
                                         "timeout_s": timeout_s}

    @overload
    def __call__(self, fn: Callable[Concatenate[RunContext[_D], _P], Any], /
                 ) -> FunctionTool[_D]: ...
    @overload
    def __call__(self, fn: Callable[..., Any], /) -> FunctionTool[Any]: ...
    def __call__(self, fn: Callable[..., Any], /) -> FunctionTool[Any]:
        return FunctionTool(fn, **self._options)


@overload
def tool(fn: Callable[Concatenate[RunContext[_D], _P], Any], /) -> FunctionTool[_D]: ...
@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool[Any]: ...
@overload
def tool(*, name: str | None = None, description: str | None = None,
         timeout_s: float | None = None) -> ToolDecorator: ...
def tool(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         description: str | None = None, timeout_s: float | None = None,
         ) -> FunctionTool[Any] | ToolDecorator:
    """Turn a typed function (sync or async) into a :class:`Tool`.

    The JSON schema comes from the signature, the description from the docstring's summary and
    each argument's description from its ``Args:`` section. A first parameter annotated
    ``RunContext[Deps]`` receives the run's context (``ctx.deps`` typed as ``Deps``) and is
    hidden from the model; the tool is then a ``Tool[Deps]``, which type checkers only let
    into an ``Agent[Deps, ...]``.
    """
    decorator = ToolDecorator(name=name, description=description, timeout_s=timeout_s)
    return decorator(fn) if fn is not None else decorator


class Toolset(ABC):
    """Tools with a lifecycle: an MCP server to start, a sandbox pool to warm up.

    The agent calls :meth:`start` before a run (or once for ``async with agent:``), takes
    :meth:`tools`, and calls :meth:`stop` afterwards, also when the run failed.
    """

    name: str

    async def start(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Acquire resources (processes, containers, connections)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release everything :meth:`start` acquired; must be safe to call twice."""

    @abstractmethod
    def tools(self) -> list[Tool]:
        """The tools on offer (valid after :meth:`start`)."""

    def __repr__(self) -> str:
        return f"<toolset {self.name!r}>"


class ToolFactory(ABC):
    """A configurable tool.

    Recipes name it with options (``{name: retrieve, corpus: ...}``); :meth:`build` turns
    validated options into a :class:`Tool` or :class:`Toolset`.
    """

    name: str
    Options: type[pydantic.BaseModel]
    """Pydantic model of the options (``extra="forbid"``)."""
    path_options: tuple[str, ...] = ()
    """Options that are file or folder paths: a recipe resolves them against its own folder
    (given from code, they are relative to the working directory)."""

    @abstractmethod
    def build(self, options: pydantic.BaseModel) -> Tool | Toolset:
        """Make the tool from options already validated against :attr:`Options`."""

    def tool_names(self, options: pydantic.BaseModel) -> list[str] | None:
        """The names of the tools :meth:`build` makes from ``options``, or ``None`` when they
        are known only once it runs (an MCP server's tools). Default: the factory's name.
        """
        del options
        return [self.name]

    def check(self, options: pydantic.BaseModel) -> list[Problem]:
        """What ``options`` need from this machine and cannot find (a file, a program), each
        located at its option; checked by ``forethought recipe check`` and before a recipe
        runs, without building anything. Default: nothing to check.
        """
        del options
        return []

    def resolve_paths(self, options: dict[str, Any], base: Path) -> dict[str, Any]:
        """``options`` with each relative path in :attr:`path_options` made relative to
        ``base`` (a recipe's folder).
        """
        out = dict(options)
        for key in self.path_options:
            value = out.get(key)
            if isinstance(value, str) and value:
                path = Path(value).expanduser()
                out[key] = str(path if path.is_absolute() else base / path)
        return out

    def validate_options(self, options: dict[str, Any]) -> pydantic.BaseModel:
        """Validate recipe options; the error names each bad option and the valid ones."""
        return validate_options("tool", self.name, self.Options, options)

    def create(self, options: dict[str, Any] | None = None) -> Tool | Toolset:
        return self.build(self.validate_options(options or {}))


Registered = Tool | ToolFactory
_builtin_cache: dict[str, Registered] | None = None


def builtin_tools() -> dict[str, Registered]:
    """Tools and tool factories registered under the ``forethought.tools`` entry-point group
    (built-ins and plugins alike), loaded on first use.
    """
    global _builtin_cache
    if _builtin_cache is None:
        from importlib.metadata import entry_points

        found: dict[str, Registered] = {}
        for ep in entry_points(group="forethought.tools"):
            obj = ep.load()
            if not isinstance(obj, Tool | ToolFactory):
                raise UserError(f"entry point {ep.name!r} ({ep.value}) is not a forethought "
                                f"Tool or ToolFactory")
            found[ep.name] = obj
        _builtin_cache = found
    return _builtin_cache


def resolve_tool(name: str, options: dict[str, Any] | None = None) -> Tool | Toolset:
    """A registered tool by name, built with ``options`` if it is configurable."""
    registered = builtin_tools()
    if name not in registered:
        raise UnknownNameError("tool", name, registered)
    item = registered[name]
    if isinstance(item, ToolFactory):
        return item.create(options)
    if options:
        raise UserError(f"tool {name!r} takes no options, got {sorted(options)}")
    return item


class ToolRegistry:
    """Tools available to a run, by name."""

    def __init__(self, tools: Iterable[Tool | str] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, item: Tool | str) -> Tool:
        """Add a tool object, or a registered tool by name."""
        if isinstance(item, str):
            resolved = resolve_tool(item)
            if isinstance(resolved, Toolset):
                raise UserError(f"tool {item!r} has a lifecycle (a toolset); give it to the "
                                f"Agent, which starts and stops it")
            item = resolved
        if not isinstance(item, Tool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"{item!r} is not a Tool; decorate functions with @forethought.tool")
        if item.name in self._tools and self._tools[item.name] is not item:
            raise UserError(f"two different tools are named {item.name!r}")
        self._tools[item.name] = item
        return item

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownNameError("tool", name, self._tools) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec() for t in self._tools.values())


__all__ = ["FunctionTool", "Tool", "ToolExecutionError", "ToolFactory", "ToolRegistry",
           "Toolset", "builtin_tools", "render_output", "resolve_tool", "tool"]
