"""agent.iter / run_stream (async and sync): events in order, streamed answer text per
planner, cancellation that leaves toolsets stopped and the store consistent, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pydantic
import pytest

from forethought import (
    Agent,
    AtomOfThoughtsPlanner,
    Event,
    ModelHTTPError,
    ModelRequest,
    ModelResponse,
    ModelTextDelta,
    ReActPlanner,
    RunError,
    RunFinished,
    RunStarted,
    RunStore,
    ScriptedModel,
    SearchPlanner,
    StrategyStep,
    Tool,
    Toolset,
    UserError,
    tool,
)
from forethought.models.base import TextCallback

PLAN = '1. calculator(expression="6 * 7")\n2. calculator(expression="$1 + 1")\n3. join()'
JOIN = "Thought: the plan worked\nAction: Finish(The answer is 43 (exactly).)"


class Chunky(ScriptedModel):
    """Streams its replies three characters at a time; counts streamed calls."""

    streamed = 0

    async def request_stream(self, request: ModelRequest, on_text: TextCallback
                             ) -> ModelResponse:
        Chunky.streamed += 1
        response = await self.request(request)
        for i in range(0, len(response.text), 3):
            on_text(response.text[i:i + 3])
            await asyncio.sleep(0)
        return response


class Lifecycle(Toolset):
    """A toolset whose one tool waits until released; records start and stop."""

    name = "lifecycle"

    def __init__(self) -> None:
        self.started = self.stopped = 0
        self.release = asyncio.Event()

        @tool
        async def wait_here() -> str:
            """Waits until the test releases it."""
            await self.release.wait()
            return "released"

        self._tool = wait_here

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    def tools(self) -> list[Tool]:
        return [self._tool]


async def collect(agent: Agent[Any, Any], question: str) -> tuple[list[Event], Any]:
    events: list[Event] = []
    async with agent.iter(question) as run:
        async for event in run:
            events.append(event)
    return events, run.result


def test_iter_yields_every_event_in_order_with_model_text() -> None:
    agent = Agent(Chunky([PLAN, JOIN]), tools=["calculator"], store=None)
    events, result = asyncio.run(collect(agent, "What is 6 * 7 + 1?"))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert result.output == "The answer is 43 (exactly)." and result.ok
    kinds = [e.kind for e in events]
    for kind in ("node_added", "node_started", "node_finished", "tool_call_started",
                 "tool_call_finished", "model_call_started", "model_call_finished",
                 "planner", "model_text_delta"):
        assert kind in kinds, kind
    deltas = [e for e in events if isinstance(e, ModelTextDelta)]
    by_call: dict[int, str] = {}
    for d in deltas:
        by_call[d.call_id] = by_call.get(d.call_id, "") + d.text
    assert list(by_call.values()) == [PLAN, JOIN]
    assert {d.purpose for d in deltas} == {"plan", "join"}
    assert all(e.run_id == result.run_id for e in events)


def test_nobody_watching_text_means_no_streaming_and_no_text_events(tmp_path: Path) -> None:
    Chunky.streamed = 0
    store = RunStore(tmp_path / "runs.sqlite")
    agent = Agent(Chunky(["1. join()", "Action: Finish(ok)"]), store=store)
    result = agent.run("ok?")
    assert Chunky.streamed == 1  # the plan, which LLMCompiler streams itself; not the join
    assert "model_text_delta" not in [e["kind"] for e in store.events(result.run_id)]
    # Watching streams every single-sample call; the store still gets no text events.
    _, watched = asyncio.run(collect(Agent(Chunky(["1. join()", "Action: Finish(ok)"]),
                                           store=store), "ok?"))
    assert Chunky.streamed == 3  # both calls of the watched run
    assert "model_text_delta" not in [e["kind"] for e in store.events(watched.run_id)]


def test_breaking_out_cancels_the_run_stops_toolsets_and_keeps_the_store_consistent(
        tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    toolset = Lifecycle()
    agent = Agent(ScriptedModel(["1. wait_here()\n2. join()", "Action: Finish(never)"]),
                  tools=[toolset], store=store)

    async def watch() -> Any:
        async with agent.iter("Wait, then answer.") as run:
            async for event in run:
                if event.kind == "tool_call_started":
                    break
        assert run.done
        return run

    run = asyncio.run(watch())
    assert (toolset.started, toolset.stopped) == (1, 1)
    assert agent.tools.names() == []  # the toolset's tools left with it
    (record,) = store.runs()
    assert (record.id, record.status, record.error) == (run.run_id, "cancelled", "cancelled")
    assert record.finished is not None
    kinds = [e["kind"] for e in store.events(record.id)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "tool_call_finished" in kinds  # the cancelled call is closed, not left dangling
    with pytest.raises(RunError, match=f"run {record.id} was cancelled before it finished"):
        _ = run.result


def test_cancel_from_inside_the_loop_and_result_before_the_end() -> None:
    toolset = Lifecycle()
    agent = Agent(ScriptedModel(["1. wait_here()\n2. join()", "Action: Finish(x)"]),
                  tools=[toolset], store=None)

    async def watch() -> None:
        async with agent.iter("q?") as run:
            async for event in run:
                if event.kind == "tool_call_started":
                    with pytest.raises(UserError, match="the run has not finished"):
                        _ = run.result
                    await run.cancel()
        assert run.done

    asyncio.run(watch())
    assert toolset.stopped == 1


def test_a_failing_run_raises_from_the_iteration_after_its_events(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    boom = ModelHTTPError("bad key", status_code=401, model="scripted")
    agent = Agent(ScriptedModel([boom]), store=store)
    seen: list[str] = []

    async def watch() -> None:
        async with agent.iter("hello?") as run:
            async for event in run:
                seen.append(event.kind)

    with pytest.raises(ModelHTTPError, match="HTTP 401"):
        asyncio.run(watch())
    assert seen[0] == "run_started" and seen[-1] == "run_finished"
    assert store.runs()[0].status == "failed"


def test_leaving_the_block_without_iterating_still_reports_a_failure() -> None:
    boom = ModelHTTPError("bad key", status_code=401, model="scripted")
    agent = Agent(ScriptedModel([boom]), store=None)

    async def watch() -> None:
        async with agent.iter("hello?") as run:
            await asyncio.sleep(0.05)  # the run fails meanwhile
            assert run.done

    with pytest.raises(ModelHTTPError):
        asyncio.run(watch())


async def stream(agent: Agent[Any, Any], question: str) -> tuple[list[str], Any]:
    deltas: list[str] = []
    async with agent.run_stream(question) as answer:
        async for text in answer:
            deltas.append(text)
    assert answer.text == "".join(deltas)
    return deltas, answer.result


def test_run_stream_streams_the_joins_finish_argument() -> None:
    agent = Agent(Chunky([PLAN, JOIN]), tools=["calculator"], store=None)
    deltas, result = asyncio.run(stream(agent, "What is 6 * 7 + 1?"))
    assert "".join(deltas) == result.output == "The answer is 43 (exactly)."
    assert len(deltas) > 5  # it arrived in pieces, not at the end
    assert not any("Thought" in d or "Action" in d for d in deltas)


def test_run_stream_with_react_and_aot_direct_answers() -> None:
    react = Agent(Chunky(['Thought: add\nAction: calculator(expression="2 + 2")',
                          "Thought: done\nAction: Finish(four, i.e. 4)"]),
                  tools=["calculator"], planner=ReActPlanner(), store=None)
    deltas, result = asyncio.run(stream(react, "2 + 2?"))
    assert "".join(deltas) == result.output == "four, i.e. 4" and len(deltas) > 2

    aot = Agent(Chunky(['{"thought": "one step", "subquestions": [{"id": 1, "question": '
                        '"2 + 2?", "depends_on": []}]}',
                        "Reasoning: two and two.\nAnswer: four (4)\n"]),
                planner=AtomOfThoughtsPlanner(), store=None)
    deltas, result = asyncio.run(stream(aot, "2 + 2?"))
    assert "".join(deltas) == result.output == "four (4)" and len(deltas) > 1


def test_run_stream_delivers_a_search_answer_whole_at_the_end() -> None:
    model = Chunky(lambda r: "Step: 2 + 2 = 4\nAnswer: 4")
    agent = Agent(model, planner=SearchPlanner(strategy={"kind": "best_of_n", "n": 2}),
                  store=None)
    deltas, result = asyncio.run(stream(agent, "2 + 2?"))
    assert deltas == ["4"] and result.output == "4"


def test_run_stream_gives_a_typed_output_as_one_validated_delta() -> None:
    class Sum(pydantic.BaseModel):
        total: int

    agent = Agent(Chunky([PLAN, JOIN, '{"total": 43}']), tools=["calculator"],
                  output_type=Sum, store=None)
    deltas, result = asyncio.run(stream(agent, "6 * 7 + 1?"))
    assert deltas == ['{"total":43}'] and result.output == Sum(total=43)


def test_strategy_progress_events() -> None:
    model = ScriptedModel(lambda r: "Step: 2 + 2 = 4\nAnswer: 4")
    agent = Agent(model, planner=SearchPlanner(strategy={"kind": "best_of_n", "n": 3}),
                  store=None)
    events, _ = asyncio.run(collect(agent, "2 + 2?"))
    steps = [e for e in events if isinstance(e, StrategyStep)]
    assert steps and steps[0].step == 1 and sum(steps[0].actions.values()) >= 1
    assert steps[0].node_id == "search" and steps[0].failed == 0


def test_sync_forms_iterate_in_a_thread_and_cancel_when_left() -> None:
    agent = Agent(Chunky([PLAN, JOIN] * 2), tools=["calculator"], store=None)
    with agent.iter_sync("What is 6 * 7 + 1?") as run:
        kinds = [event.kind for event in run]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert run.result.output == "The answer is 43 (exactly)."
    with agent.run_stream_sync("What is 6 * 7 + 1?") as answer:
        text = "".join(answer)
    assert text == answer.result.output

    toolset = Lifecycle()
    waiting = Agent(ScriptedModel(["1. wait_here()\n2. join()", "Action: Finish(x)"]),
                    tools=[toolset], store=None)
    with waiting.iter_sync("q?") as run:
        for event in run:
            if event.kind == "tool_call_started":
                break
    assert toolset.stopped == 1
    with pytest.raises(RunError, match="was cancelled"):
        _ = run.result


def test_sync_forms_refuse_a_running_loop_and_raise_run_errors() -> None:
    agent = Agent(ScriptedModel([ModelHTTPError("no", status_code=500, model="m")]),
                  store=None)

    async def inside() -> None:
        with pytest.raises(UserError, match="inside a running event loop"), \
                agent.iter_sync("q?"):
            pass

    asyncio.run(inside())
    with pytest.raises(ModelHTTPError), agent.iter_sync("q?") as run:
        list(run)


def test_a_conversation_streams_its_turns() -> None:
    agent = Agent(Chunky(["1. join()", "Action: Finish(first)", "1. join()",
                          "Action: Finish(second)"]), store=None)
    conv = agent.chat()

    async def talk() -> list[str]:
        outputs: list[str] = []
        for question in ("one?", "two?"):
            async with conv.run_stream(question) as answer:
                outputs.append("".join([t async for t in answer]))
        return outputs

    assert asyncio.run(talk()) == ["first", "second"]
    assert conv.turns == 2 and [m.content for m in conv.messages] == [
        "one?", "first", "two?", "second"]
