"""Search tasks: a problem in the form every strategy can search over.

A :class:`SearchTask` is one problem instance. It says where the search starts (:meth:`root`),
how to ask a model for next steps (the *proposer*: :meth:`propose_request`, whose reply
:meth:`parse_proposal` turns into child states, rejecting lines it cannot use), how to ask for
a whole solution from a state (:meth:`rollout_request`, :meth:`parse_rollout`), the prompts
model-based scorers use (judge, outcome score, process reward, value, vote), an optional exact
verifier (:meth:`verify`, an action run by code, never by the model) and its default
:class:`~forethought.search.scorers.Scorer`. Final answers are extracted and normalised, so
votes agree on equal answers.

Tasks never call a model themselves: they only build requests and parse replies, and the
strategies yield those requests to the runtime.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic

from forethought._options import validate_options
from forethought.exceptions import UnknownNameError, UserError
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.search import prompts
from forethought.search.answers import normalise_answer
from forethought.search.machine import Action

if TYPE_CHECKING:
    from forethought.search.scorers import Scorer


@dataclass(kw_only=True, frozen=True, slots=True)
class State:
    """A node of a search: the steps taken so far, and the answer once it is final."""

    steps: tuple[str, ...] = ()
    """The steps so far, as accepted by the task's parser (rendered in its canonical form)."""
    final: bool = False
    """A complete solution: no further steps."""
    answer: str | None = None
    """The final answer as stated (``None`` until final, or when a final state states none)."""
    data: Any = None
    """Domain data, such as the numbers left in a Game of 24."""

    @property
    def depth(self) -> int:
        return len(self.steps)


@dataclass(kw_only=True)
class Proposal:
    """What one proposer reply yielded: the usable next states, and what was rejected."""

    states: list[State] = field(default_factory=list[State])
    rejected: list[str] = field(default_factory=list[str])
    """Each unusable step (unparseable, arithmetic that does not hold...) with the reason."""


class TaskOptions(pydantic.BaseModel):
    """Options every task kind accepts in a recipe."""

    model_config = pydantic.ConfigDict(extra="forbid")

    max_depth: int | None = pydantic.Field(default=None, ge=1, le=200, strict=True)
    """Steps after which an unfinished path is abandoned (default: the task kind's)."""
    temperature: float | None = pydantic.Field(default=0.7, ge=0, le=2)


