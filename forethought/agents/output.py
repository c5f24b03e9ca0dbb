"""Typed outputs: what a run's final answer must be, how it is obtained and validated.

``Agent(..., output_type=T)`` (or ``agent.run(q, output_type=T)``) asks for a ``T``: a pydantic
model, a dataclass, a TypedDict, a list of them (their union), or any type pydantic can
validate and describe with a JSON schema. ``str``, the default, is the planner's answer as is.

How a ``T`` is obtained, after the planner has answered (whatever the planner):

1. The planner's answer is tried as a ``T`` first (a join that wrote ``Finish({"a": 1})``,
   or ``42`` for an ``int``): when it parses, no model call is spent.
2. Otherwise one *output* call (``purpose="output"``) gives the model the question, the
   planner's answer and the tool results, and asks for the ``T``: as a JSON document
   constrained by the schema (``mode="json"``, the default) or as a forced call of a
   ``final_result`` tool whose arguments are the ``T`` (``mode="tool"``, for models whose tool
   calling is more reliable than their JSON mode).
3. Each value that parses goes through the output validators; a validator raising
   :class:`~forethought.exceptions.ModelRetry` rejects it with feedback.
4. An invalid reply (not JSON, not the schema, rejected by a validator) gets a repair turn
   with what was wrong, ``retries`` times (default once); then the run raises
   :class:`~forethought.exceptions.UnexpectedModelBehavior` with the last errors, after
   the run (and the planner's text answer) is recorded.

Schemas whose root is not an object (``int``, a list, a union) are wrapped as
``{"response": ...}``, which every provider's structured-output mode accepts; a bare value is
accepted too.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeAlias, Union, cast, get_origin

import pydantic
from pydantic.errors import PydanticUserError
from typing_extensions import TypeVar

from forethought.exceptions import BudgetExceeded, ModelRetry, UnexpectedModelBehavior, UserError
from forethought.models.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    OutputSchema,
    ToolCall,
    ToolSpec,
)
from forethought.models.structured import (
    OutputParseError,
    describe_validation_errors,
    extract_json,
)
from forethought.planners.base import PlanOutcome
from forethought.runtime.context import RunContext
from forethought.runtime.events import PlannerEvent

T = TypeVar("T")
OutputT = TypeVar("OutputT", default=str)
"""The type of a run's output (``str`` unless an ``output_type`` says otherwise)."""

OutputMode: TypeAlias = Literal["json", "tool"]
OutputTypeSpec: TypeAlias = type[T] | Sequence[type[T]]
"""A type, or a list of types meaning their union (``[Cat, Dog]`` gives ``Cat | Dog``)."""

FINAL_TOOL = "final_result"
_WRAP_KEY = "response"

OUTPUT_SYSTEM = """\
You give the final answer to the user's question in the exact form requested.
{form}
Base it on the answer that was found and the results below; do not invent facts they do not
support."""
_JSON_FORM = "Reply with only a JSON document matching this JSON schema:\n{schema}"
_TOOL_FORM = "Give it by calling the tool `final_result`, whose arguments are the answer."
REVISE_SYSTEM = """\
You revise the final answer to the user's question. Reply with the revised answer only."""


class _Missing:
    def __repr__(self) -> str:
        return "<no output>"


NO_OUTPUT: Any = _Missing()
"""Marks a result that has no output (the run did not produce one)."""


@dataclass(kw_only=True, frozen=True)
class OutputValidator(Generic[T]):
    """A function that checks (and may adjust) an output: ``fn(output)`` or
    ``fn(ctx, output)``, sync or async, returning the output to keep; raising
    :class:`ModelRetry` rejects it with feedback for the model.
    """

    fn: Callable[..., T | Awaitable[T]]
    takes_ctx: bool

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> OutputValidator[Any]:
        if not callable(fn):
            raise UserError(f"an output validator must be callable, got {fn!r}")
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                          p.POSITIONAL_OR_KEYWORD)]
        if len(params) not in (1, 2):
            raise UserError(f"output validator {_name(fn)} must take (output) or (ctx, output), "
                            f"got {len(params)} required positional parameters")
        return OutputValidator(fn=fn, takes_ctx=len(params) == 2)

    async def __call__(self, ctx: RunContext[Any], value: T) -> T:
        result = self.fn(ctx, value) if self.takes_ctx else self.fn(value)
        if inspect.isawaitable(result):
            result = await result
        return cast(T, result)


def _name(fn: object) -> str:
    return repr(getattr(fn, "__qualname__", fn))


def _resolve_type(output_type: object) -> Any:
    """A list of types is their union; anything else must look like a type."""
    if isinstance(output_type, list | tuple):
        members = cast(Sequence[object], output_type)
        if not members:
            raise UserError("output_type=[] names no type; give a type or a non-empty list")
        for member in members:
            _check_type_like(member)
        return Union[tuple(members)]  # noqa: UP007 - built from a runtime tuple  # pyright: ignore[reportInvalidTypeArguments]
    _check_type_like(output_type)
    return output_type


