"""What the run store writes and reads back: every field of every event, whatever the batching,
older rows, and a failed write that loses nothing."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from forethought.models.messages import Usage
from forethought.runtime import events as ev
from forethought.runtime.store import _CHUNK, RunStore, _encode

USAGE = Usage(prompt_tokens=3, completion_tokens=4, cost_usd=0.25, latency_s=1.5e-05,
              model_calls=1)


def sample_events() -> list[ev.Event]:
    """One event of every kind, with unusual values where a field allows them."""
    return [
        ev.RunStarted(question="¿cuántos? \"quoted\" \n newline"),
        ev.NodeAdded(node_id="n1", node_kind="tool", deps=("a", "b"), description="ünï"),
        ev.NodeStarted(node_id="n1", attempt=2),
        ev.ModelCallStarted(node_id=None, model="m", purpose=None, call_id=7),
        ev.ModelCallFinished(node_id="n1", model="m", purpose="answer", call_id=7, usage=USAGE,
                             cached=True, error=None),
        ev.ToolCallStarted(node_id="n1", tool="calc", arguments={"x": [1, 2.5, None],
                                                                 "when": Path("/tmp/p")}),
        ev.ToolCallFinished(node_id="n1", tool="calc", output="3", error="boom",
                            duration_s=0.125),
        ev.NodeFinished(node_id="n1", output="ok", duration_s=3.0e-05),
        ev.NodeFailed(node_id="n2", error="bad", error_type="ValueError", will_retry=True),
        ev.NodeSkipped(node_id="n3", reason="input $n2 failed"),
        ev.BudgetExhausted(reason="model calls 2 >= limit 2", spent=USAGE),
        ev.PlannerEvent(action="replan", detail="…"),
        ev.ModelTextDelta(node_id="n1", call_id=7, purpose="join", text="Fin\u00efsh("),
        ev.StrategyStep(node_id="search", step=3, actions={"propose": 4, "": 1}, failed=1,
                        budget_hit=True),
        ev.ConstraintsExtracted(source="model:m", family="natural_plan.calendar", count=3,
                                hard=2, formal=1, ids=("c1", "cé 2", ""), guided=False,
                                error="invalid after a repair turn: \"x\""),
        ev.SelectionDecision(family="f", bin="mid", complexity=0.5, rating=None,
                             features={"constraints": 6.0, "nan": math.nan}, method="thompson",
                             arms=[{"arm": "best_of_n#1a2b", "pulls": 0, "mean_reward": None,
                                    "available": True}], chosen="best_of_n#1a2b", round=2,
                             reason="switch: best verified score so far 0.12"),
        ev.ArmFinished(arm="formalise_solve", answer=None, verified=None, score=-0.0,
                       reward=-0.25, model_calls=0, tokens=12, status="failed"),
        ev.RunFinished(status="ok", answer="42", usage=USAGE, error=None),
    ]


def metadata_fields(event: ev.Event) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(event) if not f.metadata.get("content")]


def reference_to_dict(event: ev.Event) -> dict[str, Any]:
    """The straightforward definition that the generated Event.to_dict must match (content
    fields, which the run store keeps apart, are left out)."""
    out: dict[str, Any] = {}
    for f in metadata_fields(event):
        value = getattr(event, f.name)
        if isinstance(value, Usage):
            value = {"prompt_tokens": value.prompt_tokens,
                     "completion_tokens": value.completion_tokens,
                     "cost_usd": value.cost_usd, "latency_s": value.latency_s,
                     "model_calls": value.model_calls}
        out[f.name] = value
    return out


def all_event_classes() -> set[type[ev.Event]]:
    # From the module, not Event.__subclasses__(): slots=True replaces each class, and the
    # replaced ones linger there until collected.
    return {v for v in vars(ev).values() if isinstance(v, type) and issubclass(v, ev.Event)}


def test_sample_covers_every_event_class() -> None:
    covered = {type(e) for e in sample_events()}
    assert all_event_classes() - covered == {ev.Event}


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_to_dict_matches_the_field_by_field_definition(event: ev.Event) -> None:
    event.run_id = "r"
    got = event.to_dict()
    assert got == reference_to_dict(event)
    assert list(got) == [f.name for f in metadata_fields(event)]


def test_to_dict_converts_a_usage_wherever_the_annotation_allows_one() -> None:
    # ``arguments`` is a dict annotation: a Usage placed there is converted like the old
    # field-by-field loop did; a str field is copied as is.
    event = ev.ToolCallStarted(tool="t")
    event.arguments = USAGE  # type: ignore[assignment]
    assert event.to_dict()["arguments"] == reference_to_dict(event)["arguments"]
    assert isinstance(event.to_dict()["arguments"], dict)


@pytest.mark.parametrize("value", [
    {"a": "ünï \u2028 \"q\" \\ \n", "b": [1, 2.5, -0.0, 1e300, None, True]},
    {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
    {"path": Path("/x"), "set": {1}, "nested": {"t": (1, "x")}},
    [], "plain", 3,
])
def test_encoder_writes_what_json_dumps_writes(value: Any) -> None:
    assert _encode(value) == json.dumps(value, default=str, ensure_ascii=False)


def test_encoder_refuses_a_circular_value() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises((RecursionError, ValueError)):
        _encode(loop)


def as_json(event: ev.Event, run_id: str) -> dict[str, Any]:
    record = event.to_dict() | {"run_id": run_id}
    loaded: dict[str, Any] = json.loads(json.dumps(record, default=str, ensure_ascii=False))
    return loaded


@pytest.mark.parametrize("batch_size", [1, 5, _CHUNK, _CHUNK + 3, 1000])
def test_events_read_back_as_emitted(tmp_path: Path, batch_size: int) -> None:
    events = sample_events() * 12  # more than one chunk, and a remainder
    with RunStore(tmp_path / "runs.sqlite", batch_size=batch_size) as store:
        store.start_run("r1")
        store.start_run("r2")
        bus1, bus2 = ev.EventBus("r1"), ev.EventBus("r2")
        bus1.subscribe(store.record)
        bus2.subscribe(store.record)
        for i, event in enumerate(events):
            (bus1 if i % 3 else bus2).emit(dataclasses.replace(event))
        store.finish_run("r1", status="ok")
    reopened = RunStore(tmp_path / "runs.sqlite")
    try:
        got1, got2 = list(reopened.events("r1")), list(reopened.events("r2"))
    finally:
        reopened.close()
    # What comes back is each event's to_dict() through JSON: tuples as lists, values JSON
    # cannot hold (a Path in tool arguments) as their str().
    want1 = [as_json(e, "r1") for i, e in enumerate(events) if i % 3]
    want2 = [as_json(e, "r2") for i, e in enumerate(events) if not i % 3]
    assert got1 == want1
    assert got2 == want2
    assert [list(e) for e in got1] == [list(e) for e in want1]  # same key order too


def test_rows_written_with_the_envelope_inside_data_read_alike(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    old = {"kind": "node_started", "run_id": "r", "node_id": "n", "ts": 12.5, "attempt": 1}
    with RunStore(path) as store:
        store.start_run("r")
        store._conn.execute(  # pyright: ignore[reportPrivateUsage]
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
            ("r", 1, 12.5, "node_started", "n", json.dumps(old)))
        store._seq["r"] = 1  # pyright: ignore[reportPrivateUsage]
        new = ev.NodeStarted(node_id="m", attempt=3)
        new.run_id = "r"
        store.record(new)
        assert list(store.events("r")) == [old, new.to_dict()]


def test_a_failed_write_keeps_every_event_for_the_next_flush(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = RunStore(path, batch_size=10_000)
    store.start_run("r")
    bus = ev.EventBus("r")
    bus.subscribe(store.record)
    events = [ev.NodeStarted(node_id=f"n{i}") for i in range(_CHUNK * 2 + 5)]
    for event in events:
        bus.emit(event)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
    store._conn.execute("PRAGMA busy_timeout=20")  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.flush()
    blocker.execute("ROLLBACK")
    blocker.close()
    late = ev.NodeStarted(node_id="late")
    bus.emit(late)
    store.finish_run("r", status="ok")
    assert [e["node_id"] for e in store.events("r")] == [e.node_id for e in [*events, late]]
    assert [e.to_dict() for e in [*events, late]] == list(store.events("r"))
    store.close()
