"""Toolsets start and stop with the agent; tool factories validate their options."""

from __future__ import annotations

import asyncio

import pydantic
import pytest

from forethought import Agent, ScriptedModel, Tool, UserError, tool
from forethought.tools.base import ToolFactory, Toolset


@tool
def ping() -> str:
    """Answer pong."""
    return "pong"


class RecordingToolset(Toolset):
    name = "recording"

    def __init__(self, *, fail_start: bool = False) -> None:
        self.log: list[str] = []
        self.fail_start = fail_start
        self.running = False

    async def start(self) -> None:
        self.log.append("start")
        if self.fail_start:
            raise RuntimeError("server would not start")
        self.running = True

    async def stop(self) -> None:
        self.log.append("stop")
        self.running = False

    def tools(self) -> list[Tool]:
        return [ping] if self.running else []


def agent_with(toolset: Toolset, replies: int = 1) -> Agent:
    plan = "1. ping()\n2. join()"
    return Agent(ScriptedModel([plan, "Action: Finish($1)"] * replies), tools=[toolset],
                 store=None)


def test_each_run_starts_and_stops_the_toolset() -> None:
    toolset = RecordingToolset()
    result = agent_with(toolset).run("ping?")
    assert result.ok
    assert toolset.log == ["start", "stop"]
    assert result.rounds[0].outputs == {"1": "pong"}


def test_async_with_keeps_toolsets_up_across_runs() -> None:
    toolset = RecordingToolset()
    agent = agent_with(toolset, replies=2)

    async def main() -> None:
        async with agent:
            assert (await agent.arun("one")).ok
            assert (await agent.arun("two")).ok
            assert toolset.log == ["start"]
        assert toolset.log == ["start", "stop"]
        assert "ping" not in agent.tools

    asyncio.run(main())


def test_a_toolset_that_fails_to_start_is_stopped_and_reported() -> None:
    toolset = RecordingToolset(fail_start=True)
    with pytest.raises(RuntimeError, match="server would not start"):
        agent_with(toolset).run("ping?")
    assert toolset.log == ["start", "stop"]


class GreeterOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    greeting: str = "hello"


class GreeterFactory(ToolFactory):
    name = "greeter"
    Options = GreeterOptions

    def build(self, options: pydantic.BaseModel) -> Tool:
        assert isinstance(options, GreeterOptions)
        greeting = options.greeting

        @tool(name="greeter")
        def greet(who: str) -> str:
            """Greet someone."""
            return f"{greeting}, {who}"

        return greet


async def test_factory_validates_options_naming_valid_ones() -> None:
    factory = GreeterFactory()
    built = factory.create({"greeting": "hi"})
    assert isinstance(built, Tool)
    assert await built.call({"who": "Ada"}) == "hi, Ada"
    with pytest.raises(UserError, match=r"invalid options for tool 'greeter': greting: Extra "
                                        r"inputs are not permitted \(valid options: greeting\)"):
        factory.create({"greting": "hi"})
