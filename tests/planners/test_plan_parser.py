"""The LLMCompiler plan parser on plans as models really write them: markdown numbering,
bold and code around calls, descriptions first; a line it cannot read is reported, never
dropped.
"""

from __future__ import annotations

import asyncio

import pytest

from forethought.models.scripted import ScriptedModel
from forethought.planners.llmcompiler import LLMCompilerPlanner
from forethought.planners.plan_parser import (
    PlanLineError,
    PlannedTask,
    StreamingPlanParser,
    parse_task_line,
)
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, PlannerEvent
from forethought.runtime.graph import Ref
from forethought.tools.base import ToolRegistry

SUM = {"expression": "17 + 25"}


@pytest.mark.parametrize(("line", "index", "args"), [
    ('1. calculator(expression="17 + 25")', 1, SUM),
    ('**1.** calculator(expression="17 + 25")', 1, SUM),
    ('**1**. calculator(expression="17 + 25")', 1, SUM),
    ('__1.__ calculator(expression="17 + 25")', 1, SUM),
    ('1) calculator(expression="17 + 25")', 1, SUM),
    ('(1) calculator(expression="17 + 25")', 1, SUM),
    ('1: calculator(expression="17 + 25")', 1, SUM),
    ('### 1. calculator(expression="17 + 25")', 1, SUM),
    ('- 1. calculator(expression="17 + 25")', 1, SUM),
    ('* **1.** calculator(expression="17 + 25")', 1, SUM),
    ('> 1. calculator(expression="17 + 25")', 1, SUM),
    ('Task 1: calculator(expression="17 + 25")', 1, SUM),
    ('Step 1 - calculator(expression="17 + 25")', 1, SUM),
    ('1. `calculator(expression="17 + 25")`', 1, SUM),
    ('**1.** `calculator(expression="17 + 25")`', 1, SUM),
    ('1. **calculator(expression="17 + 25")**', 1, SUM),
    ('1. *calculator(expression="17 + 25")*', 1, SUM),
    ('1. **calculator**(expression="17 + 25")', 1, SUM),
    ('**1. calculator(expression="17 + 25")**', 1, SUM),
    ('1.calculator(expression="17 + 25")', 1, SUM),
    ('1. Add the numbers: calculator(expression="17 + 25")', 1, SUM),
    ('1. **Add the numbers**: `calculator(expression="17 + 25")`', 1, SUM),
    ('1. calculator(expression="17 + 25")  # the sum first', 1, SUM),
    ('1. calculator(expression="17 + 25") - the sum first', 1, SUM),
    ('1. calculator(expression="17 + 25");', 1, SUM),
    ('12. calculator(expression="$1 * (2 + 3)")', 12, None),
])
def test_decorated_task_lines_are_read(line: str, index: int, args: dict[str, str] | None
                                       ) -> None:
    task = parse_task_line(line)
    assert isinstance(task, PlannedTask), task
    assert (task.index, task.tool) == (index, "calculator")
    if args is not None:
        assert task.args == args
    assert task.raw == line.strip()


@pytest.mark.parametrize("line", ["4. join()", "**4.** join()", "**4. join()**", "- 4. `join()`",
                                  "join()", "`join()`", "**join()**"])
def test_join_in_any_dress_ends_the_plan(line: str) -> None:
    task = parse_task_line(line)
    assert isinstance(task, PlannedTask) and task.is_join


@pytest.mark.parametrize("line", [
    "", "Thought: two sums, then their product.", "**Plan:**", "```", "---",
    "Thought: I will call calculator(expression=\"1\") first.", "3.5 is close to the answer",
    "2 apples and 3 pears", "Here is the plan:",
])
def test_lines_that_are_not_tasks_are_ignored(line: str) -> None:
    assert parse_task_line(line) is None


@pytest.mark.parametrize(("line", "index", "message"), [
    ("1. First add the two numbers", 1,
     "task 1: expected `tool(arguments)`, got 'First add the two numbers'"),
    ('**2.** calculator(expression="17 + 25") and then divide by 3', 2,
     "task 2: unexpected text 'and then divide by 3' after the call to calculator"),
    ('3. calculator(expression="unterminated)', 3,
     "task 3: expected `tool(arguments)`, got 'calculator(expression=\"unterminated)'"),
    ("4. calculator(expression=oops)", 4,
     "task 4: cannot parse the arguments of calculator: bare name 'oops' is not a value; "
     "quote strings"),
    ('calculator(expression="17 + 25")', None,
     "the task 'calculator(expression=\"17 + 25\")' has no number; write each task as "
     "`N. tool(arguments)`"),
    ('- `calculator(expression="17 + 25")`', None,
     "the task '`calculator(expression=\"17 + 25\")`' has no number; write each task as "
     "`N. tool(arguments)`"),
])
def test_task_like_lines_that_cannot_be_read_are_errors(line: str, index: int | None,
                                                        message: str) -> None:
    error = parse_task_line(line)
    assert error == PlanLineError(index=index, raw=line.strip(), message=message)


