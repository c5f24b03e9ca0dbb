"""SimulatedModel: a seeded simulator of a language model, for offline runs and statistical tests.

It is not a language model and says so: it knows each instance's reference answer and
difficulty (from the tasks it is given, or by solving arithmetic exactly) and draws replies
with the statistics that inference-time methods depend on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from forethought.exceptions import UserError
from forethought.models.base import Model, TextCallback
from forethought.models.messages import Choice, ModelRequest, ModelResponse, Usage
from forethought.models.simulated.oracle import (
    Arithmetic,
    evaluate_steps,
    extract_answer,
    fallback_distractors,
    find_arithmetic,
    plan_mistakes,
    plan_steps,
    same_answer,
)
from forethought.models.simulated.spec import parse_spec


@dataclass(kw_only=True, frozen=True)
class SimulatedTask:
    """An instance the simulator knows the answer to."""

    id: str
    """Matched against ``request.metadata["instance_id"]``."""
    question: str
    """Matched as a substring of the request's user messages when no instance id is given."""
    answer: str
    """The reference answer."""
    difficulty: float
    """In ``[0, 1]``; the chance of a right answer falls as it rises (see
    :meth:`SimulatedModel.accuracy`)."""
    distractors: tuple[str, ...] = ()
    """Wrong answers, most tempting first. Empty: made up from the answer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "distractors", tuple(self.distractors))
        if not 0.0 <= self.difficulty <= 1.0:
            raise UserError(f"SimulatedTask {self.id!r}: difficulty must be in [0, 1], "
                            f"got {self.difficulty!r}")
        for d in self.distractors:
            if same_answer(d, self.answer):
                raise UserError(f"SimulatedTask {self.id!r}: distractor {d!r} is the answer")


@dataclass(kw_only=True, frozen=True)
class _Instance:
    task: SimulatedTask
    arithmetic: Arithmetic | None = None


@dataclass(kw_only=True, frozen=True)
class _Result:
    number: int
    tool: str
    output: str
    error: bool


_RESULT_LINE = re.compile(r"^\s*(\d+)\.\s*([A-Za-z_][\w.-]*)\((.*)\)\s*->\s*(.*?)\s*$")
_DONT_KNOW = "I don't know."


def _parse_results(text: str) -> list[_Result]:
    results: list[_Result] = []
    for line in text.splitlines():
        m = _RESULT_LINE.match(line)
        if m:
            output = m.group(4)
            results.append(_Result(number=int(m.group(1)), tool=m.group(2), output=output,
                                   error=output.upper().startswith("ERROR")))
    return results


def _tokens(chars: int) -> int:
    return max(1, chars // 4)  # about four characters per token, as ScriptedModel counts


def _check(name: str, value: float, low: float, high: float = math.inf) -> None:
    if not (low <= value <= high) or math.isnan(value):
        bounds = f"[{low}, {high}]" if high != math.inf else f">= {low}"
        raise UserError(f"SimulatedModel {name} must be {bounds}, got {value!r}")


def _int_metadata(request: ModelRequest, key: str, default: int) -> int:
    raw = request.metadata.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"request metadata {key!r} must be an integer string, got {raw!r}"
                        ) from None


class SimulatedModel(Model):
    r"""A seeded simulator of a language model (not a language model) for offline use.

    What it knows, per request: the task named by ``metadata["instance_id"]``; else the task
    whose question occurs in a user message (the longest); else an arithmetic expression in
    the question (``metadata["question"]`` or the last user message), solved exactly; else
    nothing, and it says "I don't know.".

    What it replies depends on ``request.purpose``:

    - ``"answer"``, ``None`` or anything unlisted: ``"Reasoning: ...\nAnswer: X"``; X is
      right with probability :meth:`accuracy` of the difficulty, else a distractor drawn with
      weights ``1 / rank ** distractor_skew`` (so wrong answers agree and votes can be fooled).
    - ``"judge"``: ``"Yes"``/``"No"`` on the first line for ``metadata["candidate"]`` (else an
      ``Answer:``/``Candidate:`` line of the question), wrong with probability ``judge_fpr`` on
      a wrong candidate and ``judge_fnr`` on a right one, each plus
      ``judge_difficulty_slope * (difficulty - 0.5)``.
    - ``"score"``: ``"Score: 0.83"``, normal around ``0.8 - 0.2 d`` for a right candidate and
      ``0.2 + 0.2 d`` for a wrong one with deviation ``score_noise``, clipped to ``[0, 1]``.
    - ``"plan"``: an LLMCompiler plan, one ``calculator`` task per operation then ``join()``;
      with probability ``1 - accuracy`` one task has a mistake that changes the result.
      Numbering starts after ``metadata["task_offset"]``. Without a calculator on offer
      (``metadata["tools"]``, the request's tools, else the prompt text), or for a
      non-arithmetic instance, the plan is ``join()`` alone.
    - ``"join"``: reads ``N. tool(args) -> result`` lines; replies ``Action: Replan(...)`` if a
      task failed and ``metadata["replans_left"]`` is positive, else ``Action: Finish(X)`` with
      the highest-numbered successful result (a known task's answer is drawn as for "answer").

    Randomness comes from ``(seed, hash of the request, how many times this identical request
    was made before, sample index)``, so replies do not depend on the order or interleaving of
    calls, and repeated identical calls are independent samples. ``temperature=0`` is greedy:
    every sample and repeat of a request is the same.

    Usage is simulated too: four characters per token, cost from the per-million-token prices
    (zero by default: nothing is spent), and a latency drawn from a lognormal distribution with
    mean ``mean_latency_s``. The call only waits for it with ``sleep=True`` (scaled by
    ``time_scale``); the reported latency is the drawn value either way.

    Structured output (``output_schema``) and native tool calls are not simulated.
    """

    cacheable = False

    def __init__(self, tasks: Iterable[SimulatedTask] = (), *, seed: int = 0,
                 skill: float = 0.5, steepness: float = 8.0, distractor_skew: float = 1.5,
                 judge_fpr: float = 0.15, judge_fnr: float = 0.1,
                 judge_difficulty_slope: float = 0.0, score_noise: float = 0.15,
                 mean_latency_s: float = 0.8, latency_sigma: float = 0.4,
                 input_price_per_mtok: float = 0.0, output_price_per_mtok: float = 0.0,
                 sleep: bool = False, time_scale: float = 1.0, name: str = "simulated") -> None:
        """Create a simulator.

        Args:
            tasks: Instances it knows; ids must be unique.
            seed: Seed of every random draw.
            skill: Difficulty at which a sample is right half the time (see :meth:`accuracy`).
            steepness: How sharply accuracy falls around ``skill``.
            distractor_skew: Zipf exponent of the choice among distractors (0: uniform).
            judge_fpr: Chance the judge accepts a wrong candidate (at difficulty 0.5).
            judge_fnr: Chance the judge rejects a right candidate (at difficulty 0.5).
            judge_difficulty_slope: Added to both judge error rates per unit of difficulty
                above 0.5 (0: rates do not depend on difficulty).
            score_noise: Standard deviation of ``"score"`` replies.
            mean_latency_s: Mean of the simulated latency of a call.
            latency_sigma: Shape (log-space deviation) of the latency distribution.
            input_price_per_mtok: Dollars per million prompt tokens.
            output_price_per_mtok: Dollars per million completion tokens.
            sleep: Actually wait the drawn latency (times ``time_scale``) in each call.
            time_scale: Factor applied to the wait when ``sleep`` is on.
            name: The model's name in events and usage reports.
        """
        for param, value, low, high in (
                ("steepness", steepness, 0.0, math.inf),
                ("distractor_skew", distractor_skew, 0.0, math.inf),
                ("judge_fpr", judge_fpr, 0.0, 1.0), ("judge_fnr", judge_fnr, 0.0, 1.0),
                ("score_noise", score_noise, 0.0, math.inf),
                ("mean_latency_s", mean_latency_s, 0.0, math.inf),
                ("latency_sigma", latency_sigma, 0.0, math.inf),
                ("input_price_per_mtok", input_price_per_mtok, 0.0, math.inf),
                ("output_price_per_mtok", output_price_per_mtok, 0.0, math.inf),
                ("time_scale", time_scale, 0.0, math.inf)):
            _check(param, value, low, high)
        _check("skill", skill, -math.inf)
        _check("judge_difficulty_slope", judge_difficulty_slope, -math.inf)
        self.name = name
        self.seed = seed
        self.skill = skill
        self.steepness = steepness
        self.distractor_skew = distractor_skew
        self.judge_fpr = judge_fpr
        self.judge_fnr = judge_fnr
        self.judge_difficulty_slope = judge_difficulty_slope
        self.score_noise = score_noise
        self.mean_latency_s = mean_latency_s
        self.latency_sigma = latency_sigma
        self.input_price_per_mtok = input_price_per_mtok
        self.output_price_per_mtok = output_price_per_mtok
        self.sleep = sleep
        self.time_scale = time_scale
        self._tasks: dict[str, SimulatedTask] = {}
        self._seen: Counter[str] = Counter()
        self.add_tasks(tasks)

    @classmethod
    def from_spec(cls, spec: str, *, tasks: Iterable[SimulatedTask] = ()) -> SimulatedModel:
        """A model from a string such as ``"simulated:seed=3,skill=0.6"``.

        Keys are the constructor's keyword arguments (``seed``, ``skill``, ``steepness``,
        ``distractor_skew``, ``judge_fpr``, ``judge_fnr``, ``judge_difficulty_slope``,
        ``score_noise``, ``mean_latency_s``, ``latency_sigma``, ``input_price_per_mtok``,
        ``output_price_per_mtok``, ``sleep``, ``time_scale``, ``name``).
        """
        return cls(tasks, **parse_spec(spec))

    # --- what the simulator knows ------------------------------------------------------------

    @property
    def tasks(self) -> Mapping[str, SimulatedTask]:
        """The known tasks by id (read-only)."""
        return MappingProxyType(self._tasks)

    def add_tasks(self, tasks: Iterable[SimulatedTask]) -> None:
        """Make more instances known (e.g. a dataset loaded after the model was built)."""
        for task in tasks:
            if task.id in self._tasks and self._tasks[task.id] != task:
                raise UserError(f"two different SimulatedTasks have the id {task.id!r}")
            self._tasks[task.id] = task

    def accuracy(self, difficulty: float) -> float:
        """Chance that one sample is right: ``1 / (1 + exp(steepness * (difficulty - skill)))``.

        With the defaults (skill 0.5, steepness 8): 0.98 at difficulty 0, 0.96 at 0.1, 0.5 at
        0.5, 0.04 at 0.9.
        """
        return 1.0 / (1.0 + math.exp(self.steepness * (difficulty - self.skill)))

    def judge_error_rates(self, difficulty: float) -> tuple[float, float]:
        """The judge's (false-positive, false-negative) rates at ``difficulty``."""
        shift = self.judge_difficulty_slope * (difficulty - 0.5)
        return (min(1.0, max(0.0, self.judge_fpr + shift)),
                min(1.0, max(0.0, self.judge_fnr + shift)))

    def reference(self, request: ModelRequest) -> SimulatedTask | None:
        """The instance ``request`` concerns, with its reference answer, or ``None``.

        Arithmetic instances are returned as a task with id ``"arithmetic:<expression>"``.
        """
        instance = self._resolve(request)
        return None if instance is None else instance.task

    def _resolve(self, request: ModelRequest) -> _Instance | None:
        instance_id = request.metadata.get("instance_id")
        if instance_id is not None and instance_id in self._tasks:
            return _Instance(task=self._tasks[instance_id])
        user_texts = [m.content for m in request.messages if m.role == "user"]
        best: SimulatedTask | None = None
        for task in self._tasks.values():
            if (task.question and (best is None or len(task.question) > len(best.question))
                    and any(task.question in text for text in user_texts)):
                best = task
        if best is not None:
            return _Instance(task=best)
        arithmetic = find_arithmetic(_question(request))
        if arithmetic is None:
            return None
        task = SimulatedTask(id=f"arithmetic:{arithmetic.text}", question=arithmetic.text,
                             answer=arithmetic.answer, difficulty=arithmetic.difficulty,
                             distractors=arithmetic.distractors())
        return _Instance(task=task, arithmetic=arithmetic)

    # --- calls ---------------------------------------------------------------------------------

    async def request(self, request: ModelRequest) -> ModelResponse:
        response = self._respond(request)
        await asyncio.sleep(self._wait(response))
        return response

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """Delivers the first sample line by line, the simulated wait spread over the lines."""
        response = self._respond(request)
        lines = response.text.splitlines(keepends=True)
        wait = self._wait(response)
        if not lines:
            await asyncio.sleep(wait)
        for line in lines:
            await asyncio.sleep(wait / len(lines))
            on_text(line)
        return response

    def _wait(self, response: ModelResponse) -> float:
        return response.usage.latency_s * self.time_scale if self.sleep else 0.0

    def _respond(self, request: ModelRequest) -> ModelResponse:
        payload = {"request": request.cache_payload(), "purpose": request.purpose,
                   "metadata": request.metadata}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
        key = digest.hexdigest()
        greedy = request.settings.temperature == 0
        repeat = 0 if greedy else self._seen[key]
        self._seen[key] += 1
        base = f"{self.seed}|{key}|{repeat}"
        instance = self._resolve(request)
        n = max(1, request.settings.n)
        texts = [self._sample(request, instance, _rng(base, "0" if greedy else str(i)))
                 for i in range(n)]
        prompt_tokens = _tokens(request.prompt_chars())
        completion_tokens = sum(_tokens(len(t)) for t in texts)
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      cost_usd=(prompt_tokens * self.input_price_per_mtok
                                + completion_tokens * self.output_price_per_mtok) / 1e6,
                      latency_s=self._latency(_rng(base, "latency")), model_calls=1)
        return ModelResponse(choices=[Choice(text=t, finish_reason="stop") for t in texts],
                             usage=usage, model=self.name)

    def _latency(self, rng: random.Random) -> float:
        if self.mean_latency_s == 0:
            return 0.0
        mu = math.log(self.mean_latency_s) - self.latency_sigma ** 2 / 2  # so the mean is exact
        return rng.lognormvariate(mu, self.latency_sigma)

    def _sample(self, request: ModelRequest, instance: _Instance | None,
                rng: random.Random) -> str:
        if request.purpose == "judge":
            return self._judge(request, instance, rng)
        if request.purpose == "score":
            return self._score(request, instance, rng)
        if request.purpose == "plan":
            return self._plan(request, instance, rng)
        if request.purpose == "join":
            return self._join(request, instance, rng)
        return self._answer(instance, rng)

    # --- behaviours ----------------------------------------------------------------------------

    def _draw(self, task: SimulatedTask, rng: random.Random) -> str:
        if rng.random() < self.accuracy(task.difficulty):
            return task.answer
        pool = task.distractors or fallback_distractors(task.answer)
        weights = [1.0 / (rank + 1) ** self.distractor_skew for rank in range(len(pool))]
        return rng.choices(pool, weights)[0]

    def _answer(self, instance: _Instance | None, rng: random.Random) -> str:
        if instance is None:
            return f"Reasoning: I have no way to work this out.\nAnswer: {_DONT_KNOW}"
        answer = self._draw(instance.task, rng)
        if instance.arithmetic is not None:
            reasoning = rng.choice(("I evaluate {} step by step.", "Working out {} in order.",
                                    "Computing {} one operation at a time."))
            reasoning = reasoning.format(instance.arithmetic.text)
        else:
            reasoning = rng.choice(("Recalling what I know about this.",
                                    "Thinking the question through.",
                                    "Weighing the options."))
        return f"Reasoning: {reasoning}\nAnswer: {answer}"

    def _candidate(self, request: ModelRequest) -> str | None:
        candidate = request.metadata.get("candidate")
        if candidate is None:
            last = _last_user(request)
            lines = [ln for ln in last.splitlines() if re.match(r"\s*(answer|candidate)\s*:",
                                                                ln, re.IGNORECASE)]
            candidate = lines[-1] if lines else None
        return None if candidate is None else extract_answer(candidate)

    def _judge(self, request: ModelRequest, instance: _Instance | None,
               rng: random.Random) -> str:
        candidate = self._candidate(request)
        if candidate is None:
            return "No\nNo candidate answer was given."
        if instance is None:
            return f"No\nI cannot verify this: {_DONT_KNOW}"
        fpr, fnr = self.judge_error_rates(instance.task.difficulty)
        if same_answer(candidate, instance.task.answer):
            accept = rng.random() >= fnr
        else:
            accept = rng.random() < fpr
        return ("Yes\nThe candidate answer is correct." if accept
                else "No\nThe candidate answer is wrong.")

    def _score(self, request: ModelRequest, instance: _Instance | None,
               rng: random.Random) -> str:
        candidate = self._candidate(request)
        if instance is None or candidate is None:
            return f"Score: 0.50\nI cannot assess this answer: {_DONT_KNOW}"
        d = instance.task.difficulty
        mean = 0.8 - 0.2 * d if same_answer(candidate, instance.task.answer) else 0.2 + 0.2 * d
        score = min(1.0, max(0.0, rng.gauss(mean, self.score_noise)))
        return f"Score: {score:.2f}"

    def _plan(self, request: ModelRequest, instance: _Instance | None,
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

    def _join(self, request: ModelRequest, instance: _Instance | None,
              rng: random.Random) -> str:
        results = _parse_results(_last_user(request))
        failed = [r for r in results if r.error]
        if failed and _int_metadata(request, "replans_left", 0) > 0:
            first = failed[0]
            message = " ".join(first.output.split())[:80]
            return (f"Thought: a step failed.\n"
                    f"Action: Replan(task {first.number} ({first.tool}) failed: {message})")
        succeeded = [r for r in results if not r.error]
        if instance is not None and (instance.arithmetic is None or not succeeded):
            return (f"Thought: I can answer this directly.\n"
                    f"Action: Finish({self._draw(instance.task, rng)})")
        if succeeded:
            last = max(succeeded, key=lambda r: r.number)
            return (f"Thought: task {last.number} gives the final result.\n"
                    f"Action: Finish({last.output})")
        return f"Thought: {_DONT_KNOW} I have no results to go on.\nAction: Finish({_DONT_KNOW})"


def _rng(base: str, label: str) -> random.Random:
    digest = hashlib.sha256(f"{base}|{label}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _last_user(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def _question(request: ModelRequest) -> str:
    """The question: ``metadata["question"]``, else the last user message.

    Tool result lines (which a join prompt carries) are left out.
    """
    question = request.metadata.get("question")
    if question is not None:
        return question
    return "\n".join(ln for ln in _last_user(request).splitlines() if not _RESULT_LINE.match(ln))


def _offers_calculator(request: ModelRequest) -> bool:
    listed = request.metadata.get("tools")
    if listed is not None:
        return "calculator" in {name.strip() for name in listed.split(",")}
    if request.tools:
        return any(t.name == "calculator" for t in request.tools)
    return any("calculator" in m.content.lower() for m in request.messages)
