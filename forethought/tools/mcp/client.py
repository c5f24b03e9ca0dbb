"""MCP client: the tools of any MCP server, over stdio or streamable HTTP, as forethought tools.

An :class:`MCPToolset` starts (or connects to) its server in :meth:`~MCPToolset.start` and
stops it in :meth:`~MCPToolset.stop`, which the Agent calls around a run or ``async with
agent:``. The connection lives in one task of its own: the MCP SDK's transports are anyio
task groups that must be entered and left in the same task, and a failing server must never
cancel the caller's task. Calls from any task talk to the session that task holds open.

Example::

    everything = MCPToolset.stdio("npx", ["-y", "@modelcontextprotocol/server-everything"],
                                  include=["echo", "get-sum"])
    agent = Agent("openai/gpt-4o-mini", tools=[everything])
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast
from urllib.parse import urlsplit

import pydantic

from forethought.exceptions import ForethoughtError, ToolExecutionError, UserError
from forethought.tools.base import Tool, Toolset
from forethought.tools.mcp._render import (
    ArgumentChecker,
    describe,
    leaves,
    tool_output,
    validation_summary,
)
from forethought.tools.mcp._sdk import require_mcp
from forethought.tools.mcp.transports import HTTPServer, StdioServer, transport

if TYPE_CHECKING:
    import anyio
    from mcp import Client
    from mcp.client import IncomingMessage
    from mcp.shared.exceptions import MCPError
    from mcp_types import Tool as RemoteTool

    from forethought.runtime.context import RunContext

_LOCAL_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_PAGES = 100
_STDERR_TAIL = 4000
_STDERR_LINES = 5


def local_name(name: str) -> str:
    """A valid forethought tool name for an MCP tool name (which may use other characters)."""
    local = _LOCAL_NAME_BAD.sub("_", name)
    if not re.match(r"[A-Za-z_]", local):
        local = "_" + local
    return local[:64]


class MCPTool(Tool):
    """One tool of an MCP server; calls go through its :class:`MCPToolset`."""

    def __init__(self, toolset: MCPToolset, remote: RemoteTool, *, name: str) -> None:
        self.toolset = toolset
        self.remote_name = remote.name
        self.name = name
        self.description = remote.description or remote.title or remote.name
        self.schema: dict[str, Any] = dict(remote.input_schema)
        """The server's input schema, as given."""
        self.parameters = {k: v for k, v in self.schema.items() if k != "$schema"}
        self._checker: ArgumentChecker | None = None

    def check(self, args: dict[str, Any]) -> None:
        """Raise :class:`ToolArgumentError` when ``args`` fail the input schema."""
        if self._checker is None:
            self._checker = ArgumentChecker(self.schema)
        self._checker.check(args, tool=self.name)

    async def call(self, args: dict[str, Any], ctx: RunContext | None = None) -> Any:
        return await self.toolset.call(self, args)


