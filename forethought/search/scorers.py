"""Scorers: how a strategy values a state.

A scorer turns a state into actions (a model call with one of the task's evaluation prompts,
a tool call, exact code) and reads their outcomes as a number in ``[0, 1]``, or ``None`` when
it cannot (the call failed, the reply said nothing usable): the state is then *unscored*,
which strategies count and rank below every scored state, never a crash.

- :class:`JudgeScorer`: a model judge, ``Yes``/``No`` on the final answer (share of Yes).
- :class:`OutcomeScorer`: a model's ``Score: p`` for the final answer (an outcome reward).
- :class:`RewardScorer`: a process reward, ``Score: p`` for the steps so far.
- :class:`ValueScorer`: Tree of Thoughts' value, ``sure``/``likely``/``impossible``, sampled.
- :class:`VerifierScorer`: the task's exact verifier (code, never the model).
- :class:`ToolScorer`: a registered tool as verifier.
- :class:`Staged`: one scorer for partial states, another for final ones.

Some scorers are *verifiers* (:attr:`Scorer.verifies`): their score on a final answer is a
verdict, accepted at or above :meth:`Scorer.accepts`'s threshold. The exact verifier and a
tool verifier accept a score of 1; a model judge accepts a majority of "Yes". A strategy's
result says whether its answer was verified (see :class:`~forethought.search.StrategyResult`).
New verifiers subclass :class:`Verifier`, which adds feedback and :meth:`Verifier.verify`
(judge one answer outside a search, e.g. as an agent's output validator).

Recipes name scorers by kind; :func:`register_scorer` adds kinds.
"""

from __future__ import annotations

import asyncio
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic

from forethought._options import OptionsError, describe_errors, problems_of
from forethought.exceptions import UnknownNameError, UserError
from forethought.search.machine import Action, CallTool, Outcome, Sample, execute

if TYPE_CHECKING:
    from forethought.runtime.context import RunContext
    from forethought.search.task import SearchTask, State

_SCORE = re.compile(r"score\s*[:=]\s*([-+]?\d*\.?\d+)", re.IGNORECASE)
_WORD = re.compile(r"\b(sure|likely|impossible)\b", re.IGNORECASE)
VALUE_WEIGHTS: dict[str, float] = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}
"""Tree of Thoughts' value of each verdict (Yao et al., 2023)."""


class Scorer(ABC):
    """Values states. Subclasses say which actions to run and how to read their outcomes."""

    kind: ClassVar[str]
    verifies: ClassVar[bool] = False
    """Whether a score on a final answer is a verdict (accepted or rejected), not a hint."""
    threshold: ClassVar[float] = 1.0
    """For verifiers: the score at or above which an answer is accepted."""

    def accepts(self, score: float) -> bool:
        """Whether ``score`` (from a verifier) accepts the answer."""
        return score >= self.threshold

    @abstractmethod
    def actions(self, task: SearchTask, state: State) -> list[Action]:
        """The actions that score ``state`` (run in parallel with other states' actions)."""

    @abstractmethod
    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        """The score in ``[0, 1]`` from the outcomes of :meth:`actions`; ``None``: unscored."""

    def cost(self, state: State) -> int:
        """Model calls it takes to score ``state`` (for planning budgets)."""
        del state
        return 1

    def last_feedback(self, task: SearchTask, state: State) -> str | None:
        """What was wrong with ``state`` when this scorer last judged it, in words a proposer
        can act on (``None``: this scorer keeps no such record; refinement then says only that
        the answer was judged wrong).

        Refinement reads it after the search, when the outcomes are gone; a
        :meth:`Verifier.feedback` is instead written from a verdict's outcomes as it is made.
        """
        del task, state
        return None


@dataclass(kw_only=True, frozen=True)
class Verification:
    """A verifier's verdict on one final answer."""

    accepted: bool
    score: float | None
    """``None``: the verifier could not tell (then the answer is not accepted)."""
    feedback: str = ""
    """Why, in words fit to send back to the model for a revision."""


