"""MCP adapters: any MCP server's tools as forethought tools, and a forethought agent as an
MCP server. The official ``mcp`` SDK (the ``mcp`` extra) is imported only when a server is
started or served, so importing this package stays cheap.
"""

from __future__ import annotations

from forethought.tools.mcp.client import MCPTool, MCPToolset
from forethought.tools.mcp.factory import MCPFactory, MCPOptions, mcp_factory
from forethought.tools.mcp.server import agent_server, result_payload, serve_http, serve_stdio
from forethought.tools.mcp.transports import HTTPServer, StdioServer

__all__ = ["HTTPServer", "MCPFactory", "MCPOptions", "MCPTool", "MCPToolset", "StdioServer",
           "agent_server", "mcp_factory", "result_payload", "serve_http", "serve_stdio"]
