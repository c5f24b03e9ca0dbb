"""MCP servers that misbehave: each failure is a clear forethought error, nothing leaks, and an
agent using the server still stops cleanly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from mcp_support import MISBEHAVING, PYTHON, RAW, live_children

from forethought import Agent, ScriptedModel, ToolArgumentError, ToolExecutionError, UserError
from forethought.tools.mcp import MCPTool, MCPToolset


def misbehaving(call_timeout_s: float | None = 60.0) -> MCPToolset:
    return MCPToolset.stdio(PYTHON, [MISBEHAVING], name="misbehaving",
                            call_timeout_s=call_timeout_s)


@pytest.fixture
async def started() -> AsyncIterator[dict[str, MCPTool]]:
    """The misbehaving server, started; checks that stop() leaves no process behind."""
    before = live_children()
    toolset = misbehaving(call_timeout_s=1.0)
    await toolset.start()
    try:
        yield {t.name: t for t in toolset.tools() if isinstance(t, MCPTool)}
    finally:
        await toolset.stop()
        assert live_children() == before


async def expect_start_failure(toolset: MCPToolset, pattern: str) -> None:
    before = live_children()
    with pytest.raises(ToolExecutionError, match=pattern) as info:
        await toolset.start()
    assert info.value.tool == toolset.name
    assert not toolset.running and toolset.tools() == []
    assert live_children() == before, "a server that failed to start was left running"
    await toolset.stop()  # safe to call again


async def test_a_command_that_does_not_exist() -> None:
    await expect_start_failure(
        MCPToolset.stdio("no-such-mcp-server-xyz", name="ghost"),
        r"^MCP server 'ghost' cannot start: command 'no-such-mcp-server-xyz' was not found")


async def test_a_missing_working_directory() -> None:
    await expect_start_failure(
        MCPToolset.stdio(PYTHON, [MISBEHAVING], cwd="/no/such/dir", name="nowhere"),
        r"^MCP server 'nowhere' cannot start: working directory '/no/such/dir' does not exist$")


async def test_a_server_that_exits_at_once_shows_its_stderr() -> None:
    script = "import sys; print('fatal: no API key configured', file=sys.stderr); sys.exit(3)"
    await expect_start_failure(
        MCPToolset.stdio(PYTHON, ["-c", script], name="quitter"),
        r"^MCP server 'quitter' exited or closed the connection before the handshake "
        r"finished; its stderr ends with: fatal: no API key configured$")


async def test_a_server_that_hangs_past_the_startup_timeout() -> None:
    started = time.perf_counter()
    await expect_start_failure(
        MCPToolset.stdio(PYTHON, ["-c", "import time; time.sleep(60)"], name="sleeper",
                         startup_timeout_s=0.3),
        r"^MCP server 'sleeper' did not start within 0.3s \(no handshake and tool list\)$")
    # The SDK closes stdin, waits 2 s for an exit, then terminates the process group.
    assert time.perf_counter() - started < 6


async def test_a_malformed_tool_list() -> None:
    await expect_start_failure(
        MCPToolset.stdio(PYTHON, [RAW, "malformed-list"], name="raw"),
        r"^MCP server 'raw' sent a malformed reply while starting: invalid ListToolsResult: "
        r"tools\.0\.name: Field required$")


async def test_a_server_that_is_not_listening() -> None:
    await expect_start_failure(
        MCPToolset.http("http://127.0.0.1:9/mcp", name="closed-port"),
        r"^MCP server 'closed-port' failed to start: ConnectError")


async def test_a_crash_in_the_middle_of_a_call(started: dict[str, MCPTool]) -> None:
    with pytest.raises(ToolExecutionError, match=r"^MCP server 'misbehaving' closed the "
                       r"connection during the call to 'crash' \(did it crash\?\); its stderr "
                       r"ends with: .*crashing on purpose$"):
        await started["crash"].call({})
    with pytest.raises(ToolExecutionError, match=r"closed the connection during the call to 'ok'"):
        await started["ok"].call({"text": "anyone there?"})


async def test_a_malformed_result() -> None:
    toolset = MCPToolset.stdio(PYTHON, [RAW, "malformed-result"], name="raw")
    await toolset.start()
    try:
        with pytest.raises(ToolExecutionError, match=r"^MCP server 'raw' returned a malformed "
                           r"result for tool 'echo': content: Input should be a valid list$"):
            await toolset.tools()[0].call({"text": "x"})
    finally:
        await toolset.stop()


async def test_a_reply_that_is_not_json_rpc(caplog: pytest.LogCaptureFixture) -> None:
    toolset = MCPToolset.stdio(PYTHON, [RAW, "garbage"], name="raw", call_timeout_s=0.5)
    await toolset.start()
    try:
        with pytest.raises(ToolExecutionError, match=r"^MCP tool 'echo' on server 'raw' gave no "
                           r"answer within 0.5s; it sent something that is not JSON-RPC: "
                           r"\(value\): Invalid JSON"):
            await toolset.tools()[0].call({"text": "x"})
    finally:
        await toolset.stop()
    assert "Failed to parse JSONRPC message" in caplog.text  # the SDK's own log line


async def test_server_side_protocol_error_and_tool_error(started: dict[str, MCPTool]) -> None:
    with pytest.raises(ToolExecutionError, match=r"^MCP server 'misbehaving' rejected the call "
                       r"to 'broken': Handler returned an invalid result "
                       r"\(JSON-RPC error -32603\)$"):
        await started["broken"].call({})
    with pytest.raises(ToolExecutionError,
                       match=r"^MCP tool 'fail' reported an error: disk on fire$"):
        await started["fail"].call({"text": "disk on fire"})
    with pytest.raises(ToolArgumentError, match=r"'text' is a required property"):
        await started["ok"].call({})
    assert await started["ok"].call({"text": "still fine"}) == "still fine"


async def test_a_call_past_its_timeout(started: dict[str, MCPTool]) -> None:
    with pytest.raises(ToolExecutionError, match=r"^MCP tool 'slow' on server 'misbehaving' "
                                                 r"gave no answer within 1.0s$"):
        await started["slow"].call({"seconds": 30})
    assert await started["ok"].call({"text": "after the timeout"}) == "after the timeout"


async def test_a_cancelled_call_leaves_the_session_usable(started: dict[str, MCPTool]) -> None:
    call = asyncio.create_task(started["slow"].call({"seconds": 30}))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await started["ok"].call({"text": "next"}) == "next"


async def test_calls_before_start_and_after_stop_are_refused() -> None:
    toolset = misbehaving()
    await toolset.start()
    ok = toolset.tools()[0]
    assert isinstance(ok, MCPTool) and ok.name == "ok"
    await toolset.stop()
    with pytest.raises(ToolExecutionError, match=r"^MCP server 'misbehaving' is not running; "
                                                 r"start the toolset first"):
        await ok.call({"text": "x"})


async def test_start_and_stop_may_run_in_different_tasks() -> None:
    before = live_children()
    toolset = misbehaving()
    await asyncio.create_task(toolset.start())
    assert [t.name for t in toolset.tools()][:1] == ["ok"]
    await asyncio.create_task(toolset.stop())
    assert live_children() == before


def test_agent_reports_a_crash_to_the_model_and_stops_cleanly() -> None:
    before = live_children()
    model = ScriptedModel(["1. crash()\n2. join()\n",
                           "Action: Finish(the server crashed)"])
    agent = Agent(model, tools=[misbehaving()], store=None)
    result = agent.run("Crash the server.")
    assert result.ok and result.answer == "the server crashed"
    join_prompt = model.requests[1].messages[-1].content
    assert "1. crash() -> ERROR: MCP server 'misbehaving' closed the connection" in join_prompt
    assert live_children() == before


def test_agent_with_a_server_that_cannot_start_raises_and_cleans_up() -> None:
    before = live_children()
    quitter = MCPToolset.stdio(PYTHON, ["-c", "raise SystemExit(1)"], name="quitter")
    agent = Agent(ScriptedModel([]), tools=["calculator", quitter], store=None)
    with pytest.raises(ToolExecutionError, match=r"^MCP server 'quitter' exited"):
        agent.run("anything")
    assert agent.tools.names() == ["calculator"]
    assert live_children() == before


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(UserError, match=r"startup_timeout_s must be > 0, got 0"):
        MCPToolset.stdio("node", startup_timeout_s=0)
    with pytest.raises(UserError, match=r"args must be a list of strings, got the string 'a b'"):
        MCPToolset.stdio("node", "a b")
    with pytest.raises(UserError, match=r"starts with http:// or https://, got 'ftp://x'"):
        MCPToolset.http("ftp://x")
    with pytest.raises(UserError, match=r"include and exclude take a list of tool names"):
        MCPToolset.stdio("node", include="echo")


async def test_http_headers_are_sent_and_an_http_error_fails_the_start() -> None:
    seen: list[bytes] = []

    async def answer_500(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n"
                     b"Connection: close\r\n\r\noops")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_500, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        toolset = MCPToolset.http(f"http://127.0.0.1:{port}/mcp", name="http500",
                                  headers={"Authorization": "Bearer sekrit"},
                                  startup_timeout_s=5)
        with pytest.raises(ToolExecutionError, match=r"^MCP server 'http500' failed to start: "
                                                     r"MCPError: Server returned an error "
                                                     r"response$"):
            await toolset.start()
    finally:
        server.close()
        await server.wait_closed()
    assert seen and all(b"\r\nAuthorization: Bearer sekrit\r\n" in request for request in seen)
