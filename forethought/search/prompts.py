"""The generic prompts of step-by-step search, written for real models to follow.

Each prompt asks for a reply whose shape the matching parser reads: ``Step n: ...`` lines and
an ``Answer: ...`` line for proposals and rollouts, ``Score: p`` for a process reward,
``sure``/``likely``/``impossible`` for a value (Tree of Thoughts), ``The best choice is n`` for
a vote, ``Yes``/``No`` for a judge.
"""

from __future__ import annotations

PROPOSE_SYSTEM = """\
You are solving a problem one step at a time. Reply with exactly one next step, on one line,
starting with "Step {n}:". Keep the step small and check it before you write it. If this step
reaches the final answer, add a last line "Answer: <final answer>". Write nothing else."""

PROPOSE_LAST_STEP = """\
This is the last step allowed: it must end with the line "Answer: <final answer>"."""

ROLLOUT_SYSTEM = """\
You are solving a problem step by step. Continue the solution from the steps already taken,
without repeating them: write each further step on its own line as "Step <n>: ...", then a
last line "Answer: <final answer>"."""

REWARD_SYSTEM = """\
You check partial solutions step by step. Read the question and the steps so far and judge
whether every step is correct and the solution is on track to the right answer. Reply with one
line "Score: <p>", where p, between 0 and 1, is the probability that the steps are correct."""

VALUE_SYSTEM = """\
Evaluate whether the partial solution below can still reach a correct answer to the question.
Think briefly about what the remaining steps would be, then write exactly one word on the last
line: sure (it will reach the right answer), likely (it may), or impossible (it has gone wrong
or cannot finish)."""

VOTE_SYSTEM = """\
Several partial solutions to a question are given as numbered choices. Analyse each choice
briefly, then decide which one is the most promising and conclude with a last line
"The best choice is <n>", where n is the number of the choice."""

JUDGE_SYSTEM = """\
You verify answers. Read the question and the proposed solution and decide whether its final
answer is correct. Reply with "Yes" or "No" on the first line, then one line of reason."""

SCORE_SYSTEM = """\
You grade answers. Read the question and the proposed solution and estimate the probability
that its final answer is correct. Reply with one line "Score: <p>", p between 0 and 1."""

REFINE_USER = """\
A checker reviewed your answer and found problems:
{feedback}

Write a corrected, complete answer in the same format as before. Fix what the checker names
without breaking anything that was already right."""

NO_STEPS = "(none yet)"


def steps_block(steps: tuple[str, ...] | list[str]) -> str:
    """The steps so far as prompt text."""
    return "\n".join(steps) if steps else NO_STEPS
