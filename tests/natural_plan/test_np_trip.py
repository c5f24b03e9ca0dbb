"""Trip planning: the prompt parser, the itinerary parser, the plan checker on golden and
mutated plans.
"""

from __future__ import annotations

import itertools

import pytest
from np_support import by_id, instances

from forethought.exceptions import UserError
from forethought.tasks.natural_plan.plans import instance_constraints, verify_plan, violated_ids
from forethought.tasks.natural_plan.trips import (
    Flight,
    Visit,
    parse_itinerary,
    parse_trip_prompt,
    render_plan,
)

TRIP = instances("trip")
FIRST = by_id("trip", "trip_planning_example_1088")


def test_a_prompt_becomes_its_constraints() -> None:
    p = parse_trip_prompt(FIRST.prompt_5shot)
    assert p.total_days == 21
    assert [(s.city, s.days) for s in p.stays] == [
        ("Oslo", 5), ("Stuttgart", 5), ("Reykjavik", 2), ("Split", 3), ("Geneva", 2),
        ("Porto", 3), ("Tallinn", 5), ("Stockholm", 3)]
    assert [(e.city, e.first, e.last) for e in p.events] == [
        ("Reykjavik", 1, 2), ("Porto", 19, 21), ("Stockholm", 2, 4)]
    # "from Reykjavik to Stuttgart" is one way; "Stockholm and Tallinn" both ways.
    assert ("Reykjavik", "Stuttgart") in p.flights
    assert ("Stuttgart", "Reykjavik") not in p.flights
    assert {("Stockholm", "Tallinn"), ("Tallinn", "Stockholm")} <= p.flights
    assert ("Reykjavik", "Tallinn") not in p.flights


def test_every_prompt_parses_like_the_dataset_fields_from_both_shots() -> None:
    one_way = 0
    for inst in TRIP:
        p = parse_trip_prompt(inst.prompt_0shot)
        assert p == parse_trip_prompt(inst.prompt_5shot), inst.id
        assert sorted(p.cities) == sorted(str(inst.record["cities"]).split("**")), inst.id
        assert sum(s.days for s in p.stays) - (len(p.stays) - 1) == p.total_days, inst.id
        one_way += sum((b, a) not in p.flights for a, b in p.flights)
    assert one_way == 57


@pytest.mark.parametrize(("text", "message"), [
    ("Plan a trip.", "not a NATURAL PLAN trip prompt"),
    ("You plan to visit 2 European cities for 3 days in total. You want to spend 2 days in "
     "Rome. You want to spend 2 days in Oslo. You like pizza.\n\nHere are the cities that have "
     "direct flights:\nRome and Oslo.\n\nFind a trip plan.",
     "unrecognised sentence in a trip prompt: 'You like pizza.'"),
    ("You plan to visit 2 European cities for 3 days in total. You want to spend 2 days in "
     "Rome. You want to spend 2 days in Oslo.\n\nHere are the cities that have direct "
     "flights:\nRome or Oslo.\n\n", "unrecognised direct flight 'Rome or Oslo'"),
    ("You plan to visit 3 European cities for 3 days in total. You want to spend 2 days in "
     "Rome. You want to spend 2 days in Oslo.\n\nHere are the cities that have direct "
     "flights:\nRome and Oslo.\n\n", "announces 3 cities but gives stays for 2"),
])
def test_an_unknown_prompt_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_trip_prompt(text)


def test_the_itinerary_parser_reads_stays_and_flights() -> None:
    it = parse_itinerary(FIRST.golden_plan)
    assert it.visits[:2] == (Visit(city="Reykjavik", first=1, last=2, stated_days=2),
                             Visit(city="Stockholm", first=2, last=4, stated_days=3))
    assert it.flights[0] == Flight(day=2, src="Reykjavik", dst="Stockholm")
    assert not it.unparsed
    assert parse_itinerary("Day 3: relax").unparsed == ("Day 3: relax",)
    # A stay may be written without "Visit X for n days": its span gives the days.
    loose = parse_itinerary("**Day 1-2:** Arriving in Brussels and attend the conference.\n"
                            "**Day 2:** Fly from Brussels to Split.\n**Day 2-5:** Stay in Split.")
    assert loose.visits == (Visit(city="Brussels", first=1, last=2, stated_days=2),
                            Visit(city="Split", first=2, last=5, stated_days=4))
    assert not loose.unparsed


