"""The MCP client against the official reference server (@modelcontextprotocol/server-everything
over stdio): tool listing with schemas, calls, errors, filters, and an Agent using it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from dirty_equals import IsInt, IsStr
from mcp import Client, StdioServerParameters
from mcp_support import ROOT, SERVERS_DIR, everything, live_children, needs_everything
from mcp_types import TextContent

from forethought import Agent, ScriptedModel, ToolArgumentError, ToolExecutionError, UserError
from forethought.recipes import build_agent, load_recipe
from forethought.tools.mcp import MCPTool

pytestmark = needs_everything


async def test_lists_tools_with_their_schemas_and_calls_them() -> None:
    before = live_children()
    toolset = everything()
    await toolset.start()
    try:
        assert len(live_children() - before) == 1
        tools = {t.name: t for t in toolset.tools()}
        assert {"echo", "get-sum", "get-structured-content", "get-tiny-image"} <= set(tools)
        echo = tools["echo"]
        assert isinstance(echo, MCPTool)
        assert echo.description == "Echoes back the input string"
        assert echo.parameters == {"type": "object", "required": ["message"], "properties": {
            "message": {"type": "string", "description": "Message to echo"}}}
        assert await echo.call({"message": "hello"}) == "Echo: hello"
        assert await tools["get-sum"].call({"a": 19, "b": 23}) == "The sum of 19 and 23 is 42."
        assert await tools["get-structured-content"].call({"location": "Chicago"}) == {
            "temperature": IsInt(), "conditions": IsStr(), "humidity": IsInt()}
        image = await tools["get-tiny-image"].call({})
        assert re.search(r"^\[image image/png, \d+ bytes\]$", image, re.MULTILINE), image
    finally:
        await toolset.stop()
    assert toolset.tools() == [] and not toolset.running
    assert live_children() == before, "the server process outlived stop()"


async def test_errors_reach_the_caller_as_tool_errors() -> None:
    toolset = everything(include=["get-sum", "get-resource-reference"])
    await toolset.start()
    try:
        tools = {t.name: t for t in toolset.tools()}
        # Checked against the server's schema before sending: the model hears what to fix.
        with pytest.raises(ToolArgumentError, match=r"^invalid arguments for tool 'get-sum': "
                           r"\(arguments\): 'b' is a required property; "
                           r"a: 'x' is not of type 'number'$"):
            await tools["get-sum"].call({"a": "x"})
        # The server itself answers isError: its message is the failure.
        with pytest.raises(ToolExecutionError, match=r"^MCP tool 'get-resource-reference' "
                           r"reported an error: Invalid resourceId: 1.5\. Must be a finite"):
            await tools["get-resource-reference"].call({"resourceId": 1.5})
        # The session survives both.
        assert "42" in await tools["get-sum"].call({"a": 40, "b": 2})
    finally:
        await toolset.stop()


async def test_prefix_include_exclude_and_env() -> None:
    toolset = everything(prefix="ev_", include=["echo", "get-env"], env={"FT_MCP_PROBE": "on"})
    await toolset.start()
    try:
        assert sorted(t.name for t in toolset.tools()) == ["ev_echo", "ev_get-env"]
        env = await toolset.tools()[1].call({})
        assert '"FT_MCP_PROBE": "on"' in env
    finally:
        await toolset.stop()
    toolset = everything(exclude=["echo"])
    await toolset.start()
    try:
        names = [t.name for t in toolset.tools()]
        assert "echo" not in names and "get-sum" in names
    finally:
        await toolset.stop()


async def test_unknown_include_names_the_offered_tools() -> None:
    toolset = everything(include=["echo", "add"])
    with pytest.raises(UserError, match=r"include names tools it does not offer: \['add'\]; "
                                        r"its tools are: \[.*'get-sum'"):
        await toolset.start()
    assert not toolset.running


def _echo_plan() -> ScriptedModel:
    return ScriptedModel(['1. echo(message="planned by forethought")\n'
                          '2. get-sum(a=40, b=2)\n'
                          "3. join()\n",
                          "Action: Finish(Echo: planned by forethought; 42)"])


def test_agent_plans_calls_to_the_servers_tools() -> None:
    before = live_children()
    model = _echo_plan()
    agent = Agent(model, tools=[everything(include=["echo", "get-sum"])], store=None)
    result = agent.run("Echo a phrase and add 40 and 2.")
    assert result.ok, result.error
    assert result.answer == "Echo: planned by forethought; 42"
    assert result.rounds[0].outputs == {"1": "Echo: planned by forethought",
                                        "2": "The sum of 40 and 2 is 42."}
    system = model.requests[0].messages[0].content
    assert "- echo(message): Echoes back the input string" in system  # the MCP tools
    assert '"required": ["a", "b"]' in system  # with their schemas
    assert "echo" not in agent.tools, "the toolset's tools left with its server"
    assert live_children() == before


def test_agent_from_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The recipe names the server relative to the working directory (the repository root).
    (tmp_path / ".mcp-servers").symlink_to(SERVERS_DIR)
    monkeypatch.chdir(tmp_path)
    spec = load_recipe(ROOT / "recipes" / "mcp_everything.yaml")
    agent = build_agent(spec, store=None)
    agent.model = _echo_plan()
    result = agent.run(spec.input or "")
    assert result.ok and result.answer == "Echo: planned by forethought; 42"
    assert result.rounds[0].outputs["2"] == "The sum of 40 and 2 is 42."


async def test_async_with_agent_keeps_one_server_for_several_runs() -> None:
    before = live_children()
    plan = '1. get-sum(a=1, b=2)\n2. join()\n'
    model = ScriptedModel([plan, "Action: Finish(3)", plan, "Action: Finish(3)"])
    toolset = everything(include=["get-sum"])
    agent = Agent(model, tools=[toolset], store=None)
    async with agent:
        server = live_children() - before
        assert len(server) == 1
        assert (await agent.arun("1 + 2?")).answer == "3"
        assert (await agent.arun("1 + 2, again?")).answer == "3"
        assert live_children() - before == server, "the server was restarted between runs"
    assert live_children() == before
    # A stopped toolset starts again for the next run.
    model2 = ScriptedModel([plan, "Action: Finish(3)"])
    again = Agent(model2, tools=[toolset], store=None)
    assert (await again.arun("1 + 2?")).ok
    assert live_children() == before


async def test_forethought_re_serves_the_recipes_mcp_tools(tmp_path: Path) -> None:
    """Two hops: an MCP client -> `forethought mcp serve --tools` -> the reference server."""
    (tmp_path / ".mcp-servers").symlink_to(SERVERS_DIR)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "forethought.cli", "mcp", "serve",
              str(ROOT / "recipes" / "mcp_everything.yaml"), "--tools"],
        env={"FORETHOUGHT_HOME": str(tmp_path)}, cwd=str(tmp_path))
    async with Client(params) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        assert names == ["ask", "echo", "get-sum"]
        result = await client.call_tool("echo", {"message": "two hops"})
        assert not result.is_error and result.content == [TextContent(type="text",
                                                                       text="Echo: two hops")]
