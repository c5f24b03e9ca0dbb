"""A call's content as JSON-ready values, each text field capped: what the run store keeps of
a model call's request and reply and of a tool call's result.

Events carry the live objects (:mod:`forethought.runtime.events`); these functions turn them
into plain dicts once, when a subscriber that keeps content receives them. Every free-text
field (a message, a completion, a tool call's arguments, a tool's result) is cut to
``max_chars`` with a marker saying how much was left out, so one huge prompt cannot blow up
the store.
"""

from __future__ import annotations

from typing import Any

from forethought.models.messages import Message, ModelRequest, ModelResponse, ToolCall
from forethought.runtime.rendering import render_output

DEFAULT_FIELD_CAP = 32_000
"""Characters kept of one text field unless told otherwise."""

CUT_MARKER = "… [{} more characters not kept]"
"""Appended to a capped field; ``{}`` is the number of characters left out."""


def cap(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, with a marker when something was cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + CUT_MARKER.format(len(text) - max_chars)


def _tool_call(call: ToolCall, max_chars: int) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "arguments": cap(call.arguments, max_chars)}


def _message(message: Message, max_chars: int) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": cap(message.content, max_chars)}
    if message.tool_calls:
        out["tool_calls"] = [_tool_call(c, max_chars) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def request_content(request: ModelRequest, max_chars: int) -> dict[str, Any]:
    """The messages as sent, the tools offered (by name: their schemas repeat on every call),
    the output schema's name and the settings that differ from the provider's defaults.
    """
    settings = request.settings
    chosen: dict[str, Any] = {}
    for name in ("temperature", "max_tokens", "seed", "top_p", "timeout_s"):
        value = getattr(settings, name)
        if value is not None:
            chosen[name] = value
    if settings.n != 1:
        chosen["n"] = settings.n
    if settings.stop:
        chosen["stop"] = list(settings.stop)
    out: dict[str, Any] = {"messages": [_message(m, max_chars) for m in request.messages],
                           "settings": chosen}
    if request.tools:
        out["tools"] = [t.name for t in request.tools]
    if request.tool_choice is not None:
        out["tool_choice"] = request.tool_choice
    if request.output_schema is not None:
        out["output_schema"] = request.output_schema.name
    return out


def response_content(response: ModelResponse, max_chars: int) -> dict[str, Any]:
    """Every sample's text, tool calls and finish reason, and the model that answered."""
    choices: list[dict[str, Any]] = []
    for choice in response.choices:
        item: dict[str, Any] = {"text": cap(choice.text, max_chars),
                                "finish_reason": choice.finish_reason}
        if choice.tool_calls:
            item["tool_calls"] = [_tool_call(c, max_chars) for c in choice.tool_calls]
        choices.append(item)
    return {"model": response.model, "choices": choices}


def result_content(result: Any, max_chars: int) -> str:
    """A tool's result as the model was shown it (uncut by the event's 500 characters)."""
    return cap(render_output(result), max_chars)


def arguments_content(arguments: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """A tool call's arguments with each string value capped."""
    return {k: cap(v, max_chars) if isinstance(v, str) else v for k, v in arguments.items()}
