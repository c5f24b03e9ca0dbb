"""Simulated multi-hop questions: answers of sub-questions feed later ones, with a known
dependency structure and a reference answer for every node.

Two families, both generated from a seed:

- **Arithmetic** (:func:`arithmetic_question`): nested expressions such as
  ``What is ((7 + 2) * 3 - (4 + 5)) * 2?``. The simulator needs no tasks for them: it solves
  every expression, sub-expression and contraction exactly.
- **Relation chains** over a synthetic world of people (:class:`HopWorld`):
  ``Who is the landlord of the rival of the mentor of Mira Kovac?``. The questions the
  simulator must know (every sub-chain) come as :attr:`MultiHopQuestion.tasks`; the world's
  :meth:`HopWorld.lookup` answers one hop exactly and can be wrapped as a tool
  (``forethought.tool(world.lookup)``) for ReAct.

Each hop costs difficulty ``1/8``, as one arithmetic operation does, so a question's
difficulty grows with its depth in both families.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from forethought.exceptions import ModelRetry, UserError
from forethought.models.simulated.answers import format_number
from forethought.models.simulated.arithmetic import BinOp, Expr, Neg, Num, Ref, apply_op, plan_steps
from forethought.models.simulated.task import SimulatedTask

HOP_DIFFICULTY = 1 / 8
"""The difficulty one hop (or one arithmetic operation) adds."""

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(kw_only=True, frozen=True)
class HopNode:
    """One sub-question of a multi-hop question, as a perfect decomposition has it."""

    id: int
    question: str
    """The sub-question; the answer of an earlier node appears as ``#id``."""
    answer: str
    """Its reference answer."""
    depends_on: tuple[int, ...] = ()


@dataclass(kw_only=True, frozen=True)
class MultiHopQuestion:
    """A generated question with its dependency structure and reference answers."""

    id: str
    question: str
    answer: str
    nodes: tuple[HopNode, ...]
    """In dependency order: each node only depends on earlier ones; the last one answers."""
    tasks: tuple[SimulatedTask, ...] = ()
    """What a :class:`SimulatedModel` must be given to know this question (none for
    arithmetic, which it solves by itself)."""

    @property
    def depth(self) -> int:
        """The number of nodes on the longest dependency path."""
        levels: dict[int, int] = {}
        for node in self.nodes:
            levels[node.id] = 1 + max((levels[d] for d in node.depends_on), default=0)
        return max(levels.values())


# --- arithmetic --------------------------------------------------------------------------------


def render_number(value: Fraction) -> str:
    """A number as the simulator writes it inside an expression (negatives in parentheses)."""
    text = format_number(value, exact=True)
    return f"({text})" if value < 0 else text


def render_expr(expr: Expr, parent: int = 0, right: bool = False) -> str:
    """``expr`` as text with only the parentheses its structure needs."""
    match expr:
        case Num(value=v):
            return render_number(v)
        case Neg(operand=x):
            return f"-{render_expr(x, 3)}"
        case BinOp(op=op, left=left, right=rhs):
            mine = _PRECEDENCE[op]
            text = f"{render_expr(left, mine)} {op} {render_expr(rhs, mine, True)}"
            return f"({text})" if mine < parent or (right and mine == parent) else text


def step_questions(expr: Expr) -> list[HopNode]:
    """The perfect decomposition of ``expr``: one node per operation, in post-order, the
    operands that are results of other nodes written ``#id``.
    """
    steps = plan_steps(expr)
    values: list[Fraction] = []
    nodes: list[HopNode] = []

    def operand(x: Fraction | Ref) -> str:
        if isinstance(x, Ref):
            return f"{'-' if x.negated else ''}#{x.index + 1}"
        return render_number(x)

    def value(x: Fraction | Ref) -> Fraction:
        if isinstance(x, Ref):
            return -values[x.index] if x.negated else values[x.index]
        return x

    for i, step in enumerate(steps):
        deps = tuple(sorted({x.index + 1 for x in (step.left, step.right) if isinstance(x, Ref)}))
        values.append(apply_op(step.op, value(step.left), value(step.right)))
        nodes.append(HopNode(id=i + 1, question=f"What is {operand(step.left)} {step.op} "
                             f"{operand(step.right)}?", answer=format_number(values[-1]),
                             depends_on=deps))
    return nodes


def arithmetic_question(depth: int, *, seed: int = 0, branching: bool = False
                        ) -> MultiHopQuestion:
    """A nested arithmetic question whose dependency chain is ``depth`` operations long.

    With ``branching``, every level also combines an independent one-operation
    sub-expression, so each step of a decomposition has two sub-questions to solve in parallel.
    Only ``+``, ``-`` and ``*`` by small numbers are used, so every value is a whole number.
    """
    if depth < 1:
        raise UserError(f"depth must be >= 1, got {depth!r}")
    rng = random.Random(f"arithmetic|{depth}|{seed}|{branching}")
    expr: Expr = BinOp(rng.choice("+-"), Num(Fraction(rng.randint(2, 30))),
                       Num(Fraction(rng.randint(2, 30))))
    for _ in range(depth - 1):
        op = rng.choice("+-*") if not branching else rng.choice("+-")
        other: Expr = Num(Fraction(rng.randint(2, 3) if op == "*" else rng.randint(2, 30)))
        if branching:
            other = BinOp(rng.choice("+*"), Num(Fraction(rng.randint(2, 9))),
                          Num(Fraction(rng.randint(2, 9))))
        expr = BinOp(op, expr, other) if rng.random() < 0.7 or op == "-" else \
            BinOp(op, other, expr)
    nodes = tuple(step_questions(expr))
    kind = "branching" if branching else "chain"
    return MultiHopQuestion(id=f"arithmetic-{kind}-{depth}-{seed}",
                            question=f"What is {render_expr(expr)}?", answer=nodes[-1].answer,
                            nodes=nodes)


