"""The parser against the third-party constraint files: every difference, and the prompt
passage that shows the parser right.
"""

from __future__ import annotations

import collections

import pytest
from np_support import by_id

from forethought.exceptions import UserError
from forethought.tasks.natural_plan.dataset import DOMAINS, Domain
from forethought.tasks.natural_plan.third_party import (
    Difference,
    differences,
    load_third_party,
    main,
)


@pytest.fixture(scope="module")
def all_differences() -> dict[Domain, list[Difference]]:
    return {d: differences(d) for d in DOMAINS}


def test_every_difference_is_settled_by_the_prompt_in_the_parsers_favour(
        all_differences: dict[Domain, list[Difference]]) -> None:
    for domain, diffs in all_differences.items():
        for d in diffs:
            prompt = by_id(domain, d.instance_id).prompt_0shot
            assert d.evidence in prompt, d
            assert d.wording or d.absent, f"no proof for {d}"
            if d.wording:
                assert d.wording in d.evidence, d
            for wording in d.absent:
                assert wording not in d.evidence, d


def test_the_counts_of_differences(all_differences: dict[Domain, list[Difference]]) -> None:
    fields = {d: dict(collections.Counter(x.field for x in diffs))
              for d, diffs in all_differences.items()}
    assert fields == {"calendar": {"blocked time": 23, "earliest": 17}, "meeting": {},
                      "trip": {"flight": 10}}
    calendar = all_differences["calendar"]
    assert len({d.instance_id for d in calendar}) == 26
    blocked = {(d.instance_id, d.evidence) for d in calendar if d.field == "blocked time"}
    assert len(blocked) == 12  # prompt passages behind the 23 blocked-time segments
    trip = all_differences["trip"]
    assert sum(d.theirs == "absent" for d in trip) == 9  # flights they left out
    assert sum(d.ours == "absent" for d in trip) == 1  # a flight they made up


def test_known_differences_read_as_expected(
        all_differences: dict[Domain, list[Difference]]) -> None:
    by_key = {(d.instance_id, d.ours): d for ds in all_differences.values() for d in ds}
    # "9:30 to 10:30" became 9.5-10.3 hours: 10:18-10:30 lost.
    typo = by_key[("calendar_scheduling_example_502", "Monday 10:18-10:30 blocked")]
    assert typo.theirs == "Monday 10:18-10:30 free" and typo.wording == "9:30 to 10:30"
    # "Monday. Tuesday." continues a wish; the third party kept only the first day.
    cont = by_key[("calendar_scheduling_example_776", "Tuesday 11:30-12:00 blocked")]
    assert cont.evidence == "John would like to avoid more meetings on Monday after 14:30. Tuesday"
    # "from Reykjavik to Stuttgart, Stockholm and Tallinn" was read as two flights from
    # Reykjavik; it is one from Reykjavik and one between Stockholm and Tallinn.
    missing = by_key[("trip_planning_example_1088", "Stockholm and Tallinn")]
    assert missing.theirs == "absent"
    invented = next(d for d in all_differences["trip"]
                    if d.instance_id == "trip_planning_example_1088" and d.ours == "absent")
    assert invented.theirs == "Reykjavik and Tallinn"
    assert invented.absent == ("Reykjavik and Tallinn", "Tallinn and Reykjavik",
                               "from Reykjavik to Tallinn", "from Tallinn to Reykjavik")


def test_the_command_prints_counts_and_refuses_unknown_domains(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["meeting"]) == 0
    assert capsys.readouterr().out.startswith("== meeting: 0 differences (0 prompt passages)")
    assert main(["chess"]) == 2
    assert "unknown domain(s) ['chess']" in capsys.readouterr().err


def test_a_missing_third_party_file_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="cannot read the third-party constraints"):
        load_third_party("trip", path="/nonexistent/trip.json")
    with pytest.raises(UserError, match="the third-party file has no instance"):
        differences("trip", third_party={})
