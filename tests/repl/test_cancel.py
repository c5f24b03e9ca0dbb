"""Ctrl-C in the middle of a search: a real SIGINT cancels the run, the prompt comes back, and
the run store, the run's accounts and the conversation are all consistent."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from forethought.runtime.events import Event, StrategyStep
from forethought.runtime.store import RunStore
from tests.repl.conftest import driving

SEARCH = {"name": "slow-search", "model": "simulated:sleep=true,mean_latency_s=0.2",
          "planner": {"kind": "search", "task": "game24",
                      "strategy": {"kind": "tot_bfs", "breadth": 3, "proposals": 4}}}


async def test_ctrl_c_cancels_a_search_mid_way_and_the_prompt_comes_back(store: Path) -> None:
    sent: list[int] = []

    def press_ctrl_c(event: Event) -> None:
        # On the search's second step, as a terminal would on Ctrl-C: SIGINT to the process.
        if isinstance(event, StrategyStep) and event.step == 2 and not sent:
            sent.append(event.step)
            os.kill(os.getpid(), signal.SIGINT)

    with driving(store, SEARCH) as driver:
        driver.session.subscribers.append(press_ctrl_c)
        out = await driver.run("4 9 10 13", "/usage", "/planner llmcompiler",
                               "/model simulated", "What is 2 * (3 + 4)?")
        session = driver.session
        cancelled, answered = session.runs
        assert sent == [2]
        assert "cancelling the run…" in out
        assert f"cancelled · run {cancelled.run_id} is in the run store as cancelled" in out
        assert answered.status == "ok" and "\n14\n" in out  # the prompt came back
        # The conversation has the answered question only; the transcript has both.
        assert session.conversation.turns == 1
        answers = [e.text for e in session.transcript if e.kind == "answer"]
        assert answers == ["(cancelled)", "14"]
        assert "session: 1 run" in out  # /usage right after the cancel counts it

    with RunStore(store) as db:
        record = db.get_run(cancelled.run_id)
        events = list(db.events(cancelled.run_id))
    assert record.status == "cancelled" and record.finished is not None
    # What the session counted is what the store recorded, and what the calls reported.
    assert record.usage["model_calls"] == cancelled.model_calls > 0
    assert record.usage["prompt_tokens"] == cancelled.prompt_tokens
    finished = [e for e in events if e["kind"] == "model_call_finished"]
    assert sum(e["usage"]["model_calls"] for e in finished) == cancelled.model_calls
    started = [e for e in events if e["kind"] == "model_call_started"]
    assert len(started) == len(finished)  # no call left open: the cancelled ones closed
    assert any("CancelledError" in (e.get("error") or "") for e in finished)
    assert events[-1]["kind"] == "run_finished" and events[-1]["status"] == "cancelled"
    assert max(e["step"] for e in events if e["kind"] == "strategy_step") == 2
