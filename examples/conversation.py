"""A two-turn conversation, stored in the run store and resumed by id.

Runs offline: a ScriptedModel stands in for a real model. It plans from the question it is
shown, which, on the second turn, includes the first turn: that is how a follow-up like
"and if it were twice as many?" reaches the planner.
"""

import re

from forethought import Agent, ModelRequest, ScriptedModel


def stand_in_model(request: ModelRequest) -> str:
    question = request.metadata.get("question", "")
    if request.purpose == "plan":
        if "twice as many" in question:  # "it" is the previous answer, read from the context
            previous = re.findall(r"Assistant: (\d+)", question)[-1]
            return f'1. calculator(expression="{previous} * 2")\n2. join()'
        return '1. calculator(expression="12 * 7")\n2. join()'
    result = re.findall(r"-> (\S+)", request.messages[-1].content)[-1]
    return f"Action: Finish({result})"


agent = Agent(ScriptedModel(stand_in_model), tools=["calculator"])
chat = agent.chat()
print(chat.run("A crate holds 12 boxes of 7 pears. How many pears?").output)
print(chat.run("And if it were twice as many?").output)

# Later, even in another process: the conversation is resumed from the run store by its id.
again = agent.chat(chat.id)
print(f"{again.id}: {again.turns} turns, {len(again.messages)} messages")

# Without a Conversation, pass the messages yourself:
first = agent.run("A crate holds 12 boxes of 7 pears. How many pears?")
print(agent.run("And if it were twice as many?", history=first.messages).output)
