"""The OpenTelemetry GenAI semantic conventions as forethought applies them: attribute names,
provider names, and messages in the conventions' JSON form. Pure data, no OpenTelemetry import.

Conventions followed: the GenAI spans (inference ``chat {model}``, ``execute_tool {name}``)
and agent spans (``invoke_agent``, ``plan``) of the OpenTelemetry semantic conventions,
status Development. Message content follows the input and output messages JSON schemas.
"""

from __future__ import annotations

import json
from typing import Any

from forethought.models.messages import Message, ModelRequest, ModelResponse, ToolCall
from forethought.runtime.call_content import cap

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
AGENT_NAME = "gen_ai.agent.name"
TEMPERATURE = "gen_ai.request.temperature"
MAX_TOKENS = "gen_ai.request.max_tokens"
TOP_P = "gen_ai.request.top_p"
SEED = "gen_ai.request.seed"
STOP = "gen_ai.request.stop_sequences"
CHOICE_COUNT = "gen_ai.request.choice.count"
OUTPUT_TYPE = "gen_ai.output.type"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
ERROR_TYPE = "error.type"

REQUIRED: dict[str, tuple[str, ...]] = {
    "invoke_agent": (OPERATION, PROVIDER),
    "plan": (OPERATION,),
    "chat": (OPERATION, PROVIDER),
    "execute_tool": (OPERATION, TOOL_NAME),
}
"""The attributes each operation's span must carry (``Required`` in the conventions)."""

OFFLINE_PROVIDER = "forethought"
"""The provider of forethought's in-process offline models (a custom value, as the
conventions allow for providers not in their list)."""
_OFFLINE_MODELS = ("simulated", "scripted")

# LiteLLM's provider prefixes mapped to the conventions' well-known provider names; other
# prefixes (ollama, hosted_vllm, local, ...) are used as they are.
_PROVIDERS = {
    "openai": "openai", "text-completion-openai": "openai", "anthropic": "anthropic",
    "azure": "azure.ai.openai", "azure_ai": "azure.ai.inference", "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock", "vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini",
    "cohere": "cohere", "cohere_chat": "cohere", "mistral": "mistral_ai", "groq": "groq",
    "deepseek": "deepseek", "xai": "x_ai", "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai", "moonshot": "moonshot_ai",
}


def provider_name(model: str) -> str:
    """``gen_ai.provider.name`` for a model string (``openai/gpt-4o-mini`` -> ``openai``)."""
    if "/" in model:
        prefix = model.split("/", 1)[0]
        return _PROVIDERS.get(prefix, prefix)
    if model.split(":", 1)[0] in _OFFLINE_MODELS or not model:
        return OFFLINE_PROVIDER
    return "_OTHER"


def _arguments(raw: str) -> Any:
    # The conventions expect an object; arguments a model wrote may not parse.
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _tool_call_part(call: ToolCall, max_chars: int) -> dict[str, Any]:
    return {"type": "tool_call", "id": call.id, "name": call.name,
            "arguments": _arguments(cap(call.arguments, max_chars))}


def _message(message: Message, max_chars: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        parts.append({"type": "tool_call_response", "id": message.tool_call_id,
                      "response": cap(message.content, max_chars)})
    elif message.content:
        parts.append({"type": "text", "content": cap(message.content, max_chars)})
    parts += [_tool_call_part(c, max_chars) for c in message.tool_calls]
    return {"role": message.role, "parts": parts}


def input_messages(request: ModelRequest, max_chars: int) -> str:
    """``gen_ai.input.messages`` (a JSON string: spans take no structured values yet)."""
    return json.dumps([_message(m, max_chars) for m in request.messages], ensure_ascii=False)


def output_messages(response: ModelResponse, max_chars: int) -> str:
    """``gen_ai.output.messages``: one assistant message per sample."""
    out: list[dict[str, Any]] = []
    for choice in response.choices:
        parts: list[dict[str, Any]] = []
        if choice.text:
            parts.append({"type": "text", "content": cap(choice.text, max_chars)})
        parts += [_tool_call_part(c, max_chars) for c in choice.tool_calls]
        out.append({"role": "assistant", "parts": parts,
                    "finish_reason": choice.finish_reason or "stop"})
    return json.dumps(out, ensure_ascii=False)


def text_messages(role: str, text: str, max_chars: int, *, finish: bool = False) -> str:
    """One text message (a run's question as input, its answer as output)."""
    message: dict[str, Any] = {"role": role,
                               "parts": [{"type": "text", "content": cap(text, max_chars)}]}
    if finish:
        message["finish_reason"] = "stop"
    return json.dumps([message], ensure_ascii=False)


def request_attributes(request: ModelRequest) -> dict[str, Any]:
    """The request's sampling settings as ``gen_ai.request.*`` attributes (only those set)."""
    s = request.settings
    attrs: dict[str, Any] = {}
    for key, value in ((TEMPERATURE, s.temperature), (MAX_TOKENS, s.max_tokens),
                       (TOP_P, s.top_p), (SEED, s.seed)):
        if value is not None:
            attrs[key] = value
    if s.stop:
        attrs[STOP] = list(s.stop)
    if s.n != 1:
        attrs[CHOICE_COUNT] = s.n
    if request.output_schema is not None:
        attrs[OUTPUT_TYPE] = "json"
    return attrs


def error_type(error: str) -> str:
    """A low-cardinality ``error.type`` from an event's ``"ExceptionName: message"`` text."""
    head = error.split(":", 1)[0].strip()
    return head if head.isidentifier() else "_OTHER"
