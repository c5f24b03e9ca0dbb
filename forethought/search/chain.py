"""The generic step-by-step task: any question, solved as a chain of ``Step n: ...`` lines
ending with ``Answer: ...``.

Each proposal call asks for one next step (so strategies sample several children with
several calls); a rollout asks for the rest of the solution. Scored by default with a process
reward (``Score: p`` for the steps so far).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from forethought.models.messages import ModelRequest
from forethought.search import prompts
from forethought.search.answers import extract_answer
from forethought.search.task import Proposal, SearchTask, State

_STEP = re.compile(r"^\s*(?:\*\*)?step\s*(\d+)\s*(?:\*\*)?\s*[:.)\-]\s*(?:\*\*)?\s*(.*?)\s*$",
                   re.IGNORECASE)


def _steps_in(text: str) -> list[tuple[int, str]]:
    """The numbers and contents of the ``Step n:`` lines of ``text``, in order."""
    out: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _STEP.match(line)
        if m and m.group(2):
            out.append((int(m.group(1)), m.group(2)))
    return out


@dataclass(kw_only=True)
class ChainTask(SearchTask):
    """Solve ``question`` step by step. The prompts are generic, for any real model."""

    @classmethod
    def from_options(cls, question: str, options: dict[str, Any]) -> ChainTask:
        depth = options.get("max_depth")
        return cls(question=question, max_depth=8 if depth is None else int(depth),
                   temperature=options.get("temperature", 0.7))

    def propose_request(self, state: State) -> ModelRequest:
        n = state.depth + 1
        system = prompts.PROPOSE_SYSTEM.format(n=n)
        if n >= self.max_depth:
            system += "\n" + prompts.PROPOSE_LAST_STEP
        user = (f"Question: {self.question}\n\nSteps so far:\n{prompts.steps_block(state.steps)}"
                f"\n\nWrite step {n}.")
        return self.request(system, user, "propose", temperature=self.temperature)

    def parse_proposal(self, state: State, text: str) -> Proposal:
        n = state.depth + 1
        answer = extract_answer(text)
        steps = _steps_in(text)
        content = steps[0][1] if steps else None
        if content is None and answer is None:
            return Proposal(rejected=[f"no 'Step {n}:' line and no 'Answer:' line in "
                                      f"{text.strip()[:80]!r}"])
        new_steps = state.steps if content is None else (*state.steps, f"Step {n}: {content}")
        return Proposal(states=[State(steps=new_steps, final=answer is not None,
                                      answer=answer)])

    def rollout_request(self, state: State) -> ModelRequest:
        n = state.depth + 1
        user = (f"Question: {self.question}\n\nSteps so far:\n{prompts.steps_block(state.steps)}"
                f"\n\nContinue from step {n}.")
        return self.request(prompts.ROLLOUT_SYSTEM, user, "rollout",
                            temperature=self.temperature)

    def parse_rollout(self, state: State, text: str) -> State | None:
        answer = extract_answer(text)
        if answer is None:
            return None
        steps = list(state.steps)
        for number, content in _steps_in(text):
            if number <= state.depth:
                continue  # a step the model repeated from the prompt
            steps.append(f"Step {len(steps) + 1}: {content}")
        return State(steps=tuple(steps), final=True, answer=answer)