def _check_type_like(value: object) -> None:
    if isinstance(value, type) or get_origin(value) is not None or value is Any or value is None:
        return
    raise UserError(f"output_type must be a type (a pydantic model, dataclass, TypedDict, str, "
                    f"int, ...), a list of types, or a union, got {value!r}")


def _type_name(output_type: Any) -> str:
    name = getattr(output_type, "__name__", None) or re.sub(r"\W+", "_", str(output_type))
    return re.sub(r"[^A-Za-z0-9_-]", "_", name).strip("_")[:64] or "output"


class OutputSpec(Generic[T]):
    """What a run must output and how to check it (built once; raises :class:`UserError`
    at construction for a type that has no JSON schema).
    """

    def __init__(self, output_type: Any = str, *, mode: OutputMode = "json", retries: int = 1,
                 validators: Sequence[OutputValidator[T]] = ()) -> None:
        if mode not in ("json", "tool"):
            raise UserError(f"output mode must be 'json' or 'tool', got {mode!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"output retries must be an integer >= 0, got {retries!r}")
        self.type: Any = _resolve_type(output_type)
        self.mode: OutputMode = mode
        self.retries = retries
        self.validators: list[OutputValidator[T]] = list(validators)
        self.is_text = self.type is str
        self.name = _type_name(self.type)
        try:
            self.adapter: pydantic.TypeAdapter[T] = pydantic.TypeAdapter(self.type)
            inner = self.adapter.json_schema()
        except (PydanticUserError, TypeError, ValueError) as exc:
            first = (str(exc).splitlines()[0] if str(exc) else type(exc).__name__).rstrip(".")
            raise UserError(f"output_type {self.type!r} cannot be turned into a JSON schema: "
                            f"{first}. Use a pydantic model, a dataclass, a TypedDict, a list "
                            f"of them, or a type pydantic can describe") from None
        self.wrapped = inner.get("type") != "object"
        schema = inner
        if self.wrapped:
            # Definitions stay at the root, where the "#/$defs/..." references point.
            defs = inner.pop("$defs", None)
            schema = {"type": "object", "properties": {_WRAP_KEY: inner},
                      "required": [_WRAP_KEY], "additionalProperties": False}
            if defs is not None:
                schema["$defs"] = defs
        self.schema = OutputSchema(name=self.name, schema=schema)

    def with_validator(self, validator: OutputValidator[T]) -> None:
        self.validators.append(validator)

    def same_type(self, other: OutputSpec[Any]) -> bool:
        return self.type == other.type

    # -- reading values -------------------------------------------------------------------

    def parse(self, text: str) -> T:
        """``text`` (a JSON document, possibly fenced) as the output type, or
        :class:`OutputParseError` saying why not.
        """
        try:
            data = json.loads(extract_json(text))
        except json.JSONDecodeError as exc:
            raise OutputParseError(f"the reply is not valid JSON: {exc.msg} at line "
                                   f"{exc.lineno} column {exc.colno}") from None
        return self.validate(data)

    def validate(self, data: Any) -> T:
        if self.wrapped and isinstance(data, dict) and set(cast(dict[str, Any], data)) == {
                _WRAP_KEY}:
            data = cast(dict[str, Any], data)[_WRAP_KEY]
        try:
            return self.adapter.validate_python(data)
        except pydantic.ValidationError as exc:
            raise OutputParseError("the JSON does not match the schema: "
                                   + describe_validation_errors(exc)) from None

    def dump(self, value: T) -> str:
        """The output as text: itself for ``str``, else its JSON."""
        if self.is_text and isinstance(value, str):
            return value
        return self.adapter.dump_json(value).decode()

    # -- producing the output ---------------------------------------------------------------

    async def produce(self, ctx: RunContext[Any], question: str, outcome: PlanOutcome, *,
                      evidence: str = "") -> Produced[T]:
        """The output for ``outcome`` (the planner's answer to ``question``): see the module
        docs. A partial or missing answer gives no output; a spent budget gives no output and
        says so; a model that never gives a valid one raises :class:`UnexpectedModelBehavior`.
        """
        answer = outcome.answer
        if answer is None or outcome.partial or outcome.status in ("failed", "cancelled"):
            return Produced(reason=f"the run ended {outcome.status} without a complete answer")
        if self.is_text and not self.validators:
            return Produced(value=cast(T, answer), text=answer)
        turn = _Turn(spec=self, ctx=ctx, question=question, answer=answer, evidence=evidence)
        try:
            return await turn.run()
        except BudgetExceeded as exc:
            return Produced(reason=str(exc), budget_exhausted=True, calls=turn.calls)


@dataclass(kw_only=True)
class Produced(Generic[T]):
    """What :meth:`OutputSpec.produce` made: the value, or why there is none."""

    value: T = NO_OUTPUT
    text: str | None = None
    """The output as text (the answer, or the output's JSON)."""
    reason: str | None = None
    """Why there is no output."""
    budget_exhausted: bool = False
    calls: int = 0
    """Output calls made (0 when the planner's answer was already a valid output)."""

    @property
    def ok(self) -> bool:
        return self.value is not NO_OUTPUT


@dataclass(kw_only=True)
class _Turn(Generic[T]):
    """One output step: the direct try, then output calls with repair turns."""

    spec: OutputSpec[T]
    ctx: RunContext[Any]
    question: str
    answer: str
    evidence: str
    calls: int = 0
    messages: list[Message] = field(default_factory=list[Message])

    async def run(self) -> Produced[T]:
        spec = self.spec
        rejected: str | None = None
        try:
            value = cast(T, self.answer) if spec.is_text else spec.parse(self.answer)
        except OutputParseError:
            value = NO_OUTPUT  # the planner answered in prose: ask for the form
        if value is not NO_OUTPUT:
            try:
                value = await self._validated(value)
                return Produced(value=value, text=spec.dump(value))
            except ModelRetry as retry:
                rejected = retry.message
                self._event("output_rejected", f"the planner's answer: {retry.message}")
        self.messages = self._opening(rejected)
        feedback = ""
        reply = ""
        for attempt in range(1, self.spec.retries + 2):
            response = await self._call()
            reply = response.text
            try:
                value = await self._validated(self._read(response))
            except OutputParseError as err:
                feedback = err.feedback
            except ModelRetry as retry:
                feedback = f"the answer was rejected: {retry.message}"
            else:
                if attempt > 1:
                    self._event("output_repaired", f"attempt {attempt} gave a valid output")
                return Produced(value=value, text=spec.dump(value), calls=self.calls)
            self._event("output_invalid", f"attempt {attempt}: {feedback}")
            self.messages.extend(self._repair(response, feedback))
        raise UnexpectedModelBehavior(
            f"model {self.ctx.model.name!r} gave no valid {spec.name} output in "
            f"{self.calls} output calls ({self.spec.retries} repair turns); last errors: "
            f"{feedback}", body=reply)

    async def _validated(self, value: T) -> T:
        for validator in self.spec.validators:
            value = await validator(self.ctx, value)
        return value

    def _opening(self, rejected: str | None) -> list[Message]:
        spec = self.spec
        if spec.is_text:
            system = REVISE_SYSTEM
        else:
            form = (_JSON_FORM.format(schema=json.dumps(spec.schema.schema)) if spec.mode == "json"
                    else _TOOL_FORM)
            system = OUTPUT_SYSTEM.format(form=form)
        user = f"Question: {self.question}\n\nAnswer found: {self.answer}"
        if self.evidence:
            user += f"\n\nResults:\n{self.evidence}"
        messages = [Message.system(system), Message.user(user)]
        if rejected is not None:
            messages.append(Message.user(f"That answer was rejected: {rejected}"))
        return messages

    async def _call(self) -> ModelResponse:
        self.calls += 1
        spec = self.spec
        request = ModelRequest(messages=tuple(self.messages), purpose="output",
                               settings=ModelSettings(temperature=0.0),
                               metadata={"question": self.question, "output": spec.name})
        if not spec.is_text:
            if spec.mode == "json":
                request = replace(request, output_schema=spec.schema)
            else:
                request = replace(request, tool_choice="required", tools=(ToolSpec(
                    name=FINAL_TOOL, description=f"Give the final answer ({spec.name}).",
                    parameters=spec.schema.schema),))
        return await self.ctx.complete(request, node_id="output")

    def _read(self, response: ModelResponse) -> T:
        spec = self.spec
        if spec.is_text:
            text = response.text.strip()
            if not text:
                raise OutputParseError("the reply was empty")
            return cast(T, text)
        calls = response.tool_calls
        if spec.mode == "tool" and calls:
            call = calls[0]
            if call.name != FINAL_TOOL:
                raise OutputParseError(f"call the tool {FINAL_TOOL!r}, not {call.name!r}")
            return spec.parse(call.arguments)
        return spec.parse(response.text)

    def _repair(self, response: ModelResponse, feedback: str) -> list[Message]:
        spec = self.spec
        calls: tuple[ToolCall, ...] = response.tool_calls
        if spec.mode == "tool" and calls and not spec.is_text:
            return [Message.assistant(response.text, calls),
                    Message.tool(f"Error: {feedback}. Call {FINAL_TOOL} again with valid "
                                 f"arguments.", tool_call_id=calls[0].id)]
        again = ("Reply again with the revised answer only." if spec.is_text else
                 f"Call {FINAL_TOOL} with valid arguments." if spec.mode == "tool" else
                 "Reply again with only a JSON document matching the schema.")
        return [Message.assistant(response.text),
                Message.user(f"That reply could not be used: {feedback}. {again}")]

    def _event(self, action: str, detail: str) -> None:
        if self.ctx.events.active:
            self.ctx.events.emit(PlannerEvent(node_id="output", action=action, detail=detail))
