"""A tiny MCP server (official SDK, stdio) whose tools misbehave, for the client's error tests.

Tools: ``ok`` echoes its text; ``crash`` exits the process in the middle of the call;
``broken`` returns a result the SDK itself rejects (a protocol error for the client);
``fail`` reports a tool error (``isError``); ``slow`` sleeps ``seconds``.

Run as ``python misbehaving_server.py`` (not collected by pytest: no ``test_`` prefix).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

_TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
_NONE: dict[str, Any] = {"type": "object", "properties": {}}
TOOLS = [
    types.Tool(name="ok", description="Echo the text.", input_schema=_TEXT),
    types.Tool(name="crash", description="Exit in the middle of the call.", input_schema=_NONE),
    types.Tool(name="broken", description="Return an invalid result.", input_schema=_NONE),
    types.Tool(name="fail", description="Report a tool error.", input_schema=_TEXT),
    types.Tool(name="slow", description="Sleep.", input_schema={
        "type": "object", "properties": {"seconds": {"type": "number"}}}),
]


async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None,
                     ) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams,
                    ) -> Any:
    args = params.arguments or {}
    if params.name == "ok":
        return types.CallToolResult(content=[types.TextContent(type="text", text=args["text"])])
    if params.name == "crash":
        print("crashing on purpose", file=sys.stderr, flush=True)
        os._exit(3)
    if params.name == "broken":
        return {"content": "this should be a list of content blocks"}
    if params.name == "fail":
        return types.CallToolResult(content=[types.TextContent(type="text", text=args["text"])],
                                    is_error=True)
    if params.name == "slow":
        await anyio.sleep(float(args.get("seconds", 30)))
        return types.CallToolResult(content=[types.TextContent(type="text", text="done")])
    raise ValueError(f"unknown tool {params.name!r}")


async def main() -> None:
    server = Server("misbehaving", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
