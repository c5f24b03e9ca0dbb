"""Task kinds come from the ``forethought.tasks`` entry points, built-ins and plugins alike,
and are imported only when used.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest

from forethought.exceptions import UnknownNameError, UserError
from forethought.models.messages import ModelRequest
from forethought.search import task as task_module
from forethought.search.chain import ChainTask
from forethought.search.game24 import Game24Task
from forethought.search.task import (
    Proposal,
    SearchTask,
    State,
    TaskOptions,
    build_task,
    register_task,
    task_names,
    task_options,
)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "_TASKS", {})
    monkeypatch.setattr(task_module, "_entry_points_loaded", False)


class EchoOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    loud: bool = False


@dataclass(kw_only=True)
class EchoTask(SearchTask):
    options_model = EchoOptions
    loud: bool = False

    @classmethod
    def from_options(cls, question: str, options: dict[str, Any]) -> EchoTask:
        return cls(question=question, loud=options["loud"])

    def propose_request(self, state: State) -> ModelRequest:
        return self.request("echo", self.question, "propose")

    def parse_proposal(self, state: State, text: str) -> Proposal:
        return Proposal()

    def rollout_request(self, state: State) -> ModelRequest:
        return self.request("echo", self.question, "rollout")

    def parse_rollout(self, state: State, text: str) -> State | None:
        return None


def test_the_built_in_kinds_are_entry_points() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(
        group="forethought.tasks")}
    assert names["chain"] == "forethought.search.chain:ChainTask"
    assert names["game24"] == "forethought.search.game24:Game24Task"
    assert {"chain", "game24", "natural_plan_calendar"} <= set(task_names())
    assert isinstance(build_task("chain", "What is 2 + 2?"), ChainTask)
    assert isinstance(build_task("game24", "4 9 10 13"), Game24Task)
    assert task_options("chain") is TaskOptions


def test_listing_kinds_imports_none_of_them() -> None:
    code = ("import sys\nfrom forethought.search.task import task_names\nnames = task_names()\n"
            "print('natural_plan_trip' in names, 'forethought.tasks.natural_plan.task' in "
            "sys.modules, 'forethought.search.game24' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "False", "False"]


def test_a_plugin_entry_point_is_a_task_kind(fresh_registry: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    points = [SimpleNamespace(name="echo", value="plug:EchoTask", load=lambda: EchoTask),
              SimpleNamespace(name="broken", value="plug:nothing", load=lambda: len)]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: points if group == "forethought.tasks" else [])
    assert task_names() == ["broken", "echo"]
    task = build_task("echo", "hello", {"loud": True})
    assert isinstance(task, EchoTask) and task.loud
    with pytest.raises(UserError, match=r"invalid options for search task 'echo': shout"):
        build_task("echo", "hello", {"shout": True})
    with pytest.raises(UserError, match=r"entry point 'broken' \(plug:nothing\) is not a "
                                        r"SearchTask subclass"):
        build_task("broken", "hello")
    with pytest.raises(UnknownNameError, match="unknown search task 'nope'; valid search "
                                              "tasks: 'broken', 'echo'"):
        task_options("nope")


def test_code_registration_takes_precedence(fresh_registry: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    points = [SimpleNamespace(name="echo", value="plug:EchoTask", load=lambda: EchoTask)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points)
    register_task("echo", TaskOptions, lambda: ChainTask.from_options)
    assert isinstance(build_task("echo", "What is 2 + 2?"), ChainTask)


def test_a_task_without_from_options_says_so() -> None:
    with pytest.raises(UserError, match="task SearchTask cannot be built from recipe options"):
        SearchTask.from_options("q", {})