class MCPToolset(Toolset):
    """The tools of one MCP server, started and stopped with the agent.

    Args:
        server: Where the server is: :class:`StdioServer` or :class:`HTTPServer`
            (or use :meth:`stdio` and :meth:`http`).
        name: The toolset's name in messages (default ``mcp:<command or host>``).
        prefix: Put before every tool name (``"fs_"`` turns ``read`` into ``fs_read``).
        include: Offer only these tools (server names); an unknown name fails the start.
        exclude: Offer all tools but these; an unknown name fails the start.
        startup_timeout_s: Seconds to start the server, finish the handshake and list tools.
        call_timeout_s: Seconds a tool call may take (``None``: no limit).
    """

    def __init__(self, server: StdioServer | HTTPServer, *, name: str | None = None,
                 prefix: str = "", include: Sequence[str] | None = None,
                 exclude: Sequence[str] = (), startup_timeout_s: float = 30.0,
                 call_timeout_s: float | None = 60.0) -> None:
        if not isinstance(server, StdioServer | HTTPServer):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"server must be a StdioServer or HTTPServer, got {server!r}")
        if startup_timeout_s <= 0:
            raise UserError(f"startup_timeout_s must be > 0, got {startup_timeout_s!r}")
        if call_timeout_s is not None and call_timeout_s <= 0:
            raise UserError(f"call_timeout_s must be > 0 or None, got {call_timeout_s!r}")
        if isinstance(include, str) or isinstance(exclude, str):
            raise UserError("include and exclude take a list of tool names, not a string")
        self.server = server
        self.name = name or f"mcp:{server.label()}"
        self.prefix = prefix
        self.include = tuple(include) if include is not None else None
        self.exclude = tuple(exclude)
        self.startup_timeout_s = startup_timeout_s
        self.call_timeout_s = call_timeout_s
        self._tools: list[MCPTool] = []
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._scope: anyio.CancelScope | None = None
        self._stderr: TextIO | None = None
        self._failure: str | None = None
        self._transport_error: str | None = None

    @classmethod
    def stdio(cls, command: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None, **options: Any) -> MCPToolset:
        """A server started as ``command *args`` (options as for the constructor)."""
        if isinstance(args, str):
            raise UserError(f"args must be a list of strings, got the string {args!r}")
        server = StdioServer(command=command, args=tuple(args), env=env,
                             cwd=str(cwd) if cwd is not None else None)
        return cls(server, **options)

    @classmethod
    def http(cls, url: str, *, headers: Mapping[str, str] | None = None,
             **options: Any) -> MCPToolset:
        """A running server at ``url`` over streamable HTTP (options as for the constructor)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise UserError(f"an MCP server URL starts with http:// or https://, got {url!r}")
        return cls(HTTPServer(url=url, headers=headers), **options)

    @property
    def running(self) -> bool:
        return self._client is not None

    def tools(self) -> list[Tool]:
        return list(self._tools)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server, finish the MCP handshake and list its tools.

        Raises :class:`ToolExecutionError` naming the server when it cannot be started, exits,
        sends something malformed or takes longer than ``startup_timeout_s``;
        :class:`UserError` when ``include``/``exclude`` name tools the server lacks.
        """
        if self._task is not None:
            return
        require_mcp()
        import anyio

        self._failure = self._transport_error = None
        self._closing = asyncio.Event()
        self._scope = anyio.CancelScope()
        if isinstance(self.server, StdioServer):
            # Kept open until stop(), so errors can quote the end of the server's stderr.
            self._stderr = cast(TextIO, tempfile.TemporaryFile(  # noqa: SIM115
                "w+", encoding="utf-8", errors="replace"))
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready), name=f"forethought {self.name}")
        try:
            await asyncio.wait({ready, self._task}, timeout=self.startup_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            await self.stop()
            raise
        if ready.done() and ready.exception() is None:
            return
        error = ready.exception() if ready.done() else None
        await self._end_task()
        if error is None:
            reason = f"failed to start: {self._failure}" if self._failure else \
                f"did not start within {self.startup_timeout_s}s (no handshake and tool list)"
            error = ToolExecutionError(f"MCP server {self.name!r} {reason}" + self._stderr_note(),
                                       tool=self.name)
        await self.stop()
        raise error

    async def stop(self) -> None:
        """Stop the server (closing its stdin, then terminating it) and drop the tools."""
        await self._end_task()
        self._tools = []
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def _end_task(self) -> None:
        task = self._task
        if task is None:
            return
        if self._client is None and self._scope is not None:
            self._scope.cancel()  # still starting: abandon the handshake
        self._closing.set()
        await asyncio.wait({task})  # never raises; the task shuts down even if we are cancelled
        if not task.cancelled() and task.exception() is not None:
            self._failure = describe(task.exception() or Exception())
        self._task = None

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        """Own the connection: open it, publish the tools, wait for :meth:`stop`, close it."""
        from mcp import Client

        assert self._scope is not None
        try:
            with self._scope:
                async with Client(transport(self.server, errlog=self._stderr), cache=None,
                                  message_handler=self._on_message) as client:
                    self._tools = self._make_tools(await self._list_tools(client))
                    self._client = client
                    ready.set_result(None)
                    await self._closing.wait()
        except Exception as exc:  # noqa: BLE001 - reported to start() or to later calls
            if not ready.done():
                ready.set_exception(self._startup_error(exc))
            else:
                self._failure = describe(exc)
        finally:
            self._client = None

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, pydantic.ValidationError):  # a stdout line that is not JSON-RPC
            self._transport_error = validation_summary(message)
        elif isinstance(message, Exception):
            self._transport_error = describe(message)

    @staticmethod
    async def _list_tools(client: Client) -> list[RemoteTool]:
        found: list[RemoteTool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            found.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return found

    def _make_tools(self, remote: list[RemoteTool]) -> list[MCPTool]:
        offered = [t.name for t in remote]
        for option, names in (("include", self.include or ()), ("exclude", self.exclude)):
            unknown = [n for n in names if n not in offered]
            if unknown:
                raise UserError(f"MCP server {self.name!r}: {option} names tools it does not "
                                f"offer: {unknown!r}; its tools are: {offered!r}")
        made: dict[str, MCPTool] = {}
        for item in remote:
            if (self.include is not None and item.name not in self.include) \
                    or item.name in self.exclude:
                continue
            local = local_name(self.prefix + item.name)
            if local in made:
                raise UserError(f"MCP server {self.name!r}: tools {made[local].remote_name!r} "
                                f"and {item.name!r} both become {local!r}; use include/exclude")
            made[local] = MCPTool(self, item, name=local)
        return list(made.values())

    # --- calls -----------------------------------------------------------------------------

    async def call(self, tool: MCPTool, args: dict[str, Any]) -> Any:
        """Call ``tool`` on the server; every failure is a :class:`ToolError` naming it."""
        client = self._client
        if client is None:
            reason = f"it stopped: {self._failure}" if self._failure else \
                "start the toolset first (an Agent does, for a run or `async with agent:`)"
            raise ToolExecutionError(f"MCP server {self.name!r} is not running; {reason}",
                                     tool=tool.name)
        tool.check(args)
        import anyio
        from mcp.shared.exceptions import MCPError

        try:
            result = await client.call_tool(tool.remote_name, args,
                                            read_timeout_seconds=self.call_timeout_s)
        except MCPError as exc:
            raise ToolExecutionError(self._call_error(tool, exc), tool=tool.name) from None
        except pydantic.ValidationError as exc:
            raise ToolExecutionError(
                f"MCP server {self.name!r} returned a malformed result for tool "
                f"{tool.remote_name!r}: {validation_summary(exc)}", tool=tool.name) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            raise ToolExecutionError(f"MCP server {self.name!r} closed the connection during "
                                     f"the call to {tool.remote_name!r}" + self._stderr_note(),
                                     tool=tool.name) from None
        return tool_output(result, remote=tool.remote_name, local=tool.name)

    def _call_error(self, tool: MCPTool, exc: MCPError) -> str:
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        if exc.code == CONNECTION_CLOSED:
            return (f"MCP server {self.name!r} closed the connection during the call to "
                    f"{tool.remote_name!r} (did it crash?)" + self._stderr_note())
        if exc.code == REQUEST_TIMEOUT:
            note = f"; it sent something that is not JSON-RPC: {self._transport_error}" \
                if self._transport_error else ""
            return (f"MCP tool {tool.remote_name!r} on server {self.name!r} gave no answer "
                    f"within {self.call_timeout_s}s{note}")
        return (f"MCP server {self.name!r} rejected the call to {tool.remote_name!r}: "
                f"{exc.error.message} (JSON-RPC error {exc.code})")

    # --- messages --------------------------------------------------------------------------

    def _startup_error(self, exc: Exception) -> ForethoughtError:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        found = leaves(exc)
        for leaf in found:
            if isinstance(leaf, UserError):
                return leaf
        first = found[0]
        server = self.server
        prefix = f"MCP server {self.name!r}"
        if isinstance(first, FileNotFoundError) and isinstance(server, StdioServer):
            if server.cwd is not None and first.filename == server.cwd:
                message = f"{prefix} cannot start: working directory {server.cwd!r} does not exist"
            else:
                message = (f"{prefix} cannot start: command {server.command!r} was not found "
                           f"(give a program on PATH or a path to an executable)")
        elif isinstance(first, PermissionError) and isinstance(server, StdioServer):
            message = f"{prefix} cannot start: command {server.command!r} is not executable"
        elif isinstance(first, MCPError) and first.code == CONNECTION_CLOSED:
            message = f"{prefix} exited or closed the connection before the handshake finished"
        elif isinstance(first, pydantic.ValidationError):
            message = f"{prefix} sent a malformed reply while starting: {describe(first)}"
        else:
            message = f"{prefix} failed to start: {describe(exc)}"
        return ToolExecutionError(message + self._stderr_note(), tool=self.name)

    def _stderr_note(self) -> str:
        """The end of the server's stderr, as ``; its stderr ends with: ...`` (or nothing)."""
        stream = self._stderr
        if stream is None:
            return ""
        try:
            fd = stream.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, _STDERR_TAIL, max(0, size - _STDERR_TAIL))
        except (OSError, ValueError):
            return ""
        lines = [line.strip()[:200] for line in data.decode("utf-8", "replace").splitlines()
                 if line.strip()][-_STDERR_LINES:]
        return f"; its stderr ends with: {' | '.join(lines)}" if lines else ""


__all__ = ["MCPTool", "MCPToolset"]
