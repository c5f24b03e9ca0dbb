"""How MCP results and failures become forethought outputs and error messages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import pydantic

from forethought.exceptions import ToolArgumentError, ToolExecutionError

if TYPE_CHECKING:
    from mcp_types import CallToolResult, ContentBlock


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``[exc]``."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast(BaseExceptionGroup[BaseException], exc)
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [exc]


def validation_summary(exc: pydantic.ValidationError, limit: int = 3) -> str:
    """A one-line summary of a pydantic validation error: ``loc: message`` pairs."""
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(value)'}: {e['msg']}"
             for e in errors[:limit]]
    more = len(errors) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def describe(exc: BaseException) -> str:
    """``Type: message`` for each underlying exception, on one line."""
    parts: list[str] = []
    for leaf in leaves(exc):
        if isinstance(leaf, pydantic.ValidationError):
            parts.append(f"invalid {leaf.title}: {validation_summary(leaf)}")
        else:
            parts.append(f"{type(leaf).__name__}: {leaf}".rstrip(": "))
    return "; ".join(parts)


def render_block(block: ContentBlock) -> str:
    """One content block as text for a model (binary data is described, not inlined)."""
    from mcp_types import (
        AudioContent,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, ImageContent | AudioContent):
        kind = "image" if isinstance(block, ImageContent) else "audio"
        return f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]"
    if isinstance(block, ResourceLink):
        return f"[resource {block.name}: {block.uri}]"
    if isinstance(block, EmbeddedResource):  # pyright: ignore[reportUnnecessaryIsInstance]
        inner = block.resource
        if isinstance(inner, TextResourceContents):
            return inner.text
        return f"[resource {inner.uri}: {inner.mime_type or 'binary'}, " \
               f"{len(inner.blob) * 3 // 4} bytes]"
    return json.dumps(block.model_dump(mode="json", by_alias=True, exclude_none=True))


def tool_output(result: CallToolResult, *, remote: str, local: str) -> Any:
    """The value a model sees for an MCP tool result: the structured content when there is
    some, else the text of the content blocks. A result flagged ``isError`` raises
    :class:`ToolExecutionError` with the server's message (shown to the model).
    """
    texts = [render_block(b) for b in result.content]
    if result.is_error:
        message = "\n".join(texts).strip() or "(the server gave no message)"
        raise ToolExecutionError(f"MCP tool {remote!r} reported an error: {message}", tool=local)
    if result.structured_content is not None:
        return result.structured_content
    return texts[0] if len(texts) == 1 else "\n".join(texts)


class ArgumentChecker:
    """Checks arguments against a tool's JSON schema before they are sent to the server, so
    the model hears which argument is wrong in the same words as for local tools.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        from jsonschema import SchemaError, validators

        self._validator: Any = None
        try:
            cls: Any = validators.validator_for(schema)  # pyright: ignore[reportUnknownMemberType]
            cls.check_schema(schema)
            self._validator = cls(schema)
        except SchemaError:
            self._validator = None  # the server's schema is broken; let the server judge

    def check(self, args: dict[str, Any], *, tool: str) -> None:
        if self._validator is None:
            return
        errors: list[Any] = sorted(self._validator.iter_errors(args),
                                   key=lambda e: [str(p) for p in e.absolute_path])
        if not errors:
            return
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
            for e in errors[:5])
        raise ToolArgumentError(f"invalid arguments for tool {tool!r}: {problems}", tool=tool)
