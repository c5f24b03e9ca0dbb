"""Provider-neutral request and response types shared by every model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(kw_only=True, frozen=True, slots=True)
class ToolCall:
    """A tool call requested by the model."""

    id: str
    """Provider-assigned id, echoed back in the tool message that answers it."""
    name: str
    """Name of the tool to call."""
    arguments: str
    """Arguments exactly as the model wrote them (JSON text, possibly invalid)."""

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(kw_only=True, frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    """Tool calls made by an assistant message."""
    tool_call_id: str | None = None
    """For ``role="tool"``: which call this message answers."""

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, content: str, *, tool_call_id: str) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI chat-completions form, which LiteLLM accepts for every provider."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(kw_only=True, frozen=True, slots=True)
class ToolSpec:
    """What a model is told about a tool."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""

    def to_openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass(kw_only=True, frozen=True, slots=True)
class ModelSettings:
    """Sampling settings; ``None`` leaves the provider's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    top_p: float | None = None
    n: int = 1
    """Number of independent samples to draw in one call."""
    stop: tuple[str, ...] = ()
    timeout_s: float | None = None
    """Per-attempt timeout of the HTTP request."""


@dataclass(kw_only=True, frozen=True, slots=True)
class OutputSchema:
    """A JSON schema the reply must follow (structured output)."""

    name: str
    schema: dict[str, Any]


@dataclass(kw_only=True, frozen=True)
class ModelRequest:
    """Everything a model needs for one completion call."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "required", "none"] | None = None
    output_schema: OutputSchema | None = None
    settings: ModelSettings = field(default_factory=ModelSettings)
    purpose: str | None = None
    """What the caller wants (``"plan"``, ``"join"``, ``"answer"``, ``"judge"``...). Never sent to a
    provider; offline models and traces use it."""
    metadata: dict[str, str] = field(default_factory=dict[str, str])
    """Caller annotations (instance id, node id). Never sent to a provider."""

    def cache_payload(self) -> dict[str, Any]:
        """The parts of the request that determine the reply, for content addressing."""
        payload: dict[str, Any] = {
            "messages": [m.to_openai() for m in self.messages],
            "tools": [t.to_openai() for t in self.tools],
            "tool_choice": self.tool_choice,
            "output_schema": None if self.output_schema is None else
            {"name": self.output_schema.name, "schema": self.output_schema.schema},
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "seed": self.settings.seed,
            "n": self.settings.n,
            "stop": list(self.settings.stop),
        }
        # Added only when set, so the keys of requests that never use it stay as they were.
        if self.settings.top_p is not None:
            payload["top_p"] = self.settings.top_p
        return payload

    def prompt_chars(self) -> int:
        return sum(len(m.content) for m in self.messages)


@dataclass(kw_only=True, slots=True)
class Usage:
    """What calls cost. Adds up with ``+``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    """Summed wall time of the calls (not the makespan of a parallel run)."""
    model_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens,
                     cost_usd=self.cost_usd + other.cost_usd,
                     latency_s=self.latency_s + other.latency_s,
                     model_calls=self.model_calls + other.model_calls)

    def add(self, other: Usage) -> None:
        """Add ``other`` in place (the hot path of budget accounting)."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        self.latency_s += other.latency_s
        self.model_calls += other.model_calls

    def summary(self) -> str:
        return (f"{self.model_calls} model calls, {self.prompt_tokens}+{self.completion_tokens} "
                f"tokens, ${self.cost_usd:.4f}, {self.latency_s:.2f}s model time")


@dataclass(kw_only=True, frozen=True, slots=True)
class Choice:
    """One sample of a reply."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None


@dataclass(kw_only=True)
class ModelResponse:
    """A model's reply: one or more samples and what they cost."""

    choices: list[Choice]
    usage: Usage
    model: str
    cached: bool = False
    """True when the reply came from the response cache (then usage has zero cost)."""
    warnings: list[str] = field(default_factory=list[str])
    """What the usage counts say was cut short (a truncated prompt, a reply stopped by a full
    context window): see :mod:`forethought.models.truncation`."""

    @property
    def text(self) -> str:
        """Text of the first sample."""
        return self.choices[0].text if self.choices else ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.choices[0].tool_calls if self.choices else ()

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]

    def to_json(self) -> str:
        return json.dumps({
            "model": self.model,
            "choices": [{"text": c.text, "finish_reason": c.finish_reason,
                         "tool_calls": [{"id": t.id, "name": t.name, "arguments": t.arguments}
                                        for t in c.tool_calls]} for c in self.choices],
            "usage": {"prompt_tokens": self.usage.prompt_tokens,
                      "completion_tokens": self.usage.completion_tokens,
                      "cost_usd": self.usage.cost_usd, "latency_s": self.usage.latency_s,
                      "model_calls": self.usage.model_calls},
            **({"warnings": self.warnings} if self.warnings else {}),
        })

    @classmethod
    def from_json(cls, text: str) -> ModelResponse:
        data = json.loads(text)
        return cls(
            model=data["model"],
            choices=[Choice(text=c["text"], finish_reason=c["finish_reason"],
                            tool_calls=tuple(ToolCall(**t) for t in c["tool_calls"]))
                     for c in data["choices"]],
            usage=Usage(**data["usage"]),
            warnings=[str(w) for w in data.get("warnings", ())],
        )
