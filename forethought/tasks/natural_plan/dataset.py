"""The NATURAL PLAN data: 100 instances per domain, as the calendar-planning repository
republished them (see ``../shared/data/SOURCES.md``; data CC BY 4.0).

The files are read from ``FORETHOUGHT_NATURAL_PLAN_DIR`` when set, else from
``../shared/data/natural_plan`` beside the repository, where CI puts them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast, get_args

from forethought.exceptions import UserError

Domain: TypeAlias = Literal["calendar", "meeting", "trip"]
DOMAINS: tuple[Domain, ...] = get_args(Domain)
FILES: dict[Domain, str] = {"calendar": "calendar_scheduling_100.json",
                            "meeting": "meeting_planning_100.json",
                            "trip": "trip_planning_100.json"}
ENV = "FORETHOUGHT_NATURAL_PLAN_DIR"


@dataclass(kw_only=True, frozen=True)
class Instance:
    """One NATURAL PLAN example."""

    id: str
    domain: Domain
    prompt_0shot: str
    prompt_5shot: str
    golden_plan: str
    """The reference answer as text (meeting planning's list of steps joined by spaces)."""
    record: Mapping[str, Any]
    """The dataset's record as published (the upstream metrics read its fields)."""

    def prompt(self, shots: Literal[0, 5] = 5) -> str:
        return self.prompt_5shot if shots == 5 else self.prompt_0shot


def data_dir() -> Path:
    """Where the data files are: ``$FORETHOUGHT_NATURAL_PLAN_DIR``, or
    ``<repository>/../shared/data/natural_plan``.
    """
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "natural_plan"


def load_instances(domain: Domain, path: str | Path | None = None) -> list[Instance]:
    """The instances of ``domain``, in the file's order.

    Raises:
        UserError: the domain is unknown, or the file is missing or malformed (the message
            says where it was looked for and how to point elsewhere).
    """
    if domain not in FILES:
        raise UserError(f"unknown NATURAL PLAN domain {domain!r}; use one of {list(FILES)}")
    file = Path(path) if path is not None else data_dir() / FILES[domain]
    try:
        raw: object = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"NATURAL PLAN {domain} data not found at {str(file)!r}: put "
                        f"{FILES[domain]} there, set {ENV} to its folder, or pass path=") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read NATURAL PLAN data {str(file)!r}: {exc}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{str(file)!r} should hold an object of instances by id")
    out: list[Instance] = []
    for key, value in cast(dict[str, Any], raw).items():
        try:
            record = cast(dict[str, Any], value)
            golden: object = record["golden_plan"]
            text = (" ".join(str(s) for s in cast(list[object], golden))
                    if isinstance(golden, list) else str(golden))
            out.append(Instance(
                id=key, domain=domain, prompt_0shot=str(record["prompt_0shot"]),
                prompt_5shot=str(record["prompt_5shot"]), record=record, golden_plan=text))
        except (KeyError, TypeError) as exc:
            raise UserError(f"{str(file)!r}: instance {key!r} lacks {exc} (needs prompt_0shot, "
                            f"prompt_5shot and golden_plan)") from None
    return out
