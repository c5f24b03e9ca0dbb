"""The python tool: what the model gets back, its lifecycle with the Agent, recipes."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from sandbox_support import BACKENDS, ROOT, make_sandbox

from forethought import Agent, ScriptedModel
from forethought.exceptions import ModelRetry, UserError
from forethought.models.messages import ModelRequest
from forethought.recipes import build_agent, load_recipe
from forethought.sandbox import ExecResult, Limits, PoolConfig, PythonError, Sandbox
from forethought.sandbox import base as sandbox_base
from forethought.sandbox.base import WeakIsolationWarning
from forethought.tools.base import resolve_tool
from forethought.tools.python_tool import (
    PythonTool,
    PythonToolset,
    failure_message,
    format_result,
    python_tool,
    python_toolset,
)


@pytest.fixture
def warned_already() -> Iterator[None]:
    """The once-per-process isolation warning counts as given (restored afterwards)."""
    saved = set(sandbox_base._warned)  # pyright: ignore[reportPrivateUsage]
    sandbox_base._warned.update({"process", "process-same-user"})  # pyright: ignore[reportPrivateUsage]
    yield
    sandbox_base._warned.clear()  # pyright: ignore[reportPrivateUsage]
    sandbox_base._warned.update(saved)  # pyright: ignore[reportPrivateUsage]


@pytest_asyncio.fixture(params=BACKENDS)
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    async with make_sandbox(request.param, limits=Limits(wall_s=0.5)) as sb:
        yield sb


def test_a_result_is_stdout_then_the_last_value() -> None:
    assert format_result(ExecResult(stdout="a\nb\n", value="42", exit_code=0)) == "a\nb\n42"
    assert format_result(ExecResult(exit_code=0)) == "(no output)"
    long = format_result(ExecResult(stdout="x" * 10_000, exit_code=0), max_chars=300)
    assert len(long) < 400 and "[9700 characters cut]" in long
    cut = format_result(ExecResult(stdout="y" * 10, stdout_truncated=True, stdout_bytes=10**9,
                                   exit_code=0))
    assert cut == "yyyyyyyyyy\n[stdout cut: 1000000000 bytes in all]"


def test_a_failure_names_the_cause_with_the_traceback() -> None:
    error = PythonError(type="KeyError", message="'a'",
                        traceback="Traceback (most recent call last):\n  ...\nKeyError: 'a'\n")
    text = failure_message(ExecResult(stdout="partial\n", error=error, exit_code=1))
    assert text == ("the code raised KeyError\nTraceback (most recent call last):\n  ...\n"
                    "KeyError: 'a'\nstdout before that:\npartial")
    assert failure_message(ExecResult(timed_out=True, limit="wall_time", exit_code=-9)) == (
        "the code ran out of time and was stopped")
    assert failure_message(ExecResult(exit_code=2, stderr="usage")) == (
        "the code exited with status 2\nstderr:\nusage")


async def test_the_tool_returns_output_or_asks_the_model_to_fix_its_code(
        sandbox: Sandbox) -> None:
    tool = PythonTool(sandbox, max_output_chars=200)
    assert await tool.call({"code": "print('sum'); sum(range(10))"}) == "sum\n45"
    with pytest.raises(ModelRetry, match=r"(?s)the code raised ZeroDivisionError\n"
                                         r"Traceback.*line 1.*ZeroDivisionError"):
        await tool.call({"code": "1/0"})
    with pytest.raises(ModelRetry, match="the code ran out of time and was stopped"):
        await tool.call({"code": "while True: pass"})
    with pytest.raises(ModelRetry, match="the code is empty"):
        await tool.call({"code": "  "})
    with pytest.raises(ModelRetry, match=r"python takes one argument, code \(a string\)"):
        await tool.call({"source": "1"})
    assert len(await tool.call({"code": "print('z' * 5000)"})) < 300


async def test_a_stateful_tool_keeps_variables_and_survives_a_lost_session(
        sandbox: Sandbox) -> None:
    tool = PythonTool(sandbox, stateful=True)
    assert await tool.call({"code": "total = 40"}) == "(no output)"
    assert await tool.call({"code": "total + 2"}) == "42"
    with pytest.raises(ModelRetry, match="ran out of time"):
        await tool.call({"code": "while True: pass"})
    out = await tool.call({"code": "'total' in globals()"})
    assert out == "False\n[the previous session ended, so this one started empty]"
    await tool.close_session()


async def test_the_toolset_owns_its_sandbox_and_warns_once_about_weak_isolation() -> None:
    sandbox_base._warned.discard("process")  # pyright: ignore[reportPrivateUsage]
    sandbox_base._warned.discard("process-same-user")  # pyright: ignore[reportPrivateUsage]
    toolset = python_toolset(backend="process", pool=PoolConfig(size=1))
    assert toolset.tools() == []
    with pytest.warns(WeakIsolationWarning, match=r"the python tool runs model-written code "
                                                  r"in a process sandbox"):
        await toolset.start()
    sandbox = toolset.sandbox
    assert sandbox is not None and [t.name for t in toolset.tools()] == ["python"]
    await toolset.stop()
    assert toolset.sandbox is None and toolset.tools() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await toolset.start()  # once per process: no second warning
        await toolset.stop()


@pytest.mark.usefixtures("warned_already")
async def test_a_given_sandbox_is_started_but_not_closed() -> None:
    async with make_sandbox("process", pool=PoolConfig(size=1)) as sandbox:
        toolset = PythonToolset(sandbox)
        await toolset.start()
        await toolset.stop()
        assert (await sandbox.run("1 + 1")).value == "2"


def test_recipe_options_are_validated() -> None:
    built = python_tool.create({"backend": "process", "wall_s": 3, "pool_size": 1})
    assert isinstance(built, PythonToolset)
    with pytest.raises(UserError, match=r"invalid options for tool 'python': wal_s: Extra "
                                        r"inputs are not permitted"):
        python_tool.create({"wal_s": 3})
    with pytest.raises(UserError, match="pool_size=9 is larger than max_workers=2"):
        python_tool.create({"pool_size": 9, "max_workers": 2})
    assert isinstance(resolve_tool("python", {"backend": "process"}), PythonToolset)


def plan_and_join(request: ModelRequest) -> str:
    """Plan one python call, then finish with what it printed."""
    if request.purpose == "plan":
        return ('Thought: count with code.\n'
                '1. python(code="print(sum(1 for n in range(1, 1001) if n % 3 == 0 or '
                'n % 5 == 0))")\n'
                '2. join()\n')
    prompt = request.messages[-1].content
    answer = prompt.split("-> ", 1)[1].splitlines()[0]
    return f"Thought: the code counted it.\nAction: Finish({answer})"


@pytest.mark.usefixtures("warned_already")
async def test_an_agent_runs_the_python_tool_given_in_code() -> None:
    async with make_sandbox("process", pool=PoolConfig(size=1)) as sandbox:
        agent = Agent(ScriptedModel(plan_and_join), tools=[python_toolset(sandbox)],
                      store=None)
        result = await agent.arun("How many n in 1..1000 are multiples of 3 or 5?")
        assert result.ok and result.answer == "467"
        assert result.rounds[0].outputs == {"1": "467"}


@pytest.mark.usefixtures("warned_already")
async def test_an_agent_built_from_the_recipe_runs_the_python_tool() -> None:
    recipe = load_recipe(ROOT / "recipes" / "python_sandbox.yaml")
    agent = build_agent(recipe, store=None)
    agent.model = ScriptedModel(plan_and_join)
    result = await agent.arun("How many n in 1..1000 are multiples of 3 or 5?")
    assert result.ok and result.answer == "467"
    assert "python" not in agent.tools  # the toolset was stopped after the run


@pytest.mark.usefixtures("warned_already")
def test_the_sync_agent_api_starts_and_stops_the_sandbox(tmp_path: Path) -> None:
    toolset = python_toolset(backend="process", pool=PoolConfig(size=1),
                             limits=replace(Limits(), wall_s=5))
    agent = Agent(ScriptedModel(plan_and_join), tools=[toolset], store=tmp_path / "runs.db")
    result = agent.run("How many n in 1..1000 are multiples of 3 or 5?")
    agent.close()
    assert result.answer == "467" and toolset.sandbox is None
