"""How the simulator replies, by purpose: the statistical behaviour of SimulatedModel.

Each function of the :class:`Policy` turns one request about one instance and one seeded
random generator into the text of one sample.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.simulated.answers import extract_answer, fallback_distractors, same_answer
from forethought.models.simulated.arithmetic import evaluate_steps, plan_mistakes, plan_steps
from forethought.models.simulated.multistep import is_search_request, search_reply
from forethought.models.simulated.planning import (
    AGENT_PURPOSES,
    PLAN_PURPOSES,
    SimulatedPlanTask,
    agent_reply,
    plan_reply,
)
from forethought.models.simulated.stepwise import STEPWISE_PURPOSES, stepwise_reply
from forethought.models.simulated.task import Instance, SimulatedTask

DONT_KNOW = "I don't know."
RESULT_LINE = re.compile(r"^\s*(\d+)\.\s*(.*\)|.*?)\s*->\s*(.*?)\s*$")
"""A tool result in a join prompt: ``N. tool(args) -> result`` or ``... -> ERROR: message``
(``SKIPPED: reason`` counts as a failure too)."""
_TOOL = re.compile(r"([A-Za-z_][\w.-]*)\s*\(")
_FAILED = re.compile(r"(ERROR|SKIPPED)\b", re.IGNORECASE)
_CANDIDATE_LINE = re.compile(r"\s*(answer|candidate)\s*:", re.IGNORECASE)


@dataclass(kw_only=True, frozen=True)
class _Result:
    number: int
    tool: str
    output: str
    error: bool


def _parse_results(text: str) -> list[_Result]:
    results: list[_Result] = []
    for line in text.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            tool = _TOOL.match(m.group(2))
            output = m.group(3)
            results.append(_Result(number=int(m.group(1)), tool=tool.group(1) if tool else "?",
                                   output=output, error=bool(_FAILED.match(output))))
    return results


def check(name: str, value: float, low: float, high: float = math.inf) -> None:
    """Raise :class:`UserError` unless ``low <= value <= high`` (and finite if unbounded)."""
    if math.isnan(value) or not low <= value <= high or math.isinf(value):
        bounds = f"in [{low}, {high}]" if high != math.inf else (
            f">= {low}" if low != -math.inf else "a finite number")
        raise UserError(f"SimulatedModel {name} must be {bounds}, got {value!r}")


def last_user(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def _int_metadata(request: ModelRequest, key: str, default: int) -> int:
    raw = request.metadata.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"request metadata {key!r} must be an integer string, got {raw!r}"
                        ) from None


def _offers_calculator(request: ModelRequest) -> bool:
    listed = request.metadata.get("tools")
    if listed is not None:
        return "calculator" in {name.strip() for name in listed.split(",")}
    if request.tools:
        return any(t.name == "calculator" for t in request.tools)
    return any("calculator" in m.content.lower() for m in request.messages)


def _candidate(request: ModelRequest) -> str | None:
    candidate = request.metadata.get("candidate")
    if candidate is None:
        lines = [ln for ln in last_user(request).splitlines() if _CANDIDATE_LINE.match(ln)]
        candidate = lines[-1] if lines else None
    return None if candidate is None else extract_answer(candidate)


@dataclass(kw_only=True, frozen=True)
class Policy:
    """The statistical parameters of the simulator and the replies they produce."""

    skill: float = 0.5
    steepness: float = 8.0
    distractor_skew: float = 1.5
    judge_fpr: float = 0.15
    judge_fnr: float = 0.1
    judge_difficulty_slope: float = 0.0
    score_noise: float = 0.15
    plan_error: float = 0.075
    repair_rate: float = 0.8
    extract_omission: float = 0.03
    extract_hallucination: float = 0.1
    extract_formal: float = 0.9
    extract_invalid: float = 0.05
    rating_noise: float = 0.15

    def __post_init__(self) -> None:
        check("skill", self.skill, -math.inf)
        check("steepness", self.steepness, 0.0)
        check("distractor_skew", self.distractor_skew, 0.0)
        check("judge_fpr", self.judge_fpr, 0.0, 1.0)
        check("judge_fnr", self.judge_fnr, 0.0, 1.0)
        check("judge_difficulty_slope", self.judge_difficulty_slope, -math.inf)
        check("score_noise", self.score_noise, 0.0)
        for name in ("plan_error", "repair_rate", "extract_omission", "extract_hallucination",
                     "extract_formal", "extract_invalid"):
            check(name, getattr(self, name), 0.0, 1.0)
        check("rating_noise", self.rating_noise, 0.0)

    def accuracy(self, difficulty: float) -> float:
        """``1 / (1 + exp(steepness * (difficulty - skill)))``."""
        exponent = max(-700.0, min(700.0, self.steepness * (difficulty - self.skill)))
        return 1.0 / (1.0 + math.exp(exponent))

    def judge_error_rates(self, difficulty: float) -> tuple[float, float]:
        shift = self.judge_difficulty_slope * (difficulty - 0.5)
        return (min(1.0, max(0.0, self.judge_fpr + shift)),
                min(1.0, max(0.0, self.judge_fnr + shift)))

    def reply(self, request: ModelRequest, instance: Instance | None,
              rng: random.Random) -> str:
        """The text of one sample for ``request``, by its purpose."""
        task = None if instance is None else instance.task
        if isinstance(task, SimulatedPlanTask) and request.purpose in PLAN_PURPOSES:
            return plan_reply(self, request, task, rng)
        if request.purpose in AGENT_PURPOSES:
            return agent_reply(self, request, task, rng)
        if is_search_request(request):  # propose, rollout, step, value, vote; Game of 24
            return search_reply(self, request, instance, rng)
        if request.purpose == "judge":
            return self.judge(request, instance, rng)
        if request.purpose == "score":
            return self.score(request, instance, rng)
        if request.purpose == "plan":
            return self.plan(request, instance, rng)
        if request.purpose == "join":
            return self.join(request, instance, rng)
        if request.purpose in STEPWISE_PURPOSES:  # decompose, contract (AoT), react
            return stepwise_reply(self, request, instance, rng)
        return self.answer(instance, rng)

    def draw(self, task: SimulatedTask, rng: random.Random) -> str:
        """The answer of one sample.

        Right with probability :meth:`accuracy`, else a distractor, the one of rank ``r``
        (from 1) with weight ``1 / r ** distractor_skew``.
        """
        if rng.random() < self.accuracy(task.difficulty):
            return task.answer
        pool = task.distractors or fallback_distractors(task.answer)
        weights = [1.0 / (rank + 1) ** self.distractor_skew for rank in range(len(pool))]
        return rng.choices(pool, weights)[0]

    def answer(self, instance: Instance | None, rng: random.Random) -> str:
        if instance is None:
            return f"Reasoning: I have no way to work this out.\nAnswer: {DONT_KNOW}"
        answer = self.draw(instance.task, rng)
        if instance.arithmetic is not None:
            reasoning = rng.choice(("I evaluate {} step by step.", "Working out {} in order.",
                                    "Computing {} one operation at a time."))
            reasoning = reasoning.format(instance.arithmetic.text)
        else:
            reasoning = rng.choice(("Recalling what I know about this.",
                                    "Thinking the question through.", "Weighing the options."))
        return f"Reasoning: {reasoning}\nAnswer: {answer}"

    def judge(self, request: ModelRequest, instance: Instance | None,
              rng: random.Random) -> str:
        candidate = _candidate(request)
        if candidate is None:
            return "No\nNo candidate answer was given."
        if instance is None:
            return f"No\nI cannot verify this: {DONT_KNOW}"
        fpr, fnr = self.judge_error_rates(instance.task.difficulty)
        if same_answer(candidate, instance.task.answer):
            accept = rng.random() >= fnr
        else:
            accept = rng.random() < fpr
        return ("Yes\nThe candidate answer is correct." if accept
                else "No\nThe candidate answer is wrong.")

    def score(self, request: ModelRequest, instance: Instance | None,
              rng: random.Random) -> str:
        candidate = _candidate(request)
        if instance is None or candidate is None:
            return f"Score: 0.50\nI cannot assess this answer: {DONT_KNOW}"
        d = instance.task.difficulty
        mean = 0.8 - 0.2 * d if same_answer(candidate, instance.task.answer) else 0.2 + 0.2 * d
        return f"Score: {min(1.0, max(0.0, rng.gauss(mean, self.score_noise))):.2f}"

    def plan(self, request: ModelRequest, instance: Instance | None,
             rng: random.Random) -> str:
        offset = _int_metadata(request, "task_offset", 0)
        if instance is None or instance.arithmetic is None or not _offers_calculator(request):
            return f"{offset + 1}. join()"
        arithmetic = instance.arithmetic
        steps = plan_steps(arithmetic.expr)
        if rng.random() >= self.accuracy(arithmetic.difficulty):
            mistakes = list(plan_mistakes(steps))
            rng.shuffle(mistakes)
            for mistake in mistakes:
                try:
                    if evaluate_steps(mistake) != arithmetic.value:
                        steps = mistake
                        break
                except ZeroDivisionError:
                    continue
        lines = [f'{offset + i + 1}. calculator(expression="{step.render(offset)}")'
                 for i, step in enumerate(steps)]
        lines.append(f"{offset + len(steps) + 1}. join()")
        return "\n".join(lines)

    def join(self, request: ModelRequest, instance: Instance | None,
             rng: random.Random) -> str:
        results = _parse_results(last_user(request))
        failed = [r for r in results if r.error]
        if failed and _int_metadata(request, "replans_left", 0) > 0:
            first = failed[0]
            message = re.sub(r"^ERROR\s*:?\s*", "", first.output, flags=re.IGNORECASE)
            message = " ".join(message.split())[:80]
            return (f"Thought: a step failed.\n"
                    f"Action: Replan(task {first.number} ({first.tool}) failed: {message})")
        succeeded = [r for r in results if not r.error]
        if instance is not None and (instance.arithmetic is None or not succeeded):
            return (f"Thought: I can answer this directly.\n"
                    f"Action: Finish({self.draw(instance.task, rng)})")
        if succeeded:
            last = max(succeeded, key=lambda r: r.number)
            return (f"Thought: task {last.number} gives the final result.\n"
                    f"Action: Finish({last.output})")
        return f"Thought: I have no results to go on.\nAction: Finish({DONT_KNOW})"
