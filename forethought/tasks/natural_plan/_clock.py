"""Clock times as minutes after midnight, in the two forms NATURAL PLAN writes them."""

from __future__ import annotations

import re

from forethought.exceptions import UserError

_H24 = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_H12 = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])\s*$")


def parse_24h(text: str) -> int:
    """``"9:30"`` or ``"17:00"`` -> minutes after midnight."""
    m = _H24.match(text)
    if m is None or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise UserError(f"{text!r} is not a 24-hour time such as 9:30 or 17:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def format_24h(minutes: int) -> str:
    """Minutes after midnight -> ``"9:30"`` (no leading zero, as NATURAL PLAN writes it)."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def parse_12h(text: str) -> int:
    """``"9:00AM"``, ``"12:15PM"`` -> minutes after midnight."""
    m = _H12.match(text)
    if m is None or not 1 <= int(m.group(1)) <= 12 or int(m.group(2)) > 59:
        raise UserError(f"{text!r} is not a 12-hour time such as 9:00AM or 2:45PM")
    hour = int(m.group(1)) % 12 + (12 if m.group(3).upper() == "PM" else 0)
    return hour * 60 + int(m.group(2))


def format_12h(minutes: int) -> str:
    """Minutes after midnight -> ``"9:00AM"``, ``"12:15PM"``, ``"1:05PM"``."""
    hour, minute = divmod(minutes % (24 * 60), 60)
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour % 12) or 12}:{minute:02d}{suffix}"
