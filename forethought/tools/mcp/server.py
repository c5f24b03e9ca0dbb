"""MCP server: a forethought agent (and optionally its tools) offered to any MCP client.

The server has one tool, ``ask``, that takes a question, runs the agent and returns its
answer with the status, usage and run id (look the run up with ``forethought trace``). With
``expose_tools`` the agent's own tools are offered too, under their names and JSON schemas.
The agent's toolsets (MCP servers, sandboxes) start once, before the first client request,
and stop when the server does.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, cast

import pydantic

from forethought._version import __version__
from forethought.exceptions import ForethoughtError, ToolError, UserError
from forethought.runtime.rendering import render_output
from forethought.tools.mcp._render import validation_summary
from forethought.tools.mcp._sdk import require_mcp

if TYPE_CHECKING:
    from mcp.server import Server, ServerRequestContext
    from mcp_types import (
        CallToolRequestParams,
        CallToolResult,
        ListToolsResult,
        PaginatedRequestParams,
    )

    from forethought.agents.agent import Agent, AgentResult

ASK = "ask"

_ASK_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string", "minLength": 1,
                                "description": "The question or problem to solve"}},
    "required": ["question"],
    "additionalProperties": False,
}
_ASK_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["ok", "failed", "budget_exhausted", "cancelled"]},
        "partial": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
        "run_id": {"type": "string"},
        "usage": {"type": "object", "properties": {
            "model_calls": {"type": "integer"}, "prompt_tokens": {"type": "integer"},
            "completion_tokens": {"type": "integer"}, "cost_usd": {"type": "number"}}},
        "duration_s": {"type": "number"},
    },
    "required": ["answer", "status", "run_id", "usage"],
}


class _AskArgs(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    question: str = pydantic.Field(min_length=1)


def result_payload(result: AgentResult) -> dict[str, Any]:
    """An agent result as the JSON object ``ask`` returns."""
    usage = result.usage
    return {"answer": result.answer, "status": result.status, "partial": result.partial,
            "error": result.error, "run_id": result.run_id,
            "usage": {"model_calls": usage.model_calls, "prompt_tokens": usage.prompt_tokens,
                      "completion_tokens": usage.completion_tokens,
                      "cost_usd": usage.cost_usd},
            "duration_s": round(result.duration_s, 4)}


def _text_result(text: str, *, error: bool = False,
                 structured: dict[str, Any] | None = None) -> CallToolResult:
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=structured, is_error=error)


def agent_server(agent: Agent, *, name: str = "forethought", description: str = "",
                 expose_tools: bool = False) -> Server[Any]:
    """An MCP server (the SDK's low-level :class:`mcp.server.Server`) for ``agent``.

    The caller keeps the agent entered (``async with agent:``) while the server runs, so that
    its toolsets are up; :func:`serve_stdio` and :func:`serve_http` do.
    """
    require_mcp()
    import mcp_types as types
    from mcp.server import Server

    about = f"Ask the forethought agent {name!r}" + (f" ({description.strip()})"
                                                      if description.strip() else "")
    ask_tool = types.Tool(
        name=ASK, input_schema=_ASK_INPUT, output_schema=_ASK_OUTPUT,
        description=f"{about}. It plans, calls its tools and returns the answer with the run's "
                    f"status, token usage and run id.")
    if expose_tools and ASK in agent.tools:
        raise UserError(f"the agent has a tool named {ASK!r}, which would hide the {ASK!r} tool "
                        f"of the MCP server; rename it or serve without exposing tools")

    async def list_tools(ctx: ServerRequestContext[Any],
                         params: PaginatedRequestParams | None) -> ListToolsResult:
        tools = [ask_tool]
        if expose_tools:
            tools += [types.Tool(name=t.name, description=t.description,
                                 input_schema=t.parameters) for t in agent.tools]
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any],
                        params: CallToolRequestParams) -> CallToolResult:
        args = dict(params.arguments or {})
        if params.name == ASK:
            return await _ask(agent, args)
        if expose_tools and params.name in agent.tools:
            return await _call_local(agent, params.name, args)
        valid = [ASK, *(agent.tools.names() if expose_tools else [])]
        return _text_result(f"unknown tool {params.name!r}; valid tools: {valid!r}", error=True)

    return Server(name, version=__version__, description=description or None,
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def _ask(agent: Agent, args: dict[str, Any]) -> CallToolResult:
    try:
        question = _AskArgs.model_validate(args).question
    except pydantic.ValidationError as exc:
        return _text_result(f"invalid arguments for tool {ASK!r}: {validation_summary(exc)}",
                            error=True)
    try:
        result = await agent.arun(question)
    except ForethoughtError as exc:
        return _text_result(f"{type(exc).__name__}: {exc}", error=True)
    payload = result_payload(result)
    return _text_result(json.dumps(payload), structured=payload, error=result.answer is None)


async def _call_local(agent: Agent, name: str, args: dict[str, Any]) -> CallToolResult:
    from forethought.runtime.context import RunContext

    ctx = RunContext(model=agent.model, tools=agent.tools, run_id=f"mcp-{uuid.uuid4().hex[:8]}",
                     deps=agent.deps)
    try:
        value = await ctx.call_tool(name, args)
    except ToolError as exc:
        return _text_result(str(exc), error=True)
    structured = cast(dict[str, Any], value) if isinstance(value, dict) else None
    return _text_result(render_output(value), structured=structured)


async def serve_stdio(agent: Agent, *, name: str = "forethought", description: str = "",
                      expose_tools: bool = False) -> None:
    """Serve ``agent`` over stdio until the client closes stdin."""
    require_mcp()
    from mcp.server.stdio import stdio_server

    async with agent:
        server = agent_server(agent, name=name, description=description,
                              expose_tools=expose_tools)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


async def serve_http(agent: Agent, *, port: int, host: str = "127.0.0.1",
                     name: str = "forethought", description: str = "",
                     expose_tools: bool = False) -> None:
    """Serve ``agent`` over streamable HTTP at ``http://host:port/mcp`` until interrupted."""
    require_mcp()
    import uvicorn

    async with agent:
        server = agent_server(agent, name=name, description=description,
                              expose_tools=expose_tools)
        app = server.streamable_http_app(host=host)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        await uvicorn.Server(config).serve()


__all__ = ["ASK", "agent_server", "result_payload", "serve_http", "serve_stdio"]
