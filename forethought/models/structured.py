"""Structured output: a JSON schema from a pydantic type, parsing, and the repair prompt."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import pydantic

from forethought.models.messages import Message, OutputSchema

T = TypeVar("T")

_FENCE = re.compile(r"^```(?:json|JSON)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def output_schema_for(output_type: type[Any]) -> OutputSchema:
    """The schema sent to the model for ``output_type`` (a pydantic model or any type pydantic
    can validate).
    """
    adapter = pydantic.TypeAdapter(output_type)
    name = getattr(output_type, "__name__", "output")
    return OutputSchema(name=re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64],
                        schema=adapter.json_schema())


class OutputParseError(ValueError):
    """A reply did not parse as the expected type; ``feedback`` is what the model is told."""

    def __init__(self, feedback: str) -> None:
        self.feedback = feedback
        super().__init__(feedback)


def extract_json(text: str) -> str:
    """The JSON document in a reply, tolerating a markdown code fence around it."""
    stripped = text.strip()
    m = _FENCE.match(stripped)
    return m.group(1).strip() if m else stripped


def parse_output(text: str, output_type: type[T]) -> T:
    """Parse ``text`` as ``output_type`` or raise :class:`OutputParseError` saying why."""
    body = extract_json(text)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise OutputParseError(f"the reply is not valid JSON: {exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}") from None
    try:
        return pydantic.TypeAdapter(output_type).validate_python(data)
    except pydantic.ValidationError as exc:
        raise OutputParseError("the JSON does not match the schema: "
                               + describe_validation_errors(exc)) from None


def describe_validation_errors(exc: pydantic.ValidationError) -> str:
    """Each problem as ``field.path: message``, for a model to fix."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                     for e in exc.errors())


def repair_messages(reply: str, error: OutputParseError, schema: OutputSchema,
                    ) -> tuple[Message, ...]:
    """The turn appended after an invalid reply: the reply itself and what was wrong."""
    return (
        Message.assistant(reply),
        Message.user(f"That reply could not be used: {error.feedback}. Reply again with only a "
                     f"JSON document matching this schema:\n{json.dumps(schema.schema)}"),
    )
