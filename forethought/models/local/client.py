"""The LiteLLM client of one llama.cpp server, with what that server needs said differently.

It is :class:`~forethought.models.litellm_model.LiteLLMModel` (``openai/...`` with the
server's ``api_base``: the real client code runs) with four adjustments, each for a behaviour
of ``llama_cpp.server`` seen on this machine:

- structured output goes as ``{"type": "json_object", "schema": ...}`` (the server rejects
  ``json_schema`` with a validation error) and is enforced there by a grammar;
- ``tool_choice="required"`` with one tool becomes a call forced to that tool by name (the
  server honours only named choices; ``"required"`` alone is ignored);
- streams ask for no usage chunk (the server sends none, and LiteLLM would make up counts
  with another tokenizer); prompt tokens are counted with the model's own template and
  tokenizer (:mod:`.tokens`), completion tokens are the stream's deltas (one per token), or
  the reply re-tokenized where the server merged tokens into one chunk;
- the context window is known, so a reply the window cut short is reported.
"""

from __future__ import annotations

from typing import Any

from forethought.models.base import DEFAULT_COMPLETION_CEILING
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.local.tokens import PromptCounter
from forethought.models.messages import Choice, ModelRequest, Usage


def wire_tool_choice(request: ModelRequest) -> Any:
    """``request.tool_choice`` as the server understands it."""
    if request.tool_choice == "required" and len(request.tools) == 1:
        return {"type": "function", "function": {"name": request.tools[0].name}}
    return request.tool_choice


def wire_response_format(request: ModelRequest) -> dict[str, Any] | None:
    schema = request.output_schema
    return None if schema is None else {"type": "json_object", "schema": schema.schema}


class LlamaServerClient(LiteLLMModel):
    """Talks to one ``llama_cpp.server`` (see the module docs)."""

    stream_usage = False
    exact_prompt_count = True

    def __init__(self, model: str, *, api_base: str, counter: PromptCounter, n_ctx: int,
                 **options: Any) -> None:
        super().__init__(model, api_base=api_base, **options)
        self.counter = counter
        self.context_window = n_ctx

    def wire_messages(self, request: ModelRequest) -> list[dict[str, Any]]:
        return [m.to_openai() for m in request.messages]

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return self.counter.count(self.wire_messages(request),
                                  [t.to_openai() for t in request.tools] or None,
                                  wire_tool_choice(request), wire_response_format(request))

    def worst_case(self, request: ModelRequest) -> Usage:
        # A reply never outgrows the context window: at most what the prompt leaves of it.
        request = self.resolve_request(request)
        prompt = self.count_prompt_tokens(request)
        left = max(1, self.context_window - prompt) if self.context_window else None
        ceiling = request.settings.max_tokens or left or DEFAULT_COMPLETION_CEILING
        per_sample = min(ceiling, left) if left is not None else ceiling
        samples = max(1, request.settings.n)
        return Usage(prompt_tokens=prompt, completion_tokens=per_sample * samples, model_calls=1)

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        args = super()._arguments(request)
        args.pop("response_format", None)
        if (response_format := wire_response_format(request)) is not None:
            args["response_format"] = response_format
        if (choice := wire_tool_choice(request)) is not None:
            args["tool_choice"] = choice
        return args

    def _stream_completion_tokens(self, deltas: int, choices: list[Choice]) -> int:
        # One chunk per token, except where the server holds text back: the bytes of a
        # character split over several tokens (emoji, CJK) and a possible stop sequence come
        # out as one chunk. The text re-tokenized counts those; the larger count is taken.
        text = "".join(c.text + "".join(t.arguments for t in c.tool_calls) for c in choices)
        return max(deltas, self.counter.count_text(text)) if text else deltas

    def __repr__(self) -> str:
        return f"LlamaServerClient({self.name!r}, api_base={self.api_base!r})"
