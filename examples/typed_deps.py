"""A tool with typed dependencies: ``RunContext[Warehouse]`` gives it the run's deps, typed.

Runs offline: a ScriptedModel stands in for a real model and writes the plan a model would.
"""

from dataclasses import dataclass

from forethought import Agent, ModelRequest, RunContext, ScriptedModel, UserError


@dataclass
class Warehouse:
    stock: dict[str, int]
    price_eur: dict[str, float]


def stand_in_model(request: ModelRequest) -> str:
    if request.purpose == "plan":
        return ('1. in_stock(item="pears")\n2. unit_price(item="pears")\n'
                '3. calculator(expression="$1 * $2")\n4. join()')
    return "Action: Finish(" + request.messages[-1].content.splitlines()[-1].split("-> ")[-1] \
        + " euros)"


agent = Agent(ScriptedModel(stand_in_model), tools=["calculator"], deps_type=Warehouse)


@agent.tool
def in_stock(ctx: RunContext[Warehouse], item: str) -> int:
    """Units of an item in stock.

    Args:
        item: The item's name.
    """
    return ctx.deps.stock[item]  # ctx.deps is a Warehouse, for pyright too


@agent.tool
def unit_price(ctx: RunContext[Warehouse], item: str) -> float:
    """Price of one unit of an item, in euros.

    Args:
        item: The item's name.
    """
    return ctx.deps.price_eur[item]


print(agent.tools.get("in_stock").parameters["properties"])  # no ctx: the model never sees it
warehouse = Warehouse(stock={"pears": 40}, price_eur={"pears": 0.5})
print(agent.run("What is our stock of pears worth?", deps=warehouse).output)
try:  # a type error for pyright, and refused at run time before anything starts:
    agent.run("What is our stock of pears worth?", deps={"pears": 40})  # pyright: ignore[reportArgumentType]
except UserError as exc:
    print("refused:", exc)
