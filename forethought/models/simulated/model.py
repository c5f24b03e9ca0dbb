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
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from forethought.exceptions import UserError
from forethought.models.base import Model, TextCallback
from forethought.models.messages import Choice, ModelRequest, ModelResponse, Usage
from forethought.models.simulated.arithmetic import find_arithmetic
from forethought.models.simulated.context import current_part
from forethought.models.simulated.policy import RESULT_LINE, Policy, check, last_user
from forethought.models.simulated.profile import (
    PROFILE_SKILL,
    PROFILE_STEEPNESS,
    Profile,
    load_profile,
)
from forethought.models.simulated.providers import recognise
from forethought.models.simulated.spec import parse_spec
from forethought.models.simulated.task import Instance, SimulatedTask


class SimulatedModel(Model):
    r"""A seeded simulator of a language model (not a language model) for offline use.

    What it knows, per request: the task named by ``metadata["instance_id"]``; else the task
    whose question occurs in a user message (the longest); else the task a registered task
    pack recognises in the question (``metadata["question"]`` or the last user message; see
    :mod:`~forethought.models.simulated.providers`); else an arithmetic expression in the
    question, solved exactly; else nothing, and it says "I don't know.".

    What it replies depends on ``request.purpose``:

    - ``"answer"``, ``None`` or anything unlisted: ``"Reasoning: ...\nAnswer: X"``; X is right
      with probability :meth:`accuracy` of the difficulty, else a distractor drawn with weight
      ``1 / rank ** distractor_skew`` (so wrong answers agree and votes can be fooled).
    - ``"judge"``: ``Yes`` or ``No`` on the first line for ``metadata["candidate"]`` (else the
      last ``Answer:``/``Candidate:`` line of the prompt), wrong with probability ``judge_fpr``
      on a wrong candidate and ``judge_fnr`` on a right one, each plus
      ``judge_difficulty_slope * (difficulty - 0.5)``.
    - ``"score"``: ``"Score: 0.83"``, normal around ``0.8 - 0.2 d`` for a right candidate and
      ``0.2 + 0.2 d`` for a wrong one with deviation ``score_noise``, clipped to ``[0, 1]``.
    - ``"plan"``: an LLMCompiler plan, one ``calculator`` task per operation then ``join()``;
      with probability ``1 - accuracy`` one task has a mistake that changes the result.
      Numbering starts after ``metadata["task_offset"]``. Without a calculator on offer
      (``metadata["tools"]``, else the request's tools, else the prompt text), or for a
      non-arithmetic instance, the plan is ``join()`` alone.
    - ``"rollout"``, ``"refine"``, ``"constraints"``, ``"verify"``, ``"complexity"`` and the
      graders on a planning instance (:class:`~forethought.models.simulated.planning.
      SimulatedPlanTask`): plans that neglect constraints, refinement with feedback,
      constraint extraction, judgements and ratings (see
      :mod:`~forethought.models.simulated.planning`).
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

    Native tool calls are not simulated; structured output only for constraint extraction
    (the reply is the JSON itself, as a model following the schema would write it).
    """

    cacheable = False

    def __init__(self, tasks: Iterable[SimulatedTask] = (), *, seed: int = 0,
                 skill: float = 0.5, steepness: float = 8.0, distractor_skew: float = 1.5,
                 judge_fpr: float = 0.15, judge_fnr: float = 0.1,
                 judge_difficulty_slope: float = 0.0, score_noise: float = 0.15,
                 plan_error: float = 0.075, repair_rate: float = 0.8,
                 extract_omission: float = 0.03, extract_hallucination: float = 0.1,
                 extract_formal: float = 0.9, extract_invalid: float = 0.05,
                 rating_noise: float = 0.15, mean_latency_s: float = 0.8,
                 latency_sigma: float = 0.4,
                 input_price_per_mtok: float = 0.0, output_price_per_mtok: float = 0.0,
                 sleep: bool = False, time_scale: float = 1.0, name: str = "simulated",
                 profile: str | Path | Profile | None = None) -> None:
        """Create a simulator.

        Args:
            tasks: Instances it knows; ids must be unique.
            seed: Seed of every random draw.
            skill: Difficulty at which a sample is right half the time (see :meth:`accuracy`).
            steepness: How sharply accuracy falls around ``skill`` (0: always one half).
            distractor_skew: Zipf exponent of the choice among distractors (0: uniform).
            judge_fpr: Chance the judge accepts a wrong candidate (at difficulty 0.5).
            judge_fnr: Chance the judge rejects a right candidate (at difficulty 0.5).
            judge_difficulty_slope: Added to both judge error rates per unit of difficulty
                above 0.5 (0, the default: the rates do not depend on difficulty).
            score_noise: Standard deviation of ``"score"`` replies.
            plan_error: Chance that a plan neglects any one constraint of a planning
                instance (see :mod:`~forethought.models.simulated.planning`).
            repair_rate: Chance that feedback naming a violated constraint makes a refined
                plan attend to it.
            extract_omission: Chance that constraint extraction leaves a constraint out.
            extract_hallucination: Chance that it adds a constraint the instance lacks.
            extract_formal: Chance that it writes a constraint's formal check.
            extract_invalid: Chance that an extraction reply is malformed.
            rating_noise: Standard deviation of complexity ratings around the true
                difficulty.
            mean_latency_s: Mean of the simulated latency of a call.
            latency_sigma: Log-space standard deviation of the latency.
            input_price_per_mtok: Dollars per million prompt tokens (0: simulated calls are free).
            output_price_per_mtok: Dollars per million completion tokens.
            sleep: Actually wait the drawn latency (times ``time_scale``) in each call.
            time_scale: Factor applied to the wait when ``sleep`` is on.
            name: The model's name in events and usage reports.
            profile: A calibration profile (a shipped name such as ``"smollm2-arith"``, or a
                JSON file; see :mod:`forethought.models.simulated.profile`): arithmetic
                questions get the accuracy the profiled real model had on their kind, and
                wrong answers its concentration (``distractor_skew``). It sets ``skill`` and
                ``steepness`` for that mapping, so those two may not be given with it.
        """
        self.profile = load_profile(profile) if profile is not None else None
        if self.profile is not None:
            if (skill, steepness) != (0.5, 8.0):
                raise UserError("SimulatedModel: a profile sets skill and steepness; give "
                                "one or the other")
            skill, steepness = PROFILE_SKILL, PROFILE_STEEPNESS
            distractor_skew = self.profile.distractor_skew
        self.policy = Policy(skill=skill, steepness=steepness, distractor_skew=distractor_skew,
                             judge_fpr=judge_fpr, judge_fnr=judge_fnr,
                             judge_difficulty_slope=judge_difficulty_slope,
                             score_noise=score_noise, plan_error=plan_error,
                             repair_rate=repair_rate, extract_omission=extract_omission,
                             extract_hallucination=extract_hallucination,
                             extract_formal=extract_formal, extract_invalid=extract_invalid,
                             rating_noise=rating_noise)
        for param, value in (("mean_latency_s", mean_latency_s), ("latency_sigma", latency_sigma),
                             ("input_price_per_mtok", input_price_per_mtok),
                             ("output_price_per_mtok", output_price_per_mtok),
                             ("time_scale", time_scale)):
            check(param, value, 0.0)
        self.name = name
        self.seed = seed
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
        """A model from a string such as ``"simulated"`` or ``"simulated:seed=3,skill=0.6"``.

        The keys are the constructor's keyword arguments (listed in
        :data:`~forethought.models.simulated.SPEC_KEYS`); ``sleep`` takes true/false. Raises
        :class:`~forethought.exceptions.UserError` naming a bad key or value.
        """
        return cls(tasks, **parse_spec(spec))

    # --- what the simulator knows ----------------------------------------------------------

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
        0.5, 0.04 at 0.9, 0.02 at 1. The same chance governs a plan being free of mistakes.
        """
        return self.policy.accuracy(difficulty)

    def judge_error_rates(self, difficulty: float) -> tuple[float, float]:
        """The judge's (false-positive, false-negative) rates at ``difficulty``.

        Each is the configured rate plus ``judge_difficulty_slope * (difficulty - 0.5)``,
        clipped to ``[0, 1]``.
        """
        return self.policy.judge_error_rates(difficulty)

    def reference(self, request: ModelRequest) -> SimulatedTask | None:
        """The instance ``request`` concerns, with its reference answer, or ``None``.

        An arithmetic instance comes back as a task with id ``"arithmetic:<expression>"``.
        """
        instance = self._resolve(request)
        return None if instance is None else instance.task

    def _resolve(self, request: ModelRequest) -> Instance | None:
        instance_id = request.metadata.get("instance_id")
        if instance_id is not None and instance_id in self._tasks:
            return Instance(task=self._tasks[instance_id])
        user_texts = [m.content for m in request.messages if m.role == "user"]
        best: SimulatedTask | None = None
        for task in self._tasks.values():
            if (task.question and (best is None or len(task.question) > len(best.question))
                    and any(task.question in text for text in user_texts)):
                best = task
        if best is not None:
            return Instance(task=best)
        question = _question(request)
        known = recognise(question) if question.strip() else None
        if known is not None:
            self.add_tasks([known])
            return Instance(task=known)
        instance = _arithmetic_instance(question)
        if instance is not None and self.profile is not None and instance.arithmetic:
            task = replace(instance.task, difficulty=self.profile.difficulty(instance.arithmetic))
            instance = replace(instance, task=task)
        return instance

    # --- calls -----------------------------------------------------------------------------

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

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_price_per_mtok
                + completion_tokens * self.output_price_per_mtok) / 1e6

    def _wait(self, response: ModelResponse) -> float:
        return response.usage.latency_s * self.time_scale if self.sleep else 0.0

    def _respond(self, request: ModelRequest) -> ModelResponse:
        payload = {"request": request.cache_payload(), "purpose": request.purpose,
                   "metadata": request.metadata}
        key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        greedy = request.settings.temperature == 0
        repeat = 0 if greedy else self._seen[key]
        self._seen[key] += 1
        base = f"{self.seed}|{key}|{repeat}"
        instance = self._resolve(request)
        texts = [self.policy.reply(request, instance, _rng(base, "0" if greedy else str(i)))
                 for i in range(max(1, request.settings.n))]
        prompt_tokens = _tokens(request.prompt_chars())
        completion_tokens = sum(_tokens(len(t)) for t in texts)
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      cost_usd=self.price(prompt_tokens, completion_tokens),
                      latency_s=self._latency(_rng(base, "latency")), model_calls=1)
        return ModelResponse(choices=[Choice(text=t, finish_reason="stop") for t in texts],
                             usage=usage, model=self.name)

    def _latency(self, rng: random.Random) -> float:
        if self.mean_latency_s == 0:
            return 0.0
        mu = math.log(self.mean_latency_s) - self.latency_sigma**2 / 2  # so the mean is exact
        return rng.lognormvariate(mu, self.latency_sigma)


@lru_cache(maxsize=1024)
def _arithmetic_instance(question: str) -> Instance | None:
    arithmetic = find_arithmetic(question)
    if arithmetic is None:
        return None
    return Instance(task=SimulatedTask.from_arithmetic(arithmetic), arithmetic=arithmetic)


def _tokens(chars: int) -> int:
    return max(1, chars // 4)  # about four characters per token, as ScriptedModel counts


def _rng(base: str, label: str) -> random.Random:
    digest = hashlib.sha256(f"{base}|{label}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _question(request: ModelRequest) -> str:
    """The question: ``metadata["question"]``, else the last user message.

    Tool result lines (which a join prompt carries) are left out.
    """
    question = request.metadata.get("question")
    if question is not None:
        return current_part(question)
    return "\n".join(ln for ln in current_part(last_user(request)).splitlines()
                     if not RESULT_LINE.match(ln))