# --- relation chains ---------------------------------------------------------------------------

RELATIONS = ("mentor", "rival", "neighbour", "business partner", "oldest friend", "doctor",
             "landlord", "piano teacher")
_FIRST = ("Mira", "Ivo", "Ada", "Tomas", "Lena", "Oskar", "Nadia", "Felix", "Greta", "Hugo",
          "Iris", "Jonas", "Klara", "Luca", "Maren", "Nils", "Olga", "Pavel", "Rosa", "Sven")
_LAST = ("Kovac", "Lang", "Pell", "Moss", "Brandt", "Ferreira", "Holm", "Ibsen", "Jansen",
         "Keller", "Lindqvist", "Novak", "Ortiz", "Petrov", "Quint", "Reyes", "Sato", "Tamm")


@dataclass(kw_only=True, frozen=True)
class HopState(SimulatedTask):
    """A relation-chain question: the person reached from ``start`` by following
    ``relations`` in order (``path`` holds each person on the way).
    """

    start: str
    relations: tuple[str, ...]
    path: tuple[str, ...]

    @property
    def hops(self) -> int:
        return len(self.relations)

    def sub_question(self, hop: int) -> str:
        """Hop ``hop`` (from 1) as a decomposition writes it: from the start or from ``#hop-1``."""
        origin = self.start if hop == 1 else f"#{hop - 1}"
        return chain_text(origin, self.relations[hop - 1:hop])


def chain_text(start: str, relations: tuple[str, ...]) -> str:
    """``Who is the r3 of the r2 of the r1 of start?`` for relations ``(r1, r2, r3)``."""
    return "Who is the " + " of the ".join(reversed(relations)) + f" of {start}?"


class HopWorld:
    """A seeded world of people where every relation maps each person to another one."""

    def __init__(self, *, seed: int = 0, people: int = 60) -> None:
        if not 2 <= people <= len(_FIRST) * len(_LAST):
            raise UserError(f"people must be in [2, {len(_FIRST) * len(_LAST)}], got {people!r}")
        rng = random.Random(f"world|{seed}")
        names = [f"{f} {surname}" for f in _FIRST for surname in _LAST]
        rng.shuffle(names)
        self.seed = seed
        self.people: tuple[str, ...] = tuple(sorted(names[:people]))
        self.links: dict[str, dict[str, str]] = {
            r: {p: rng.choice([q for q in self.people if q != p]) for p in self.people}
            for r in RELATIONS}

    def lookup(self, person: str, relation: str) -> str:
        """Look up one relation of one person in the world's records.

        Args:
            person: The person's full name, e.g. "Mira Kovac".
            relation: One of: mentor, rival, neighbour, business partner, oldest friend,
                doctor, landlord, piano teacher.
        """
        table = self.links.get(relation.strip().lower())
        if table is None:
            raise ModelRetry(f"unknown relation {relation!r}; valid relations: "
                             f"{', '.join(RELATIONS)}")
        name = " ".join(person.split())
        if name not in table:
            raise ModelRetry(f"no person named {person!r} in the records")
        return table[name]

    def state(self, start: str, relations: tuple[str, ...]) -> HopState:
        """The task for following ``relations`` from ``start``."""
        path: list[str] = []
        person = start
        for r in relations:
            person = self.links[r][person]
            path.append(person)
        # The tempting wrong answers: stopping one hop early, then the last person's other ties.
        before = path[-2] if len(path) > 1 else start
        tempting = [before] + [self.links[r][before] for r in RELATIONS]
        distractors = tuple(dict.fromkeys(p for p in tempting if p != path[-1]))[:6]
        return HopState(id=f"hops:{start}:{'/'.join(relations)}",
                        question=chain_text(start, relations), answer=path[-1],
                        difficulty=min(1.0, HOP_DIFFICULTY * len(relations)),
                        distractors=distractors, start=start, relations=relations,
                        path=tuple(path))

    def question(self, depth: int, *, seed: int = 0) -> MultiHopQuestion:
        """A chain of ``depth`` hops from a random person, with every sub-chain's task."""
        if depth < 1:
            raise UserError(f"depth must be >= 1, got {depth!r}")
        rng = random.Random(f"chain|{self.seed}|{depth}|{seed}")
        start = rng.choice(self.people)
        relations = tuple(rng.choice(RELATIONS) for _ in range(depth))
        whole = self.state(start, relations)
        tasks: dict[str, SimulatedTask] = {}
        for first in range(depth):
            origin = whole.path[first - 1] if first else start
            for last in range(first + 1, depth + 1):
                task = self.state(origin, relations[first:last])
                tasks[task.id] = task
        nodes = tuple(HopNode(id=i, question=whole.sub_question(i), answer=whole.path[i - 1],
                              depends_on=(i - 1,) if i > 1 else ()) for i in range(1, depth + 1))
        return MultiHopQuestion(id=f"hops-{self.seed}-{depth}-{seed}", question=whole.question,
                                answer=whole.answer, nodes=nodes, tasks=tuple(tasks.values()))
