"""forethought as an MCP server, called by the official `mcp` Python client: over stdio from a
real `forethought mcp serve` process, over streamable HTTP, and in-process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp_support import ROOT, live_children
from mcp_types import CallToolResult, TextContent
from typer.testing import CliRunner

from forethought import Agent, LLMCompilerPlanner, RunStore, ScriptedModel, UserError, tool
from forethought.cli import app
from forethought.tools.mcp import MCPToolset, agent_server

QUICKSTART = str(ROOT / "recipes" / "quickstart.yaml")
QUESTION = "What is (17 + 25) * (9 - 4) - 120 / 8?"


def text(result: CallToolResult) -> str:
    """The text of a result's single content block."""
    (block,) = result.content
    assert isinstance(block, TextContent), block
    return block.text


def serve_params(home: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "forethought.cli", "mcp", "serve", QUICKSTART, *extra],
        env={"FORETHOUGHT_HOME": str(home)}, cwd=str(ROOT))


async def test_stdio_server_answers_with_usage_and_run_id(tmp_path: Path) -> None:
    async with Client(serve_params(tmp_path)) as client:
        assert client.server_info is not None and client.server_info.name == "quickstart"
        listed = (await client.list_tools()).tools
        assert [t.name for t in listed] == ["ask"]
        assert listed[0].input_schema["required"] == ["question"]
        assert listed[0].output_schema is not None
        result = await client.call_tool("ask", {"question": QUESTION})
        assert not result.is_error
        out = result.structured_content
        assert out is not None and out["answer"] == "195" and out["status"] == "ok"
        assert out["usage"]["model_calls"] == 2 and out["usage"]["prompt_tokens"] > 0
        assert json.loads(text(result)) == out
        bad = await client.call_tool("ask", {"question": ""})
        assert bad.is_error
        assert text(bad) == ("invalid arguments for tool 'ask': question: String "
                                       "should have at least 1 character")
        missing = await client.call_tool("calculator", {"expression": "1 + 1"})
        assert missing.is_error and "unknown tool 'calculator'; valid tools: ['ask']" in \
            text(missing)
    run = RunStore(tmp_path / "runs.sqlite").get_run(out["run_id"])
    assert run.answer == "195" and run.question == QUESTION


async def test_stdio_server_exposes_the_recipes_tools(tmp_path: Path) -> None:
    async with Client(serve_params(tmp_path, "--tools")) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert sorted(listed) == ["ask", "calculator", "clock"]
        assert listed["calculator"].input_schema["required"] == ["expression"]
        result = await client.call_tool("calculator", {"expression": "6 * 7"})
        assert not result.is_error and text(result) == "42"
        result = await client.call_tool("calculator", {"expression": "1 / 0"})
        assert result.is_error and text(result) == "division by zero"
        result = await client.call_tool("calculator", {"expr": "1"})
        assert result.is_error and "invalid arguments for tool 'calculator'" in \
            text(result)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "forethought.cli", "mcp", "serve", QUICKSTART, "--tools",
         "--http", str(port)], cwd=ROOT, env={"FORETHOUGHT_HOME": str(tmp_path),
                                             "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"forethought mcp serve --http did not listen (exit {proc.poll()})")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_http_server_through_forethoughts_own_http_client(http_server: str) -> None:
    toolset = MCPToolset.http(http_server, prefix="remote_", include=["ask", "calculator"])
    await toolset.start()
    try:
        tools = {t.name: t for t in toolset.tools()}
        assert sorted(tools) == ["remote_ask", "remote_calculator"]
        out = await tools["remote_ask"].call({"question": "What is 2 * (3 + 4)?"})
        assert out["answer"] == "14" and out["run_id"]
        assert await tools["remote_calculator"].call({"expression": "2 ** 10"}) == "1024"
    finally:
        await toolset.stop()


async def test_an_agent_served_in_process_and_its_failures() -> None:
    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    model = ScriptedModel(['1. shout(text="hi")\n2. join()\n', "Action: Finish(HI)",
                           "1. join()\n", "Action: Replan(nothing to do)"])
    agent = Agent(model, tools=[shout], store=None, planner=LLMCompilerPlanner(max_replans=0))
    async with agent:
        server = agent_server(agent, name="shouter", expose_tools=True)
        async with Client(server) as client:
            assert sorted(t.name for t in (await client.list_tools()).tools) == ["ask", "shout"]
            ok = await client.call_tool("ask", {"question": "shout hi"})
            assert ok.structured_content is not None and ok.structured_content["answer"] == "HI"
            failed = await client.call_tool("ask", {"question": "do nothing"})
            assert failed.is_error and failed.structured_content is not None
            assert failed.structured_content["status"] == "failed"
            assert failed.structured_content["answer"] is None
            crashed = await client.call_tool("ask", {"question": "the script is used up"})
            assert crashed.is_error and text(crashed).startswith(
                "UserError: ScriptedModel 'scripted' ran out of replies")
            assert text(await client.call_tool("shout", {"text": "x"})) == "X"


def test_a_tool_named_ask_cannot_be_exposed() -> None:
    @tool
    def ask(question: str) -> str:
        """Clashes with the server's own tool."""
        return question

    agent = Agent(ScriptedModel([]), tools=[ask], store=None)
    with pytest.raises(UserError, match=r"the agent has a tool named 'ask'"):
        agent_server(agent, expose_tools=True)
    agent_server(agent)  # fine when the agent's tools are not exposed


def test_cli_errors_exit_2_and_leave_nothing_running(tmp_path: Path) -> None:
    before = live_children()
    runner = CliRunner()
    result = runner.invoke(app, ["mcp", "serve", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools:\n  - name: mcp\n    command: no-such-mcp-server-xyz\n")
    result = runner.invoke(app, ["mcp", "serve", str(bad)])
    # Checked before anything starts: the recipe names a program that is not on PATH.
    assert result.exit_code == 2
    assert f"error: {bad}:3: tools.0.command: program 'no-such-mcp-server-xyz' is not found " \
           f"on PATH" in result.output
    assert live_children() == before