class Game24Options(pydantic.BaseModel):
    """Options of the Game of 24 task (its depth is the count of numbers less one)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    temperature: float | None = pydantic.Field(default=0.7, ge=0, le=2)


@dataclass(kw_only=True)
class SearchTask(ABC):
    """One problem in the form strategies search over. Subclass for a domain.

    A subclass that recipes can name sets :attr:`options_model` and implements
    :meth:`from_options`, and is registered under the ``forethought.tasks`` entry-point group
    (built-ins too), or with :func:`register_task`.
    """

    question: str
    """The problem statement."""
    max_depth: int = 8
    """Steps after which a path that has not reached an answer is abandoned."""
    scorer: Scorer | None = None
    """How states are scored; ``None``: the task's :meth:`default_scorer`."""
    metadata: dict[str, str] = field(default_factory=dict[str, str])
    """Annotations passed on every request (an instance id for simulators and traces)."""
    temperature: float | None = 0.7
    """Sampling temperature of proposals, rollouts and sampled evaluations."""

    options_model: ClassVar[type[pydantic.BaseModel]] = TaskOptions
    """The options a recipe may give this task kind (``extra="forbid"``)."""

    steps_per_call: ClassVar[int] = 1
    """How many next steps one proposal call returns: 1 when each call samples one step,
    more for proposers that list several candidates in one reply (Tree of Thoughts' "propose"
    prompt)."""

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise UserError(f"a search task needs a question, got {self.question!r}")
        if self.max_depth < 1:
            raise UserError(f"max_depth must be >= 1, got {self.max_depth!r}")

    @classmethod
    def from_options(cls, question: str, options: dict[str, Any]) -> SearchTask:
        """The task of ``question`` from validated recipe options (:attr:`options_model`)."""
        raise UserError(f"task {cls.__name__} cannot be built from recipe options; it needs "
                        f"a from_options classmethod")

    # --- the search space ----------------------------------------------------------------------

    def root(self) -> State:
        """Where the search starts: no steps yet."""
        return State()

    def key(self, state: State) -> Hashable:
        """Identifies equivalent states, so searches can merge them and cache their values."""
        return (state.steps, state.final, state.answer)

    def render(self, state: State) -> str:
        """The state as text: its steps, then ``Answer: ...`` when final."""
        lines = list(state.steps)
        if state.final and state.answer is not None:
            lines.append(f"Answer: {state.answer}")
        return "\n".join(lines)

    def normalise(self, answer: str) -> str:
        """The canonical form of ``answer`` that votes count (equal answers, equal forms)."""
        return normalise_answer(answer)

    # --- the proposer --------------------------------------------------------------------------

    @abstractmethod
    def propose_request(self, state: State) -> ModelRequest:
        """Ask for the next step(s) from ``state``."""

    @abstractmethod
    def parse_proposal(self, state: State, text: str) -> Proposal:
        """The child states in a reply to :meth:`propose_request`; bad steps are rejected."""

    @abstractmethod
    def rollout_request(self, state: State) -> ModelRequest:
        """Ask for a complete solution continuing from ``state`` (from the root: a full one)."""

    @abstractmethod
    def parse_rollout(self, state: State, text: str) -> State | None:
        """The final state a reply to :meth:`rollout_request` reaches, or ``None`` when it
        states no usable answer.
        """

    def refine_request(self, state: State, feedback: str) -> ModelRequest:
        """Ask for a corrected complete solution, given a final ``state`` and a verifier's
        ``feedback`` on it (PlanGEN's iterative verification). The reply is read with
        :meth:`parse_rollout` from the root. By default: the rollout prompt, the previous
        answer as the model's turn, then the feedback.
        """
        first = self.rollout_request(self.root())
        previous = Message.assistant(self.render(state))
        ask = Message.user(prompts.REFINE_USER.format(feedback=feedback.strip()))
        return replace(first, messages=(*first.messages, previous, ask), purpose="refine",
                       metadata={**first.metadata, "candidate": state.answer or ""})

    # --- evaluation prompts (model-based scorers use these) ------------------------------------

    def request(self, system: str, user: str, purpose: str, *, n: int = 1,
                temperature: float | None = None, **extra: str) -> ModelRequest:
        """A request of this task: its metadata, the question and ``extra`` as metadata."""
        metadata = {**self.metadata, "question": self.question, **extra}
        return ModelRequest(messages=(Message.system(system), Message.user(user)),
                            purpose=purpose, metadata=metadata,
                            settings=ModelSettings(temperature=temperature, n=n))

    def judge_request(self, state: State) -> ModelRequest:
        """Is the final answer of ``state`` correct? (``Yes``/``No``)."""
        user = f"Question: {self.question}\n\nProposed solution:\n{self.render(state)}"
        return self.request(prompts.JUDGE_SYSTEM, user, "judge",
                            candidate=state.answer or "")

    def score_request(self, state: State) -> ModelRequest:
        """How likely is the final answer of ``state`` right? (``Score: p``, an outcome
        reward).
        """
        user = f"Question: {self.question}\n\nProposed solution:\n{self.render(state)}"
        return self.request(prompts.SCORE_SYSTEM, user, "score", candidate=state.answer or "")

    def reward_request(self, state: State) -> ModelRequest:
        """Are the steps so far correct? (``Score: p``, a process reward)."""
        user = (f"Question: {self.question}\n\nSteps so far:\n"
                f"{prompts.steps_block(self.render(state).splitlines())}")
        return self.request(prompts.REWARD_SYSTEM, user, "step")

    def value_request(self, state: State) -> ModelRequest:
        """Can ``state`` still reach a right answer? (``sure``/``likely``/``impossible``)."""
        user = (f"Question: {self.question}\n\nPartial solution:\n"
                f"{prompts.steps_block(self.render(state).splitlines())}")
        return self.request(prompts.VALUE_SYSTEM, user, "value", temperature=self.temperature)

    def vote_request(self, states: Sequence[State]) -> ModelRequest:
        """Which of ``states`` is the most promising? (``The best choice is n``, from 1)."""
        choices = "\n\n".join(
            f"Choice {i}:\n{prompts.steps_block(self.render(s).splitlines())}"
            for i, s in enumerate(states, 1))
        return self.request(prompts.VOTE_SYSTEM, f"Question: {self.question}\n\n{choices}",
                            "vote", temperature=self.temperature)

    # --- exact verification and scoring --------------------------------------------------------

    @property
    def has_verifier(self) -> bool:
        """Whether :meth:`verify` is available."""
        return False

    def verify(self, state: State) -> Action:
        """An action that checks the answer of a final ``state`` exactly (by code, never by a
        model), producing a bool or a number in ``[0, 1]``.
        """
        raise UserError(f"task {type(self).__name__} has no exact verifier; score with a "
                        f"model (judge, score, reward or value) instead")

    def default_scorer(self) -> Scorer:
        """The scorer used when none is given: the exact verifier for final states when there
        is one, a process reward for the rest.
        """
        from forethought.search.scorers import RewardScorer, Staged, VerifierScorer

        if self.has_verifier:
            return Staged(partial=RewardScorer(), final=VerifierScorer())
        return RewardScorer()

    def effective_scorer(self) -> Scorer:
        return self.scorer if self.scorer is not None else self.default_scorer()


