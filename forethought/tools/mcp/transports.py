"""Where an MCP server is and how to reach it: a subprocess over stdio, or streamable HTTP."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mcp.client import Transport


@dataclass(kw_only=True, frozen=True)
class StdioServer:
    """An MCP server run as a subprocess speaking JSON-RPC on its stdin and stdout."""

    command: str
    """The executable, looked up on ``PATH`` (or a path, relative to the current directory)."""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    """Extra environment variables. Besides these the server inherits only ``HOME``, ``PATH``,
    ``SHELL``, ``TERM``, ``USER`` and ``LOGNAME`` (the MCP SDK's safe default)."""
    cwd: str | None = None

    def label(self) -> str:
        return Path(self.command).name


@dataclass(kw_only=True, frozen=True)
class HTTPServer:
    """A running MCP server reached over streamable HTTP (``http://host:port/mcp``)."""

    url: str
    headers: Mapping[str, str] | None = None
    """Sent with every request (e.g. ``Authorization``)."""

    def label(self) -> str:
        return urlsplit(self.url).netloc or self.url


def transport(server: StdioServer | HTTPServer, *, errlog: TextIO | None) -> Transport:
    """The SDK transport for ``server``; a stdio server's stderr goes to ``errlog``."""
    import sys

    from mcp.client.stdio import StdioServerParameters, stdio_client

    if isinstance(server, StdioServer):
        params = StdioServerParameters(command=server.command, args=list(server.args),
                                       env=dict(server.env) if server.env else None,
                                       cwd=server.cwd)
        return stdio_client(params, errlog=errlog or sys.stderr)
    return _http_transport(server)


@asynccontextmanager
async def _http_transport(server: HTTPServer) -> AsyncGenerator[Any]:
    """Streamable HTTP with the configured headers (the SDK's client takes them via httpx2)."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers=dict(server.headers or {}),
                           timeout=httpx2.Timeout(30.0, read=300.0)) as http,
        streamable_http_client(server.url, http_client=http) as streams,
    ):
        yield streams


__all__ = ["HTTPServer", "StdioServer", "transport"]
