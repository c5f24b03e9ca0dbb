"""Multi-step problems in the simulator: next steps, rollouts, and grades of partial solutions.

A known instance takes K steps (:class:`SimulatedMultiStepTask`, or one per operator of an
arithmetic question, else one). Each step the simulator writes is right with probability
``p = accuracy(difficulty) ** (1 / K)``, so a whole solution is right exactly as often as a
direct answer, but only while every earlier step was right: errors compound, and a path that
went wrong ends in a distractor. Each simulated step carries a check code (``r2 = 5e1c``) from
which the simulator later reads whether a path is still on track; a step it did not write
counts as off track. Grades of a path are informative but noisy:

- ``"step"`` (process reward): ``Score: x``, normal around ``0.8 - 0.2 d`` on track and
  ``0.2 + 0.2 d`` off track, deviation ``score_noise``.
- ``"value"`` (Tree of Thoughts): ``sure``/``likely``/``impossible``; an on-track path is
  called impossible with the judge's false-negative rate, an off-track one sure with its
  false-positive rate.
- ``"vote"``: names an on-track choice unless the judge errs (false-positive rate).

``"propose"`` writes the next step (and ``Answer: ...`` after the K-th), ``"rollout"`` the
remaining steps and the answer. Game of 24 requests (``metadata["domain"] == "game24"``) go to
:mod:`forethought.models.simulated.game24`.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.simulated import game24
from forethought.models.simulated.answers import fallback_distractors, same_answer, vote_reply
from forethought.models.simulated.task import Instance, SimulatedTask

if TYPE_CHECKING:
    from forethought.models.simulated.policy import Policy

SEARCH_PURPOSES = frozenset({"propose", "rollout", "step", "value", "vote"})
"""The purposes of step-level search requests this module answers."""

_STEP = re.compile(r"^\s*Step\s+(\d+)\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_CODE = re.compile(r"\br(\d+)\s*=\s*([0-9a-f]{4})\b")
_ANSWER = re.compile(r"^\s*Answer\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_PHRASES = ("I work out intermediate result {n}:", "Building on the previous steps,",
            "Next I combine what is known so far:", "Checking the facts needed for step {n},")


@dataclass(kw_only=True, frozen=True)
class SimulatedMultiStepTask(SimulatedTask):
    """A known instance whose solution takes ``steps`` steps (errors compound across them)."""

    steps: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise UserError(f"SimulatedMultiStepTask {self.id!r}: steps must be >= 1, "
                            f"got {self.steps!r}")


def is_search_request(request: ModelRequest) -> bool:
    """Whether this module answers ``request``."""
    return request.purpose in SEARCH_PURPOSES or game24.is_game24(request)


def step_count(instance: Instance) -> int:
    """K: the steps a solution of ``instance`` takes."""
    if isinstance(instance.task, SimulatedMultiStepTask):
        return instance.task.steps
    if instance.arithmetic is not None:
        return max(1, instance.arithmetic.operators)
    return 1


def right_code(task: SimulatedTask, n: int) -> str:
    """The check code of a right step ``n`` (the same for every seed)."""
    return hashlib.sha256(f"{task.id}|step|{n}".encode()).hexdigest()[:4]


@dataclass(kw_only=True, frozen=True)
class Path:
    """What the simulator reads from a partial solution."""

    depth: int
    on_track: bool
    answer: str | None


def read_path(text: str, task: SimulatedTask) -> Path:
    """The steps of ``text`` (``Step n: ...`` lines) and whether all of them are right."""
    on_track = True
    depth = 0
    for number, body in _STEP.findall(text):
        depth += 1
        code = _CODE.search(body)
        if int(number) != depth or code is None or code.group(2) != right_code(task, depth):
            on_track = False
    answers = _ANSWER.findall(text)
    answer = answers[-1] if answers else None
    if answer is not None and not same_answer(answer, task.answer):
        on_track = False
    return Path(depth=depth, on_track=on_track, answer=answer)


def _user(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def distractor(policy: Policy, task: SimulatedTask, rng: random.Random) -> str:
    pool = task.distractors or fallback_distractors(task.answer)
    weights = [1.0 / (rank + 1) ** policy.distractor_skew for rank in range(len(pool))]
    return rng.choices(pool, weights)[0]


def _step_line(task: SimulatedTask, n: int, right: bool, rng: random.Random) -> str:
    code = right_code(task, n)
    while not right and code == right_code(task, n):
        code = f"{rng.getrandbits(16):04x}"
    phrase = rng.choice(_PHRASES).format(n=n)
    return f"Step {n}: {phrase} r{n} = {code}."


def _continue(policy: Policy, instance: Instance, path: Path, rng: random.Random,
              *, one: bool) -> str:
    """The next step (``one``) or all remaining steps, then the answer after step K."""
    task = instance.task
    k = step_count(instance)
    if path.answer is not None:
        return f"Answer: {path.answer}"
    p = policy.accuracy(task.difficulty) ** (1.0 / k)
    on_track = path.on_track
    lines: list[str] = []
    n = path.depth
    while n < k:
        n += 1
        on_track = on_track and rng.random() < p
        lines.append(_step_line(task, n, on_track, rng))
        if one:
            break
    if n >= k:
        lines.append(f"Answer: {task.answer if on_track else distractor(policy, task, rng)}")
    return "\n".join(lines)


def verdict(policy: Policy, good: bool, difficulty: float, rng: random.Random) -> str:
    """``sure``/``likely``/``impossible`` for a state that is (``good``) or is not on track."""
    fpr, fnr = policy.judge_error_rates(difficulty)
    u = rng.random()
    if good:
        return "impossible" if u < fnr else ("sure" if u < fnr + (1 - fnr) * 0.7 else "likely")
    return "sure" if u < fpr else ("impossible" if u < fpr + (1 - fpr) * 0.7 else "likely")


def reward(policy: Policy, good: bool, difficulty: float, rng: random.Random) -> str:
    mean = 0.8 - 0.2 * difficulty if good else 0.2 + 0.2 * difficulty
    return f"Score: {min(1.0, max(0.0, rng.gauss(mean, policy.score_noise))):.2f}"


def _vote(policy: Policy, text: str, task: SimulatedTask, rng: random.Random) -> str:
    fpr, _ = policy.judge_error_rates(task.difficulty)
    return vote_reply(text, lambda block: read_path(block, task).on_track, fpr, rng,
                      "Comparing the choices, choice {pick} looks the most sound.")


def search_reply(policy: Policy, request: ModelRequest, instance: Instance | None,
                 rng: random.Random) -> str:
    """The reply to a step-level search request (see the module docstring)."""
    if game24.is_game24(request):
        return game24.reply(policy, request, rng)
    purpose = request.purpose
    text = _user(request)
    if instance is None:
        return {"step": "Score: 0.50", "value": "I cannot tell.\nlikely",
                "vote": "I cannot tell the choices apart.\nThe best choice is 1",
                }.get(purpose or "", "Step 1: I have no way to work this out.\n"
                                     "Answer: I don't know.")
    task = instance.task
    if purpose == "vote":
        return _vote(policy, text, task, rng)
    path = read_path(text, task)
    if purpose == "step":
        return reward(policy, path.on_track, task.difficulty, rng)
    if purpose == "value":
        word = verdict(policy, path.on_track, task.difficulty, rng)
        return f"Considering the remaining steps.\n{word}"
    return _continue(policy, instance, path, rng, one=purpose == "propose")