TaskFactory = Callable[[str, dict[str, Any]], SearchTask]
"""Builds the task of one question from recipe options."""


@dataclass(kw_only=True)
class _Kind:
    """A registered task kind: its options and factory, or the entry point that has them
    (loaded on first use, so listing the kinds imports none of them).
    """

    options: type[pydantic.BaseModel] | None = None
    factory: Callable[[], TaskFactory] | None = None
    entry_point: Any = None

    def load(self, name: str) -> tuple[type[pydantic.BaseModel], TaskFactory]:
        if self.options is None or self.factory is None:
            ep = self.entry_point
            cls: object = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, SearchTask)):
                raise UserError(f"entry point {name!r} ({ep.value}) is not a SearchTask "
                                f"subclass")
            self.options, self.factory = cls.options_model, lambda c=cls: c.from_options
        return self.options, self.factory()


_TASKS: dict[str, _Kind] = {}
_entry_points_loaded = False


def _kinds() -> dict[str, _Kind]:
    """The task kinds: those of the ``forethought.tasks`` entry points (built-ins and
    plugins alike) and those registered in code, which take precedence.
    """
    global _entry_points_loaded
    if not _entry_points_loaded:
        from importlib.metadata import entry_points

        _entry_points_loaded = True
        for ep in entry_points(group="forethought.tasks"):
            _TASKS.setdefault(ep.name, _Kind(entry_point=ep))
    return _TASKS


def register_task(name: str, options: type[pydantic.BaseModel],
                  factory: Callable[[], TaskFactory]) -> None:
    """Register a task kind in code: its recipe options and a factory (deferred import).
    Packages register theirs as ``forethought.tasks`` entry points naming the task class.
    """
    _kinds()[name] = _Kind(options=options, factory=factory)


def task_names() -> list[str]:
    return sorted(_kinds())


def task_options(name: str) -> type[pydantic.BaseModel]:
    kinds = _kinds()
    if name not in kinds:
        raise UnknownNameError("search task", name, kinds)
    return kinds[name].load(name)[0]


def build_task(name: str, question: str, options: dict[str, Any] | None = None) -> SearchTask:
    """The task of kind ``name`` for ``question``; raises :class:`UserError` on bad options."""
    schema = task_options(name)
    parsed = validate_options("search task", name, schema, options or {})
    return _kinds()[name].load(name)[1](question, parsed.model_dump())
