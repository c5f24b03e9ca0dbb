"""How the simulator replies to step-by-step planners: Atom of Thoughts' ``decompose`` and
``contract`` requests and ReAct's ``react`` turns.

It knows two kinds of multi-hop questions (see :mod:`~forethought.models.simulated.multihop`):
arithmetic, solved exactly, and relation chains given as :class:`HopState` tasks.

- ``decompose``: the perfect decomposition as JSON (one sub-question per operation or hop,
  later ones referring to earlier answers as ``#id``); a single sub-question, the question
  itself, for anything else.
- ``contract``: reads the answered ``#id. sub-question -> answer`` lines and replies
  ``Question: <the new question>`` with those answers substituted, wrong ones included (a
  wrong answer leads to a question the simulator does not know, hence a wrong final answer).
  With :func:`slip_chance` one value is miscopied.
- ``react``: reads the ``Observation:`` messages so far and writes the next ``Thought:`` and
  ``Action:``: the next calculator operation, or the next ``lookup`` hop (with
  :func:`slip_chance` a number is miscopied or the wrong relation is followed), and
  ``Finish(<last observation>)`` when every step is done; without a suitable tool it answers
  at once, as the ``answer`` purpose would.
"""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction
from typing import TYPE_CHECKING

from forethought.models.messages import ModelRequest
from forethought.models.simulated.answers import format_number, parse_number, same_answer
from forethought.models.simulated.arithmetic import (
    BinOp,
    Expr,
    Neg,
    Num,
    Ref,
    find_arithmetic,
    plan_steps,
)
from forethought.models.simulated.context import current_part
from forethought.models.simulated.multihop import (
    HOP_DIFFICULTY,
    RELATIONS,
    HopNode,
    HopState,
    chain_text,
    render_expr,
    render_number,
    step_questions,
)
from forethought.models.simulated.task import Instance

if TYPE_CHECKING:
    from forethought.models.simulated.policy import Policy

