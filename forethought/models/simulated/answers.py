"""How the simulator writes, reads and compares answers."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache


def _terminating_decimal(value: Fraction) -> str | None:
    """The exact decimal form of ``value`` when it has one."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives)
    digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def format_number(value: Fraction, *, exact: bool = False) -> str:
    """How the simulator writes a number.

    Integers as ``84``; short terminating decimals exactly (``2.5``); others rounded to 6
    decimal places, or to 6 significant digits below 1 (``0.333333``). ``exact=True`` never
    rounds a terminating decimal.
    """
    if value.denominator == 1:
        return str(value.numerator)
    decimal = _terminating_decimal(value)
    if decimal is not None and (exact or len(decimal) <= 12):
        return decimal
    with localcontext() as ctx:
        ctx.prec = len(str(abs(value.numerator) // value.denominator)) + 24
        d = Decimal(value.numerator) / Decimal(value.denominator)
        quantum = Decimal("1e-6") if abs(d) >= 1 else Decimal(1).scaleb(d.adjusted() - 5)
        text = format(d.quantize(quantum), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_RATIO = re.compile(r"([-+]?\d+)\s*/\s*(\d+)")


def parse_number(text: str) -> Fraction | None:
    """``text`` as a number (``84``, ``-2.5``, ``1,000``, ``$3``, ``1/3``, ``(1/3)``) or None."""
    s = text.strip().removeprefix("$").replace(",", "").rstrip(".").strip()
    if s.startswith("(") and s.endswith(")"):  # the calculator writes fractions as (p/q)
        s = s[1:-1].strip()
    if _NUMBER.fullmatch(s):
        return Fraction(s)
    m = _RATIO.fullmatch(s)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2)))
    return None


def _normalise(text: str) -> str:
    return " ".join(text.strip().strip("\"'`").rstrip(".").split()).casefold()


def same_answer(a: str, b: str) -> bool:
    """Whether two final answers agree.

    Numbers compare by value at the simulator's display precision (``79.0`` matches ``79``,
    ``0.3333333333`` matches ``0.333333``); text ignoring case, quotes, a trailing full stop
    and runs of whitespace.
    """
    x, y = parse_number(a), parse_number(b)
    if x is not None and y is not None:
        return format_number(x) == format_number(y)
    return _normalise(a) == _normalise(b)


_ANSWER_LINE = re.compile(r"^\s*(?:final\s+)?(?:answer|candidate)\s*[:=]\s*(.*?)\s*$",
                          re.IGNORECASE)
_FINISH = re.compile(r"Finish\((.*)\)", re.DOTALL)


def extract_answer(text: str) -> str:
    """The final answer in a reply.

    The last ``Answer: ...`` line, else a ``Finish(...)`` action, else the whole text.
    """
    for line in reversed(text.splitlines()):
        m = _ANSWER_LINE.match(line)
        if m:
            return m.group(1)
    m = _FINISH.search(text)
    return m.group(1).strip() if m else text.strip()


_OPPOSITES = {"yes": ("no",), "no": ("yes",), "true": ("false", "uncertain"),
              "false": ("true", "uncertain"), "uncertain": ("true", "false"),
              "unknown": ("true", "false")}


@lru_cache(maxsize=4096)
def fallback_distractors(answer: str) -> tuple[str, ...]:
    """Wrong answers made up from the answer itself, for tasks given without distractors.

    Nearby numbers for a number, the other options for a letter or a yes/no/true/false
    answer, and plainly synthetic variants (``not <answer>``) for other text.
    """
    number = parse_number(answer)
    if number is not None:
        values = [number + 1, number - 1, number * 10, number + 10, -number, number * 2]
        out: list[str] = []
        for v in values:
            text = format_number(v)
            if v != number and text not in out:
                out.append(text)
        return tuple(out)
    word = answer.strip()
    if len(word) == 1 and "A" <= word.upper() <= "J":
        last = max(ord("D"), ord(word.upper()))
        letters = [chr(c) for c in range(ord("A"), last + 1) if chr(c) != word.upper()]
        letters.sort(key=lambda c: abs(ord(c) - ord(word.upper())))
        return tuple(c if word.isupper() else c.lower() for c in letters)
    opposites = _OPPOSITES.get(word.casefold().rstrip("."))
    if opposites is not None:
        return tuple(o.capitalize() if word[:1].isupper() else o for o in opposites)
    return (f"not {word}", f"almost {word}", "none of these")


_CHOICE = re.compile(r"^\s*Choice\s+(\d+)\s*:\s*$", re.IGNORECASE | re.MULTILINE)


def vote_reply(text: str, is_good: Callable[[str], bool], fpr: float, rng: random.Random,
               reason: str) -> str:
    """A vote among the ``Choice n:`` blocks of ``text`` (Tree of Thoughts' vote prompt): a
    choice ``is_good`` judges sound, or with probability ``fpr`` (and when none is) any choice.
    ``reason`` is the first line, with ``{pick}`` for the chosen number.
    """
    marks = list(_CHOICE.finditer(text))
    if not marks:
        return "There are no choices to compare.\nThe best choice is 1"
    good: list[int] = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        if is_good(text[mark.end():end]):
            good.append(int(mark.group(1)))
    pick = rng.choice(good) if good and rng.random() >= fpr else int(rng.choice(marks).group(1))
    return f"{reason.format(pick=pick)}\nThe best choice is {pick}"
