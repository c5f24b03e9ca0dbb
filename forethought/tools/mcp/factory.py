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

import pydantic
from pydantic_core import PydanticCustomError

from forethought.tools.base import ToolFactory
from forethought.tools.mcp.client import MCPToolset


class MCPOptions(pydantic.BaseModel):
    """Options of the ``mcp`` tool: either ``command`` (stdio) or ``url`` (streamable HTTP)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    command: str | None = pydantic.Field(
        default=None, min_length=1, description="Program that runs the server over stdio")
    args: list[str] = pydantic.Field(default_factory=list[str])
    env: dict[str, str] | None = pydantic.Field(
        default=None, description="Extra environment variables for the server process")
    cwd: str | None = None
    url: str | None = pydantic.Field(
        default=None, pattern=r"^https?://", description="Streamable HTTP endpoint")
    headers: dict[str, str] | None = None
    label: str | None = pydantic.Field(default=None, description="The server's name in messages")
    prefix: str = ""
    include: list[str] | None = None
    exclude: list[str] = pydantic.Field(default_factory=list[str])
    startup_timeout_s: float = pydantic.Field(default=30.0, gt=0)
    call_timeout_s: float | None = pydantic.Field(default=60.0, gt=0)

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


mcp_factory = MCPFactory()
"""Registered as the ``mcp`` tool (entry point ``forethought.tools``)."""

__all__ = ["MCPFactory", "MCPOptions", "mcp_factory"]
