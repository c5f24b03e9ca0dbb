r"""Final answers: finding them in a completion and normalising them so that votes agree.

Self-consistency and weighted best-of-N group candidates by their normalised answer, so ``79``,
``79.0``, ``$79`` and ``\boxed{79}`` must count as one answer, and ``Canberra.`` and
``canberra`` too.
"""

from __future__ import annotations

import re
from fractions import Fraction

_ANSWER_LINE = re.compile(
    r"^\s*(?:\*\*)?(?:the\s+)?(?:final\s+)?answer(?:\*\*)?(?:\s*[:=]|\s+is\b)\s*(?:\*\*)?\s*"
    r"(.*?)\s*(?:\*\*)?\s*$", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_FINISH = re.compile(r"Finish\((.*)\)", re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_RATIO = re.compile(r"([-+]?\d+)\s*/\s*(\d+)")
_TEXT_WRAPPER = re.compile(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}")


def extract_answer(text: str) -> str | None:
    r"""The final answer stated in ``text``, or ``None`` when it states none.

    In order: the last ``\boxed{...}``, the last ``Answer: ...`` line (also ``Final answer:``,
    ``The answer is ...``), a ``Finish(...)`` action.
    """
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip() or None
    for line in reversed(text.splitlines()):
        m = _ANSWER_LINE.match(line)
        if m and m.group(1).strip():
            return m.group(1).strip()
    m = _FINISH.search(text)
    if m and m.group(1).strip():
        return m.group(1).strip()
    return None


def _number(text: str) -> Fraction | None:
    s = text.replace(",", "").replace(" ", "").removeprefix("$").removesuffix("%")
    if _NUMBER.fullmatch(s):
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            return None
    m = _RATIO.fullmatch(s)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2)))
    return None


def normalise_answer(answer: str) -> str:
    """A canonical form of ``answer`` for comparing and voting.

    Numbers by exact value (``1,000`` = ``1000.0``; ``0.5`` = ``1/2``; fractions as ``p/q``),
    text without LaTeX wrappers, surrounding quotes, ``$`` signs, a trailing full stop, case
    and runs of whitespace.
    """
    s = _TEXT_WRAPPER.sub(r"\1", answer.strip())
    s = s.strip().strip("$").strip().strip("\"'`").strip().rstrip(".").strip()
    number = _number(s)
    if number is not None:
        return str(number.numerator) if number.denominator == 1 else \
            f"{number.numerator}/{number.denominator}"
    return " ".join(s.split()).casefold()
