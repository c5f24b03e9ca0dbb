"""Watching a run with ``async for``: every typed event, then the answer streamed as text.

Runs offline with the simulated model (a seeded simulator, not a language model).
"""

import asyncio

from forethought import (
    Agent,
    ModelTextDelta,
    NodeFinished,
    PlannerEvent,
    RunFinished,
    ToolCallStarted,
)


async def main() -> None:
    agent = Agent(tools=["calculator"])  # the simulated model

    async with agent.iter("What is (17 + 25) * (9 - 4)?") as run:
        async for event in run:
            match event:
                case ToolCallStarted(tool=tool, arguments=arguments):
                    print(f"  calling {tool}({arguments})")
                case NodeFinished(node_id=node, output=output):
                    print(f"  task {node} -> {output}")
                case PlannerEvent(action=action, detail=detail):
                    print(f"  planner: {action}: {detail}")
                case ModelTextDelta():
                    pass  # the models' text as it streams (the plan, the join)
                case RunFinished(status=status):
                    print(f"  finished: {status}")
                case _:
                    pass
    print("answer:", run.result.output)

    async with agent.run_stream("What is 6 * 7 - 2?") as answer:
        async for text in answer:  # the join's Finish(...) argument, as it is written
            print(text, end="", flush=True)
    print(f"\n{answer.result.usage.summary()}")

    # Leaving the block early cancels the run cleanly (toolsets stopped, the store records it).
    async with agent.iter("What is 2 * 3 + 4?") as run:
        async for event in run:
            if event.kind == "tool_call_started":
                break
    print("cancelled run:", run.run_id)


asyncio.run(main())
