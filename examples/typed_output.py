"""A typed output: the run's answer as a validated pydantic object.

Runs offline: a ScriptedModel stands in for a real model and writes what one would (the plan,
the join, then the structured reply). With a provider, write
``Agent("openai/gpt-4o-mini", tools=["calculator"], output_type=Trip)`` instead.
"""

import pydantic

from forethought import Agent, ModelRequest, ModelRetry, ScriptedModel


class Trip(pydantic.BaseModel):
    city: str
    nights: int
    budget_eur: int


def stand_in_model(request: ModelRequest) -> str:
    if request.purpose == "plan":
        return '1. calculator(expression="3 * 140 + 2 * 35")\n2. join()'
    if request.purpose == "join":
        return "Thought: 3 nights and 2 tickets.\nAction: Finish(Lisbon, 3 nights, 490 euros)"
    return '{"city": "Lisbon", "nights": 3, "budget_eur": 490}'  # the structured reply


agent = Agent(ScriptedModel(stand_in_model), tools=["calculator"], output_type=Trip)


@agent.output_validator
def affordable(trip: Trip) -> Trip:
    if trip.budget_eur > 1000:
        raise ModelRetry("the budget is capped at 1000 euros: plan a cheaper trip")
    return trip


result = agent.run("Three nights in Lisbon at 140 euros, and two museum tickets at 35 euros: "
                   "what is the budget?")
trip = result.output  # a Trip: pyright knows it (AgentResult[Trip])
print(f"{trip.city}: {trip.nights} nights, {trip.budget_eur} euros ({result.status})")

# Offline with the simulator: the planner's answer already is an int, so no extra call.
total = Agent(tools=["calculator"], output_type=int).run("What is (17 + 25) * 3?").output
print("twice the total:", total * 2)