STEPWISE_PURPOSES = frozenset({"decompose", "contract", "react"})
_SOLVED = re.compile(r"^\s*#(\d+)\.\s*(.+?)\s*->\s*(.*?)\s*$")
_QUESTION = re.compile(r"^\s*question\s*:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)
_DONT_KNOW = "I don't know."


def slip_chance(policy: Policy) -> float:
    """Chance of miscopying a value in a contraction or a ReAct action: half the chance of
    getting a one-operation question wrong.
    """
    return (1.0 - policy.accuracy(HOP_DIFFICULTY)) / 2


def stepwise_reply(policy: Policy, request: ModelRequest, instance: Instance | None,
                   rng: random.Random) -> str:
    """The text of one sample for a ``decompose``, ``contract`` or ``react`` request."""
    if request.purpose == "decompose":
        return decompose(request, instance)
    if request.purpose == "contract":
        return contract(policy, request, instance, rng)
    return react(policy, request, instance, rng)


def _users(request: ModelRequest) -> list[str]:
    return [m.content for m in request.messages if m.role == "user"]


def current_question(request: ModelRequest) -> str:
    """``metadata["question"]``, else the first ``Question:`` line of the first user message."""
    question = request.metadata.get("question")
    if question is not None:
        return current_part(question)
    users = _users(request)
    m = _QUESTION.search(users[0]) if users else None
    return m.group(1) if m else (users[0].strip() if users else "")


def _nodes(instance: Instance | None) -> list[HopNode] | None:
    if instance is None:
        return None
    task = instance.task
    if isinstance(task, HopState):
        return [HopNode(id=i, question=task.sub_question(i), answer=task.path[i - 1],
                        depends_on=(i - 1,) if i > 1 else ()) for i in range(1, task.hops + 1)]
    if instance.arithmetic is not None:
        return step_questions(instance.arithmetic.expr)
    return None


def decompose(request: ModelRequest, instance: Instance | None) -> str:
    nodes = _nodes(instance)
    question = current_question(request)
    subs: list[dict[str, object]]
    if not nodes or len(nodes) == 1:
        subs = [{"id": 1, "question": question, "depends_on": []}]
        thought = "This can be answered in one step."
    else:
        subs = [{"id": n.id, "question": n.question, "depends_on": list(n.depends_on)}
                for n in nodes]
        ready = sum(1 for n in nodes if not n.depends_on)
        thought = f"{len(nodes)} steps; {ready} can be answered now."
    return json.dumps({"thought": thought, "subquestions": subs})


def _solved(request: ModelRequest) -> list[tuple[str, str]]:
    """The ``(sub-question, answer)`` pairs of the last user message."""
    users = _users(request)
    out: list[tuple[str, str]] = []
    for line in (users[-1] if users else "").splitlines():
        m = _SOLVED.match(line)
        if m:
            out.append((m.group(2), m.group(3)))
    return out


def contract(policy: Policy, request: ModelRequest, instance: Instance | None,
             rng: random.Random) -> str:
    question = current_question(request)
    solved = _solved(request)
    slip = rng.random() < slip_chance(policy)
    new = question
    if instance is not None and isinstance(instance.task, HopState):
        new = _contract_hops(instance.task, solved, slip, rng)
    elif instance is not None and instance.arithmetic is not None:
        arithmetic = instance.arithmetic
        expr = _contract_expr(arithmetic.expr, solved, slip, rng)
        text = render_expr(expr)
        new = question.replace(arithmetic.text, text) if arithmetic.text in question \
            else f"What is {text}?"
    return f"Question: {new}"


def _contract_hops(task: HopState, solved: list[tuple[str, str]], slip: bool,
                   rng: random.Random) -> str:
    first = " ".join(task.sub_question(1).split())
    answer = next((a for q, a in solved if " ".join(q.split()) == first), None)
    if answer is None or task.hops < 2:
        return task.question
    start = task.path[0] if same_answer(answer, task.path[0]) else answer
    rest: tuple[str, ...] = task.relations[1:]
    if slip:  # one hop is lost, or a wrong one added, in the rewrite
        rest = rest[1:] if len(rest) > 1 else (*rest, rng.choice(RELATIONS))
    return chain_text(start, rest)


def _contract_expr(expr: Expr, solved: list[tuple[str, str]], slip: bool,
                   rng: random.Random) -> Expr:
    found: list[tuple[Expr, Fraction]] = []
    for sub_question, answer in solved:
        sub = find_arithmetic(sub_question)
        value = parse_number(answer)
        if sub is not None and value is not None:
            found.append((sub.expr, value))
    if slip and found:
        i = rng.randrange(len(found))
        found[i] = (found[i][0], found[i][1] + rng.choice((1, -1)))
    for target, value in found:
        expr, _ = _substitute(expr, target, Num(value))
    return expr


def _substitute(expr: Expr, target: Expr, replacement: Expr) -> tuple[Expr, bool]:
    """``expr`` with its first (innermost, leftmost) ``target`` sub-expression replaced."""
    match expr:
        case Num():
            return expr, False
        case Neg(operand=x):
            inner, done = _substitute(x, target, replacement)
            return Neg(inner), done
        case BinOp(op=op, left=left, right=right):
            new_left, done = _substitute(left, target, replacement)
            if done:
                return BinOp(op, new_left, right), True
            new_right, done = _substitute(right, target, replacement)
            if done:
                return BinOp(op, left, new_right), True
            return (replacement, True) if expr == target else (expr, False)


def _offered(request: ModelRequest) -> set[str]:
    listed = request.metadata.get("tools")
    if listed is not None:
        return {name.strip() for name in listed.split(",") if name.strip()}
    return {t.name for t in request.tools}


def _observations(request: ModelRequest) -> list[str]:
    """The successful observations so far (errors and invalid actions left out)."""
    out: list[str] = []
    for text in _users(request):
        if text.startswith("Observation:"):
            body = text.removeprefix("Observation:").strip()
            if not body.startswith(("Error", "Invalid action")):
                out.append(body)
    return out


def react(policy: Policy, request: ModelRequest, instance: Instance | None,
          rng: random.Random) -> str:
    if instance is None:
        return f"Thought: I have no way to work this out.\nAction: Finish({_DONT_KNOW})"
    tools = _offered(request)
    observations = _observations(request)
    slip = rng.random() < slip_chance(policy)
    task = instance.task
    if isinstance(task, HopState) and "lookup" in tools:
        if len(observations) >= task.hops:
            return f"Thought: that was the last hop.\nAction: Finish({observations[-1]})"
        k = len(observations)
        person = observations[-1] if k else task.start
        relation = rng.choice(RELATIONS) if slip else task.relations[k]
        return (f"Thought: hop {k + 1} of {task.hops}: I need the {relation} of {person}.\n"
                f'Action: lookup(person="{person}", relation="{relation}")')
    if instance.arithmetic is not None and "calculator" in tools:
        steps = plan_steps(instance.arithmetic.expr)
        values = [v for v in (parse_number(o) for o in observations) if v is not None]
        if len(values) >= len(steps):
            return f"Thought: that was the last operation.\nAction: Finish({observations[-1]})"
        step = steps[len(values)]

        def operand(x: Fraction | Ref) -> Fraction:
            if isinstance(x, Ref):
                return -values[x.index] if x.negated else values[x.index]
            return x

        left, right = operand(step.left), operand(step.right)
        if slip:
            right += rng.choice((1, -1))
        expression = f"{render_number(left)} {step.op} {render_number(right)}"
        return (f"Thought: operation {len(values) + 1} of {len(steps)}: "
                f"{format_number(left)} {step.op} {format_number(right)}.\n"
                f'Action: calculator(expression="{expression}")')
    return f"Thought: I can answer this directly.\nAction: Finish({policy.draw(task, rng)})"
