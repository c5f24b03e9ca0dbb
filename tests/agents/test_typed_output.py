"""Typed outputs: schemas, the direct try, output calls, repair turns, validators, failures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest
from typing_extensions import TypedDict

from forethought import (
    Agent,
    Budget,
    Choice,
    ModelRequest,
    ModelRetry,
    RunContext,
    RunError,
    RunStore,
    ScriptedModel,
    UnexpectedModelBehavior,
    UserError,
)

PLAN = '1. calculator(expression="6 * 7")\n2. join()'
PROSE = "Thought: the result is in\nAction: Finish(Paris has 42 thousand bakers)"


class City(pydantic.BaseModel):
    name: str
    bakers: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Pet(TypedDict):
    kind: Literal["cat", "dog"]
    name: str


class Cat(pydantic.BaseModel):
    meows: int


class Dog(pydantic.BaseModel):
    barks: int


def script(*output_replies: str | Choice) -> ScriptedModel:
    return ScriptedModel([PLAN, PROSE, *output_replies])


def output_requests(model: ScriptedModel) -> list[ModelRequest]:
    return [r for r in model.requests if r.purpose == "output"]


def test_a_pydantic_output_comes_from_one_structured_output_call() -> None:
    model = script('{"name": "Paris", "bakers": 42}')
    agent = Agent(model, tools=["calculator"], output_type=City, store=None)
    result = agent.run("How many bakers in Paris?")
    assert result.ok and result.output == City(name="Paris", bakers=42)
    assert result.answer == "Paris has 42 thousand bakers"  # the planner's text stays
    (request,) = output_requests(model)
    assert request.output_schema is not None and request.output_schema.name == "City"
    assert request.output_schema.schema["required"] == ["name", "bakers"]
    prompt = request.messages[-1].content
    assert "How many bakers in Paris?" in prompt and "Paris has 42 thousand bakers" in prompt
    assert 'calculator returned: 42' in prompt  # the tool results are the evidence
    assert result.usage.model_calls == 3
    assert result.messages[-1].content == '{"name":"Paris","bakers":42}'


def test_an_answer_that_already_is_the_output_costs_no_call() -> None:
    model = ScriptedModel([PLAN, 'Action: Finish({"name": "Paris", "bakers": 42})'])
    agent = Agent(model, tools=["calculator"], output_type=City, store=None)
    result = agent.run("How many bakers in Paris?")
    assert result.output == City(name="Paris", bakers=42) and result.usage.model_calls == 2
    int_agent = Agent(ScriptedModel([PLAN, "Action: Finish(42)"]), tools=["calculator"],
                      output_type=int, store=None)
    assert int_agent.run("6 * 7?").output == 42


@pytest.mark.parametrize(("output_type", "reply", "expected"), [
    (Point, '{"x": 1, "y": 2}', Point(x=1, y=2)),
    (Pet, '{"kind": "cat", "name": "Tom"}', {"kind": "cat", "name": "Tom"}),
    ([Cat, Dog], '{"response": {"barks": 3}}', Dog(barks=3)),
    (list[int], '{"response": [1, 2, 3]}', [1, 2, 3]),
    (list[int], "[4, 5]", [4, 5]),  # a bare value is accepted for a wrapped schema
    (float, '```json\n{"response": 2.5}\n```', 2.5),
])
def test_dataclasses_typeddicts_unions_and_wrapped_schemas(output_type: Any, reply: str,
                                                           expected: Any) -> None:
    model = script(reply)
    result = Agent(model, tools=["calculator"], output_type=output_type, store=None).run("q?")
    assert result.output == expected
    schema = output_requests(model)[0].output_schema
    assert schema is not None and schema.schema["type"] == "object"
    if output_type in (Point, Pet):
        assert "response" not in schema.schema["properties"]
    else:
        assert schema.schema["required"] == ["response"]


def test_tool_mode_forces_a_final_result_call() -> None:
    call = ScriptedModel.tool_call("final_result", '{"name": "Lyon", "bakers": 7}')
    model = script(call)
    agent = Agent(model, tools=["calculator"], output_type=City, output_mode="tool", store=None)
    assert agent.run("Bakers in Lyon?").output == City(name="Lyon", bakers=7)
    (request,) = output_requests(model)
    assert request.tool_choice == "required" and request.output_schema is None
    assert [t.name for t in request.tools] == ["final_result"]
    assert request.tools[0].parameters["required"] == ["name", "bakers"]


def test_tool_mode_repairs_through_a_tool_message() -> None:
    bad = ScriptedModel.tool_call("final_result", '{"name": "Lyon"}', id="call_9")
    good = ScriptedModel.tool_call("final_result", '{"name": "Lyon", "bakers": 7}')
    model = script(bad, good)
    agent = Agent(model, tools=["calculator"], output_type=City, output_mode="tool", store=None)
    assert agent.run("Bakers in Lyon?").output.bakers == 7
    repair = output_requests(model)[1].messages
    assert repair[-2].tool_calls[0].id == "call_9"
    assert repair[-1].role == "tool" and repair[-1].tool_call_id == "call_9"
    assert "bakers: Field required" in repair[-1].content


def test_one_repair_turn_fixes_an_invalid_reply() -> None:
    model = script('{"name": "Paris", "bakers": "many"}', '{"name": "Paris", "bakers": 42}')
    events: list[Any] = []
    agent = Agent(model, tools=["calculator"], output_type=City, store=None,
                  subscribers=[events.append])
    assert agent.run("q?").output.bakers == 42
    second = output_requests(model)[1].messages
    assert second[-2].content == '{"name": "Paris", "bakers": "many"}'
    assert "bakers: Input should be a valid integer" in second[-1].content
    actions = [e.action for e in events if e.kind == "planner" and e.node_id == "output"]
    assert actions == ["output_invalid", "output_repaired"]


def test_a_model_that_never_gives_valid_output_raises_after_the_repair_turn(
        tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    model = script("not json at all", '{"name": "Paris"}', "never asked")
    agent = Agent(model, tools=["calculator"], output_type=City, store=store)
    with pytest.raises(UnexpectedModelBehavior,
                       match=r"no valid City output in 2 output calls \(1 repair turns\); "
                             r"last errors: the JSON does not match the schema: bakers: "
                             r"Field required") as info:
        agent.run("How many bakers in Paris?")
    assert info.value.body == '{"name": "Paris"}'
    assert len(output_requests(model)) == 2
    (run,) = store.runs()
    assert run.status == "failed" and run.finished is not None
    assert run.answer == "Paris has 42 thousand bakers"  # the planner's answer is not lost
    assert run.error is not None and "bakers: Field required" in run.error
    kinds = [e["kind"] for e in store.events(run.id)]
    assert kinds[-1] == "run_finished" and kinds.count("model_call_finished") == 4


def test_output_retries_is_configurable() -> None:
    model = script("x", "y", "z", '{"name": "Paris", "bakers": 1}')
    agent = Agent(model, tools=["calculator"], output_type=City, output_retries=3, store=None)
    assert agent.run("q?").output.bakers == 1
    with pytest.raises(UserError, match="output retries must be an integer >= 0, got -1"):
        Agent(ScriptedModel([]), output_type=City, output_retries=-1, store=None)


def test_validators_reject_with_feedback_and_see_the_context() -> None:
    model = script('{"name": "Paris", "bakers": -1}', '{"name": "Paris", "bakers": 42}')
    agent = Agent(model, tools=["calculator"], output_type=City, deps=10, store=None)
    seen: list[tuple[Any, str]] = []

    @agent.output_validator
    def positive(ctx: RunContext[int], city: City) -> City:
        seen.append((ctx.deps, ctx.question))
        if city.bakers < 0:
            raise ModelRetry("bakers cannot be negative")
        return city

    @agent.output_validator
    async def upper(city: City) -> City:
        return city.model_copy(update={"name": city.name.upper()})

    result = agent.run("How many bakers?")
    assert result.output == City(name="PARIS", bakers=42)
    assert seen == [(10, "How many bakers?")] * 2
    assert "the answer was rejected: bakers cannot be negative" in \
        output_requests(model)[1].messages[-1].content


def test_a_validator_can_reject_a_text_answer_which_is_then_revised() -> None:
    model = ScriptedModel([PLAN, "Action: Finish(forty-two)", "42"])
    agent = Agent(model, tools=["calculator"], store=None)

    @agent.output_validator
    def digits(answer: str) -> str:
        if not answer.isdigit():
            raise ModelRetry("answer with digits only")
        return answer

    result = agent.run("6 * 7?")
    assert (result.output, result.answer) == ("42", "forty-two")
    (request,) = output_requests(model)
    assert request.output_schema is None
    assert "That answer was rejected: answer with digits only" in request.messages[-1].content


def test_a_run_can_ask_for_its_own_output_type() -> None:
    agent = Agent(script('{"name": "Nice", "bakers": 3}'), tools=["calculator"], store=None)
    assert agent.run("q?", output_type=City).output == City(name="Nice", bakers=3)


class Opaque:
    pass


class HoldsOpaque(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    thing: Opaque


@pytest.mark.parametrize(("output_type", "message"), [
    (Opaque, r"output_type <class '.*Opaque'> cannot be turned into a JSON schema: Unable "
             r"to generate pydantic-core schema"),
    (HoldsOpaque, r"output_type <class '.*HoldsOpaque'> cannot be turned into a JSON schema"),
    (5, "output_type must be a type .* got 5"),
    (lambda: 1, "output_type must be a type"),
    ([], r"output_type=\[\] names no type"),
])
def test_an_output_type_without_a_json_schema_fails_at_construction(output_type: Any,
                                                                    message: str) -> None:
    with pytest.raises(UserError, match=message):
        Agent(ScriptedModel([]), output_type=output_type, store=None)
    agent = Agent(ScriptedModel([]), store=None)
    with pytest.raises(UserError, match=message):
        agent.run("q?", output_type=output_type)


def test_bad_output_mode_and_validator_signatures() -> None:
    with pytest.raises(UserError, match="output mode must be 'json' or 'tool', got 'xml'"):
        Agent(ScriptedModel([]), output_type=City, output_mode="xml", store=None)  # type: ignore[arg-type]
    agent = Agent(ScriptedModel([]), output_type=City, store=None)
    with pytest.raises(UserError, match="must take \\(output\\) or \\(ctx, output\\), got 3"):
        agent.output_validator(lambda a, b, c: a)  # type: ignore[arg-type]


def test_no_budget_for_the_output_call_keeps_the_answer_and_says_so() -> None:
    agent = Agent(script("never sent"), tools=["calculator"], output_type=City, store=None,
                  budget=Budget(max_model_calls=2))
    result = agent.run("q?")
    assert result.status == "budget_exhausted" and not result.has_output
    assert result.answer == "Paris has 42 thousand bakers"
    assert result.error is not None and "while producing the City output" in result.error
    with pytest.raises(RunError, match="has no output \\(it ended 'budget_exhausted': budget"):
        _ = result.output


def test_a_failed_run_has_no_output() -> None:
    agent = Agent(ScriptedModel(["1. join()", "Action: Replan(no)"] * 3), store=None,
                  output_type=City)
    result = agent.run("q?")
    assert result.status == "failed" and not result.has_output and result.answer is None
    with pytest.raises(RunError, match="has no output \\(it ended 'failed': no answer after"):
        _ = result.output
    assert result.new_messages[-1].content.startswith("(no answer: the run ended failed")


def test_schemas_keep_their_definitions_at_the_root() -> None:
    class Wrapper(pydantic.BaseModel):
        cities: list[City]

    model = script('{"response": [{"cities": [{"name": "A", "bakers": 1}]}]}')
    agent = Agent(model, tools=["calculator"], output_type=list[Wrapper], store=None)
    assert agent.run("q?").output[0].cities[0].name == "A"
    schema = output_requests(model)[0].output_schema
    assert schema is not None
    assert set(schema.schema["$defs"]) == {"City", "Wrapper"}
    assert json.dumps(schema.schema).count('"$ref": "#/$defs/Wrapper"') == 1
