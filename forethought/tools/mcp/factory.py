"""The ``mcp`` tool factory: an MCP server's tools from recipe options.

Example recipe entries::

    tools:
      - name: mcp
        command: npx
        args: [-y, "@modelcontextprotocol/server-everything"]
        include: [echo, get-sum]
      - name: mcp
        url: http://127.0.0.1:8000/mcp
        headers: {Authorization: Bearer ...}
        prefix: remote_
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pydantic
from pydantic_core import PydanticCustomError

from forethought._options import Problem
from forethought.tools.base import ToolFactory
from forethought.tools.mcp.client import MCPToolset, local_name


class MCPOptions(pydantic.BaseModel):
    """Options of the ``mcp`` tool: either ``command`` (stdio) or ``url`` (streamable HTTP)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    command: str | None = pydantic.Field(
        default=None, min_length=1,
        description="Program that runs the server over stdio: a name looked up on PATH, or a "
                    "path (in a recipe, relative to `cwd` if given, else to the recipe's "
                    "folder)")
    args: list[str] = pydantic.Field(default_factory=list[str], max_length=1000)
    env: dict[str, str] | None = pydantic.Field(
        default=None, description="Extra environment variables for the server process")
    cwd: str | None = pydantic.Field(
        default=None, description="The server's working directory (in a recipe, relative to "
                                  "the recipe's folder)")
    url: str | None = pydantic.Field(
        default=None, pattern=r"^https?://", description="Streamable HTTP endpoint")
    headers: dict[str, str] | None = None
    label: str | None = pydantic.Field(default=None, description="The server's name in messages")
    prefix: str = ""
    include: list[str] | None = None
    exclude: list[str] = pydantic.Field(default_factory=list[str])
    startup_timeout_s: float = pydantic.Field(
        default=30.0, gt=0, le=600, description="Seconds the server may take to start, above "
                                                "0 and at most 600")
    call_timeout_s: float | None = pydantic.Field(
        default=60.0, gt=0, le=3600, description="Seconds one tool call may take, above 0 and "
                                                 "at most 3600 (null: no limit)")

    @pydantic.model_validator(mode="after")
    def _one_server(self) -> MCPOptions:
        if (self.command is None) == (self.url is None):
            raise PydanticCustomError("mcp_server", "give exactly one of `command` (a server "
                                      "run over stdio) or `url` (a streamable HTTP server)")
        if self.url is not None:
            stdio_only = [k for k in ("args", "env", "cwd") if k in self.model_fields_set]
            if stdio_only:
                raise PydanticCustomError(
                    "mcp_server", "options {names} apply only to a `command` server, not to a "
                    "`url` one", {"names": repr(stdio_only)})
        elif self.headers is not None:
            raise PydanticCustomError("mcp_server", "option 'headers' applies only to a `url` "
                                      "server, not to a `command` one")
        return self


class MCPFactory(ToolFactory):
    """Builds an :class:`MCPToolset`, started and stopped with the agent."""

    name = "mcp"
    Options = MCPOptions
    path_options = ("cwd",)

    def resolve_paths(self, options: dict[str, Any], base: Path) -> dict[str, Any]:
        out = super().resolve_paths(options, base)
        command = out.get("command")
        if isinstance(command, str) and ("/" in command or os.sep in command):
            # A path, not a name looked up on PATH: relative to the server's folder.
            cwd = out.get("cwd")
            path = Path(command).expanduser()
            out["command"] = str(path if path.is_absolute()
                                 else Path(cwd if isinstance(cwd, str) else base) / path)
        return out

    def tool_names(self, options: pydantic.BaseModel) -> list[str] | None:
        assert isinstance(options, MCPOptions)
        if options.include is None:
            return None  # whatever the server offers, known once it has started
        return [local_name(options.prefix + n) for n in options.include
                if n not in options.exclude]

    def check(self, options: pydantic.BaseModel) -> list[Problem]:
        assert isinstance(options, MCPOptions)
        problems: list[Problem] = []
        if options.cwd is not None and not Path(options.cwd).is_dir():
            problems.append(Problem(loc=("cwd",), message=f"no such folder: {options.cwd!r}"))
        if options.command is not None:
            message = command_problem(options.command, cwd=options.cwd,
                                      path=(options.env or {}).get("PATH"))
            if message is not None:
                problems.append(Problem(loc=("command",), message=message))
        return problems

    def build(self, options: pydantic.BaseModel) -> MCPToolset:
        assert isinstance(options, MCPOptions)
        common = {"name": options.label, "prefix": options.prefix, "include": options.include,
                  "exclude": options.exclude, "startup_timeout_s": options.startup_timeout_s,
                  "call_timeout_s": options.call_timeout_s}
        if options.command is not None:
            return MCPToolset.stdio(options.command, options.args, env=options.env,
                                    cwd=options.cwd, **common)
        assert options.url is not None
        return MCPToolset.http(options.url, headers=options.headers, **common)


def command_problem(command: str, *, cwd: str | None = None, path: str | None = None
                    ) -> str | None:
    """Why ``command`` cannot be started (not found on ``PATH``, no such file, not
    executable), or ``None`` when it can.
    """
    if "/" in command or os.sep in command:
        file = Path(command).expanduser()
        if not file.is_absolute():
            file = Path(cwd or os.getcwd()) / file
        if not file.exists():
            return f"no such program: {str(file)!r}"
        if file.is_dir() or not os.access(file, os.X_OK):
            return f"{str(file)!r} is not an executable file"
        return None
    if shutil.which(command, path=path) is None:
        return (f"program {command!r} is not found on PATH; install it, or give the path to "
                f"an executable")
    return None


mcp_factory = MCPFactory()
"""Registered as the ``mcp`` tool (entry point ``forethought.tools``)."""

__all__ = ["MCPFactory", "MCPOptions", "mcp_factory"]
