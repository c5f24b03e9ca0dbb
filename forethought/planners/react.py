"""ReAct (Yao et al., 2023, "ReAct: Synergizing Reasoning and Acting in Language Models",
arXiv:2210.03629): the sequential Thought / Action / Observation loop.

Each step the model sees the question and the whole transcript so far, writes a ``Thought:``
and one ``Action:`` (a tool call or ``Finish(answer)``), and the tool's result comes back as
the next ``Observation:``. Nothing runs in parallel and the prompt grows with every step: it
is the baseline the other planners are compared with.

Tool errors, unknown tools and unreadable actions come back as observations, so the model can
correct itself. After ``max_steps`` steps without ``Finish`` the run fails, keeping the last
observation as a partial answer; a spent budget also returns the last observation, marked
partial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import pydantic

from forethought.exceptions import BudgetExceeded, ToolError, UnknownNameError
from forethought.models.messages import Message, ModelRequest, ModelSettings, ToolCall
from forethought.planners.answer_stream import AnswerStream, FinishActionStream
from forethought.planners.base import Planner, PlanOutcome, describe_tools
from forethought.planners.react_actions import Finish, InvalidAction, parse_action
from forethought.runtime.context import RunContext
from forethought.runtime.events import PlannerEvent
from forethought.runtime.rendering import render_output

REACT_SYSTEM = """\
Answer the question by reasoning step by step and using tools.

Tools:
{tools}

Each turn, write exactly two lines:
Thought: <what you know so far and what to do next>
Action: <one action>
An action is a tool call such as tool_name(argument="value"), or Finish(<the final answer>)
once you know the answer. After a tool call you receive `Observation: <its result>`; never
write an observation yourself."""

_OBSERVATION = "\nObservation:"


class ReActOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    max_steps: int = pydantic.Field(default=10, ge=1, le=200, strict=True)
    """Model turns before the run gives up."""
    max_observation_chars: int = pydantic.Field(default=2000, ge=50, le=1_000_000, strict=True)
    """Longer tool results are cut to this many characters before the model sees them."""
    native_tools: bool = False
    """Also offer the tools as function definitions and take the model's native tool calls
    as actions; the first turn must call one (``tool_choice="required"``), later turns may
    (``"auto"``). Text replies are read as usual."""


@dataclass(kw_only=True)
class _Transcript:
    question: str
    messages: list[Message]
    last_observation: str | None = None
    """The latest successful tool result: the partial answer if the run stops early."""




class ReActPlanner(Planner):
    """Thought, Action, Observation, one step at a time, until ``Finish``."""

    name: ClassVar[str] = "react"
    Options: ClassVar[type[pydantic.BaseModel]] = ReActOptions

    def __init__(self, *, max_steps: int = 10, max_observation_chars: int = 2000,
                 native_tools: bool = False) -> None:
        opts = ReActOptions(max_steps=max_steps, max_observation_chars=max_observation_chars,
                            native_tools=native_tools)
        self.max_steps = opts.max_steps
        self.max_observation_chars = opts.max_observation_chars
        self.native_tools = opts.native_tools

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        transcript = _Transcript(question=question, messages=[
            Message.system(REACT_SYSTEM.format(tools=describe_tools(
                ctx.tools, empty="(no tools: reason step by step, then Finish)"))),
            Message.user(f"Question: {question}")])
        for step in range(1, self.max_steps + 1):
            try:
                finished = await self._step(ctx, transcript, step)
            except BudgetExceeded as exc:
                return PlanOutcome(answer=transcript.last_observation, status="budget_exhausted",
                                   error=str(exc), partial=True)
            if finished is not None:
                self._event(ctx, "finish", f"step {step}: {finished}")
                return PlanOutcome(answer=finished)
        self._event(ctx, "max_steps", f"no Finish after {self.max_steps} steps")
        return PlanOutcome(answer=transcript.last_observation, status="failed", partial=True,
                           error=f"ReAct reached max_steps={self.max_steps} without "
                                 f"Action: Finish(...)")

    def answer_stream(self, purpose: str | None, node_id: str | None) -> AnswerStream | None:
        """The step that writes ``Action: Finish(<answer>)`` streams it as it is written."""
        return FinishActionStream(unquote=True) if purpose == "react" else None

    async def _step(self, ctx: RunContext, transcript: _Transcript, step: int) -> str | None:
        """One turn; the final answer if the model finished, else ``None``."""
        specs = ctx.tools.specs() if self.native_tools else ()
        request = ModelRequest(
            messages=tuple(transcript.messages), purpose="react",
            tools=specs, tool_choice=("required" if step == 1 else "auto") if specs else None,
            settings=ModelSettings(temperature=0.0, stop=(_OBSERVATION,)),
            metadata={"question": transcript.question, "tools": ",".join(ctx.tools.names()),
                      "step": str(step)})
        response = await ctx.complete(request, node_id=f"step-{step}")
        reply = response.text.split(_OBSERVATION, 1)[0].rstrip()
        if response.tool_calls:
            await self._native_call(ctx, transcript, step, reply, response.tool_calls[0])
            return None
        transcript.messages.append(Message.assistant(reply))
        action = parse_action(reply, ctx.tools)
        if isinstance(action, Finish):
            return action.answer
        if isinstance(action, InvalidAction):
            self._event(ctx, "invalid_action", f"step {step}: {action.message}")
            observation = f"Invalid action: {action.message}"
        else:
            self._event(ctx, "act", f"step {step}: {action.raw}")
            observation = await self._run_tool(ctx, transcript, step, action.tool, action.args)
        if len(observation) > self.max_observation_chars:
            observation = observation[:self.max_observation_chars] + " ...(cut)"
        transcript.messages.append(Message.user(f"Observation: {observation}"))
        return None

    async def _native_call(self, ctx: RunContext, transcript: _Transcript, step: int,
                           reply: str, call: ToolCall) -> None:
        """Run a native tool call; its result goes back as the ``tool`` message answering it
        (the first call of a reply only: ReAct takes one action per turn).
        """
        transcript.messages.append(Message.assistant(reply, tool_calls=(call,)))
        self._event(ctx, "act", f"step {step}: {call.name}({call.arguments})")
        try:
            # strict=False: small models put raw newlines inside JSON strings (llama.cpp's
            # grammar lets them); the arguments are still readable.
            args: Any = json.loads(call.arguments or "{}", strict=False)
        except json.JSONDecodeError as exc:
            args = f"not JSON ({exc.msg})"
        if not isinstance(args, dict):
            problem = args if isinstance(args, str) else "not an object"
            observation = f"Invalid arguments: {problem}; give a JSON object"
        else:
            observation = await self._run_tool(ctx, transcript, step, call.name,
                                               cast(dict[str, Any], args))
        if len(observation) > self.max_observation_chars:
            observation = observation[:self.max_observation_chars] + " ...(cut)"
        transcript.messages.append(Message.tool(observation, tool_call_id=call.id))

    async def _run_tool(self, ctx: RunContext, transcript: _Transcript, step: int, name: str,
                        args: dict[str, Any]) -> str:
        try:
            result = await ctx.call_tool(name, args, node_id=f"step-{step}")
        except ToolError as exc:
            self._event(ctx, "tool_error", f"step {step}: {exc}")
            return f"Error: {exc}"
        except UnknownNameError as exc:  # a native call may name any tool; text actions cannot
            return f"Error: {exc}"
        observation = render_output(result)
        transcript.last_observation = observation
        return observation

    @staticmethod
    def _event(ctx: RunContext, action: str, detail: str) -> None:
        if ctx.events.active:
            ctx.events.emit(PlannerEvent(action=action, detail=detail))