def test_every_golden_plan_passes_and_is_rendered_exactly_from_its_order() -> None:
    for inst in TRIP:
        verdict = verify_plan(instance_constraints(inst), inst.golden_plan)
        assert verdict.accepted and verdict.score == 100.0, (inst.id, verdict.feedback)
        p = parse_trip_prompt(inst.prompt_0shot)
        order = [v.city for v in parse_itinerary(inst.golden_plan).visits]
        assert render_plan(p, order) == inst.golden_plan


def test_events_fill_their_stays_exactly_in_every_golden_plan() -> None:
    # The evidence that an event's days are days spent in its city (not just a day of them).
    events = 0
    for inst in TRIP:
        visits = {v.city: v for v in parse_itinerary(inst.golden_plan).visits}
        for e in parse_trip_prompt(inst.prompt_0shot).events:
            assert (visits[e.city].first, visits[e.city].last) == (e.first, e.last)
            events += 1
    assert events == 257


# --- mutations fail, naming the constraint they break -------------------------------------------

def test_a_missing_city_names_its_stay() -> None:
    for inst in TRIP:
        p = parse_trip_prompt(inst.prompt_0shot)
        order = [v.city for v in parse_itinerary(inst.golden_plan).visits]
        last = order[-1]
        plan = render_plan(p, order[:-1])
        bad = violated_ids(instance_constraints(inst), plan)
        assert f"stay.{last}" in bad and "total_days" in bad, (inst.id, bad)


def test_a_swapped_order_without_a_direct_flight_names_the_flights() -> None:
    checked = 0
    for inst in TRIP:
        p = parse_trip_prompt(inst.prompt_0shot)
        order = [v.city for v in parse_itinerary(inst.golden_plan).visits]
        for i in range(len(order) - 1):
            swapped = [*order[:i], order[i + 1], order[i], *order[i + 2:]]
            legs = list(itertools.pairwise(swapped))
            if all(leg in p.flights for leg in legs):
                continue
            bad = violated_ids(instance_constraints(inst), render_plan(p, swapped))
            assert "flights" in bad, (inst.id, swapped, bad)
            checked += 1
            break
    assert checked > 80


def test_a_mutated_golden_plan_names_what_it_breaks() -> None:
    cs = instance_constraints(FIRST)
    golden = FIRST.golden_plan
    cases = [
        (golden.replace("**Day 4-8:** Visit Tallinn for 5 days.",
                        "**Day 4-7:** Visit Tallinn for 4 days."),
         ["continuity", "stay.Tallinn"]),
        (golden.replace("**Day 19:** Fly from Stuttgart to Porto.",
                        "**Day 19:** Fly from Stuttgart to Oslo.\n**Day 19:** Fly from Oslo to "
                        "Porto."), ["continuity", "flights"]),
        (golden.replace("Stockholm", "Helsinki"),
         ["cities", "event.Stockholm.2-4", "flights", "stay.Stockholm"]),
        (golden + "\n**Day 22:** Rest.", ["format"]),
        ("I would go to Oslo.", ["cities", "continuity", "event.Porto.19-21",
                                 "event.Reykjavik.1-2", "event.Stockholm.2-4", "flights",
                                 "format", "stay.Geneva", "stay.Oslo", "stay.Porto",
                                 "stay.Reykjavik", "stay.Split", "stay.Stockholm",
                                 "stay.Stuttgart", "stay.Tallinn", "total_days"]),
    ]
    for plan, expected in cases:
        assert sorted(violated_ids(cs, plan)) == expected, plan


def test_a_one_way_flight_taken_backwards_is_not_direct() -> None:
    inst = by_id("trip", "trip_planning_example_1088")
    p = parse_trip_prompt(inst.prompt_0shot)
    plan = render_plan(p, ["Stuttgart", "Reykjavik", "Stockholm", "Tallinn", "Oslo", "Geneva",
                           "Split", "Porto"])
    verdict = verify_plan(instance_constraints(inst), plan)
    reason = next(r.reason for r in verdict.results if r.id == "flights")
    assert reason.startswith("no direct flight from Stuttgart to Reykjavik")
