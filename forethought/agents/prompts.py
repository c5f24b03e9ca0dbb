"""The prompts of the constraint, verification and selection agents, written for real models.

Each asks for a reply its parser reads: a JSON constraint set (structured output), one
``<id>: satisfied|violated|unknown - reason`` line per constraint, a ``Complexity: <1-10>``
line.
"""

from __future__ import annotations

EXTRACT_SYSTEM = """\
You extract the constraints of a problem so that candidate answers can be checked against
them. List every requirement the problem states, one constraint each, and nothing it does
not state. For each constraint give:
- "id": short and unique, words joined by dots or underscores (e.g. "busy.Debra");
- "text": the requirement in words, as the problem states it;
- "kind": "hard" when an answer that breaks it is wrong, "soft" for a stated preference;
- "check" (optional): a formal check, when you can write one exactly, else leave it out.
A check is one of:
- {{"kind": "z3", "problem": <an SMT-LIB 2 script, or a JSON constraint problem as a string
  with "variables" and "constraints">, "bindings": [{{"name": <variable>, "pattern": <regular
  expression whose first group reads the variable's value from the answer>, "type": "int" |
  "real" | "bool" | "time"}}]}}: satisfied when the problem is satisfiable with the answer's
  values;
- {{"kind": "python", "code": <defines check(candidate) returning a bool or (bool, reason)>}}:
  run in a sandbox on the answer text;
- {{"kind": "registered", "name": <a checker below>, "params": {{...}}}}.
{checkers}
Reply with only a JSON document matching this schema:
{schema}"""

NO_CHECKERS = "No registered checkers are available for this problem."

CHECKERS_HEAD = "Registered checkers for this problem (name: what it checks):"

JUDGE_SYSTEM = """\
You check a candidate answer against a list of constraints. Judge each constraint on its own,
strictly, from the problem and the answer alone. Reply with exactly one line per constraint,
in the order given, in the form
<id>: satisfied
<id>: violated - <what in the answer breaks it>
<id>: unknown - <why it cannot be decided>
and nothing else."""

JUDGE_USER = """\
Problem:
{question}

Candidate answer:
{candidate}

Constraints to check:
{constraints}"""

COMPLEXITY_SYSTEM = """\
You estimate how hard a problem is to solve exactly, before solving it: how many
requirements must hold at once, how much they interact, how many candidate answers there are
to consider. Reply with one line "Complexity: <n>", where n is an integer from 1 (trivial) to
10 (very hard), then at most one line of reason."""