GPT_STYLE = """\
Thought: I need the two sums first, then multiply them.

**Plan:**

1. **calculator**(expression="17 + 25")
2. **calculator**(expression="9 - 4")
3. **calculator**(expression="$1 * $2")
4. join()
"""

LLAMA_STYLE = """\
Here is the plan:

### Step 1
**1.** `calculator(expression="17 + 25")` - add the first pair
**2.** `calculator(expression="9 - 4")` - subtract
**3.** `calculator(expression="$1 * $2")`
**4.** `join()`

This plan computes the product.
"""

BULLETED = """\
- 1. calculator(expression="17 + 25")
- 2. calculator(expression="9 - 4")
- 3. calculator(expression="$1 * $2")
- 4. join()
"""


@pytest.mark.parametrize("plan", [GPT_STYLE, LLAMA_STYLE, BULLETED],
                         ids=["gpt", "llama", "bulleted"])
def test_whole_plans_stream_into_the_same_tasks(plan: str) -> None:
    parser = StreamingPlanParser()
    for i in range(0, len(plan), 7):  # arbitrary chunk boundaries, as a stream delivers them
        parser.feed(plan[i:i + 7])
    parser.finish()
    assert parser.errors == []
    assert [(t.index, t.tool) for t in parser.tasks] == [
        (1, "calculator"), (2, "calculator"), (3, "calculator"), (4, "join")]
    assert parser.tasks[2].args == {"expression": parser.tasks[2].args["expression"]}
    expression = parser.tasks[2].args["expression"]
    assert getattr(expression, "parts", None) == (Ref("1"), " * ", Ref("2"))
    assert parser.joined


def test_a_numbered_heading_numbers_the_call_below_it() -> None:
    parser = StreamingPlanParser()
    parser.feed("### Step 1\n`calculator(expression=\"17 + 25\")`\n\n**Step 2**\n"
                "calculator(expression=\"9 - 4\")\n### Step 3\nThe product:\n"
                "calculator(expression=\"$1 * $2\")\njoin()\n")
    parser.finish()
    assert [(t.index, t.tool) for t in parser.tasks] == [
        (1, "calculator"), (2, "calculator"), (0, "join")]
    # A prose line between the heading and the call breaks the link: the call is reported.
    (error,) = parser.errors
    assert error.index is None and error.raw == 'calculator(expression="$1 * $2")'


def run(script: ScriptedModel) -> tuple[object, list[Event], ScriptedModel]:
    events: list[Event] = []
    ctx = RunContext(model=script, tools=ToolRegistry(["calculator"]),
                     budget=BudgetTracker(budget=Budget()))
    ctx.events.subscribe(events.append)
    outcome = asyncio.run(LLMCompilerPlanner(max_replans=1).solve(ctx, "(17 + 25) * (9 - 4)?"))
    return outcome, events, script


def test_a_markdown_plan_runs() -> None:
    outcome, _, script = run(ScriptedModel([LLAMA_STYLE, "Action: Finish(210)"]))
    assert outcome.answer == "210"  # type: ignore[attr-defined]
    join_prompt = script.requests[1].messages[-1].content
    assert '**3.** `calculator(expression="$1 * $2")` -> 210' in join_prompt


def test_an_unreadable_line_is_reported_and_the_plan_redone() -> None:
    script = ScriptedModel([
        '**1.** calculator(expression="17 + 25")\n'
        "**2.** Subtract 4 from 9\n"
        'calculator(expression="$1 * 5")\n'
        "**3.** join()\n",
        "Action: Replan(task 2 is not a tool call)",
        '4. calculator(expression="9 - 4")\n5. calculator(expression="$1 * $4")\n6. join()\n',
        "Action: Finish(210)",
    ])
    outcome, events, script = run(script)
    assert outcome.answer == "210"  # type: ignore[attr-defined]
    unreadable = [e.detail for e in events
                  if isinstance(e, PlannerEvent) and e.action == "plan_line_unreadable"]
    assert unreadable == [
        "'**2.** Subtract 4 from 9': task 2: expected `tool(arguments)`, got "
        "'Subtract 4 from 9'",
        "'calculator(expression=\"$1 * 5\")': the task 'calculator(expression=\"$1 * 5\")' has "
        "no number; write each task as `N. tool(arguments)`"]
    join_prompt = script.requests[1].messages[-1].content.splitlines()
    assert join_prompt[-3:] == [
        '**1.** calculator(expression="17 + 25") -> 42',
        "**2.** Subtract 4 from 9 -> ERROR: task 2: expected `tool(arguments)`, got "
        "'Subtract 4 from 9'",
        'calculator(expression="$1 * 5") -> ERROR: the task \'calculator(expression="$1 * 5")\''
        " has no number; write each task as `N. tool(arguments)`"]
    assert [r.purpose for r in script.requests] == ["plan", "join", "plan", "join"]