class Verifier(Scorer):
    """The base of verifiers: accept or reject a final answer with a score and feedback.

    A verifier is a :class:`Scorer` whose score on a final answer is a verdict (accepted by
    :meth:`accepts`, at or above :attr:`threshold` unless overridden), so any strategy can use
    it as its final scorer. Subclasses implement :meth:`actions` (what checking a final state
    takes: model samples, tool calls, exact ``Compute`` work, run in parallel by the runtime)
    and :meth:`read` (the score from their outcomes; ``None``: cannot tell), and may override
    :meth:`feedback`. A partial state is not verified: return no actions and ``None`` for it.
    """

    verifies: ClassVar[bool] = True

    def feedback(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> str:
        """Why the answer was accepted or rejected (default: nothing beyond the score)."""
        del task, state, outcomes
        return ""

    def verdict(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> Verification:
        score = self.read(task, state, outcomes)
        accepted = score is not None and self.accepts(score)
        return Verification(accepted=accepted, score=score,
                            feedback=self.feedback(task, state, outcomes))

    async def verify(self, ctx: RunContext[Any], question: str, answer: str, *,
                     task: SearchTask | None = None, node_id: str | None = "verify"
                     ) -> Verification:
        """Judge ``answer`` to ``question`` (as a final state of ``task``, by default a
        ``chain`` task for the question), running the actions through ``ctx``.
        """
        from forethought.search.task import State, build_task

        task = task or build_task("chain", question)
        state = State(steps=(answer,), final=True, answer=answer)
        outcomes = await asyncio.gather(*(execute(ctx, a, node_id=node_id)
                                          for a in self.actions(task, state)))
        return self.verdict(task, state, list(outcomes))


def parse_score(text: str) -> float | None:
    """``p`` from a ``Score: p`` line, clipped to ``[0, 1]``; ``None`` if there is none."""
    m = _SCORE.search(text)
    if m is None:
        return None
    value = float(m.group(1))
    return min(1.0, max(0.0, value)) if math.isfinite(value) else None


def parse_yes_no(text: str) -> bool | None:
    """The verdict on the first non-empty line: yes, no, or ``None``."""
    for line in text.splitlines():
        word = line.strip().strip("*#.:").strip().split(maxsplit=1)
        if not word:
            continue
        first = word[0].strip(",.:;!*").casefold()
        if first in ("yes", "correct", "true"):
            return True
        if first in ("no", "incorrect", "false", "wrong"):
            return False
        return None
    return None


def parse_value(text: str) -> str | None:
    """The last ``sure``/``likely``/``impossible`` in ``text``."""
    words = _WORD.findall(text)
    return words[-1].casefold() if words else None


def _texts(outcomes: list[Outcome]) -> list[str]:
    return [t for o in outcomes for t in o.texts]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(kw_only=True, frozen=True)
class JudgeScorer(Verifier):
    """A model judge: the share of ``samples`` verdicts that say the answer is correct."""

    kind: ClassVar[str] = "judge"
    verifies: ClassVar[bool] = True
    threshold: ClassVar[float] = 0.5
    samples: int = 1

    def accepts(self, score: float) -> bool:
        return score > self.threshold  # a majority of "Yes"; a tie is not one

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        return [Sample(request=task.judge_request(state), n=self.samples, tag="judge")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        verdicts = [v for v in map(parse_yes_no, _texts(outcomes)) if v is not None]
        return _mean([1.0 if v else 0.0 for v in verdicts])

    def feedback(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> str:
        return "\n".join(_texts(outcomes))

    def cost(self, state: State) -> int:
        return self.samples


@dataclass(kw_only=True, frozen=True)
class OutcomeScorer(Scorer):
    """An outcome reward: the model's ``Score: p`` for the final answer, averaged."""

    kind: ClassVar[str] = "score"
    samples: int = 1

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        return [Sample(request=task.score_request(state), n=self.samples, tag="score")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        return _mean([s for s in map(parse_score, _texts(outcomes)) if s is not None])

    def cost(self, state: State) -> int:
        return self.samples


@dataclass(kw_only=True, frozen=True)
class RewardScorer(Scorer):
    """A process reward: the model's ``Score: p`` for the steps so far, averaged."""

    kind: ClassVar[str] = "reward"
    samples: int = 1

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        return [Sample(request=task.reward_request(state), n=self.samples, tag="reward")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        return _mean([s for s in map(parse_score, _texts(outcomes)) if s is not None])

    def cost(self, state: State) -> int:
        return self.samples


@dataclass(kw_only=True, frozen=True)
class ValueScorer(Scorer):
    """Tree of Thoughts' value: ``samples`` verdicts, summed with weights sure 20, likely 1,
    impossible 0.001 (Yao et al., 2023), divided by ``20 * samples`` to lie in ``[0, 1]``.
    """

    kind: ClassVar[str] = "value"
    samples: int = 3

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        return [Sample(request=task.value_request(state), n=self.samples, tag="value")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        verdicts = [v for v in map(parse_value, _texts(outcomes)) if v is not None]
        if not verdicts:
            return None
        return sum(VALUE_WEIGHTS[v] for v in verdicts) / (VALUE_WEIGHTS["sure"] * len(verdicts))

    def cost(self, state: State) -> int:
        return self.samples


def _as_score(value: Any) -> float | None:
    """A verifier's output as a score: bools, numbers in [0, 1], yes/no/true/false text."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
        return min(1.0, max(0.0, number)) if math.isfinite(number) else None
    if isinstance(value, str):
        verdict = parse_yes_no(value)
        if verdict is not None:
            return 1.0 if verdict else 0.0
        try:
            return _as_score(float(value.strip()))
        except ValueError:
            return None
    if isinstance(value, dict):
        for key in ("score", "ok", "correct", "valid", "passed"):
            if key in value:
                return _as_score(value[key])
    return None


@dataclass(kw_only=True, frozen=True)
class VerifierScorer(Verifier):
    """The task's exact verifier (its :meth:`~SearchTask.verify` action): 1.0 or 0.0."""

    kind: ClassVar[str] = "verifier"
    verifies: ClassVar[bool] = True

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        if not state.final or state.answer is None:
            return []
        return [task.verify(state)]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        if not state.final:
            return None
        if state.answer is None:
            return 0.0  # a final state without an answer is wrong, and certainly so
        return _as_score(outcomes[0].value) if outcomes and outcomes[0].ok else None

    def cost(self, state: State) -> int:
        return 0


@dataclass(kw_only=True, frozen=True)
class ToolScorer(Verifier):
    """A registered tool as the verifier of final answers, called with
    ``{"question": ..., "answer": ...}``; its output is read as a bool or a number.
    """

    kind: ClassVar[str] = "tool"
    verifies: ClassVar[bool] = True
    tool: str

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        if not state.final or state.answer is None:
            return []
        return [CallTool(tool=self.tool, args={"question": task.question,
                                               "answer": state.answer}, tag="verify")]

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        if not state.final:
            return None
        if state.answer is None:
            return 0.0
        return _as_score(outcomes[0].value) if outcomes and outcomes[0].ok else None

    def cost(self, state: State) -> int:
        return 0


@dataclass(kw_only=True, frozen=True)
class Staged(Scorer):
    """``partial`` for states on the way, ``final`` for complete solutions."""

    kind: ClassVar[str] = "staged"
    partial: Scorer
    final: Scorer

    @property
    def verifies(self) -> bool:  # type: ignore[override]  # the final stage decides
        return self.final.verifies

    def accepts(self, score: float) -> bool:
        return self.final.accepts(score)

    def _pick(self, state: State) -> Scorer:
        return self.final if state.final else self.partial

    def actions(self, task: SearchTask, state: State) -> list[Action]:
        return self._pick(state).actions(task, state)

    def read(self, task: SearchTask, state: State, outcomes: list[Outcome]) -> float | None:
        return self._pick(state).read(task, state, outcomes)

    def cost(self, state: State) -> int:
        return self._pick(state).cost(state)

    def last_feedback(self, task: SearchTask, state: State) -> str | None:
        return self._pick(state).last_feedback(task, state)


class ScorerOptions(pydantic.BaseModel):
    """A scorer named in a recipe: ``{kind: judge, samples: 3}`` or ``{kind: tool, tool: x}``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    kind: str
    samples: int = pydantic.Field(default=1, ge=1, le=64, strict=True)
    tool: str | None = None


_KINDS: dict[str, Callable[[ScorerOptions], Scorer]] = {
    "judge": lambda o: JudgeScorer(samples=o.samples),
    "score": lambda o: OutcomeScorer(samples=o.samples),
    "reward": lambda o: RewardScorer(samples=o.samples),
    "value": lambda o: ValueScorer(samples=o.samples if "samples" in o.model_fields_set else 3),
    "verifier": lambda o: VerifierScorer(),
    "tool": lambda o: ToolScorer(tool=o.tool or ""),
}


_BUILTIN_KINDS = frozenset(_KINDS)
_KIND_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def register_scorer(kind: str, factory: Callable[[ScorerOptions], Scorer], *,
                    replace: bool = False) -> None:
    """Register a scorer kind, so recipes (and :func:`make_scorer`) can name it:
    ``scorer: {kind: <kind>, samples: 3}``. ``factory`` receives the validated
    :class:`ScorerOptions`. A built-in kind cannot be replaced; another kind only with
    ``replace=True``.
    """
    if not _KIND_NAME.match(kind):
        raise UserError(f"invalid scorer kind {kind!r}: use letters, digits, '_', '.', '-'")
    if not callable(factory):
        raise UserError(f"scorer {kind!r}: the factory must be callable, got {factory!r}")
    if kind in _BUILTIN_KINDS or (kind in _KINDS and not replace and _KINDS[kind] is not factory):
        raise UserError(f"scorer kind {kind!r} is taken" + (
            " by a built-in scorer" if kind in _BUILTIN_KINDS else "; pass replace=True"))
    _KINDS[kind] = factory


def scorer_kinds() -> list[str]:
    return sorted(_KINDS)


def make_scorer(spec: str | dict[str, Any]) -> Scorer:
    """A scorer from a recipe value: a kind name, or a mapping with ``kind`` and options."""
    data: dict[str, Any] = {"kind": spec} if isinstance(spec, str) else dict(spec)
    try:
        options = ScorerOptions.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        raise OptionsError(f"invalid scorer {spec!r}: {describe_errors(exc)}", problems_of(
            exc, valid=list(ScorerOptions.model_fields), what="scorer")) from None
    if options.kind not in _KINDS:
        raise UnknownNameError("scorer", options.kind, _KINDS)
    if options.kind == "tool" and not options.tool:
        raise UserError(f"scorer {spec!r}: kind 'tool' needs `tool: <registered tool name>`")
    if options.kind != "tool" and options.tool is not None:
        raise UserError(f"scorer {spec!r}: `tool` only applies to kind 'tool'")
    return _KINDS[options.kind](options)
