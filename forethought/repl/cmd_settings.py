"""Slash commands that show and change the settings: ``/model``, ``/planner``,
``/strategy``, ``/tools``, ``/budget``, ``/recipe``.

Each change goes through :meth:`Session.configure` (the recipe checks: a change a recipe file
could not hold is refused with the same message, and nothing changes); the conversation goes
on with the new agent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table
from rich.text import Text

from forethought.repl.args import CommandError, options, path
from forethought.repl.shell import Command, Shell
from forethought.trace import fmt

PROVIDERS = ("openai/", "anthropic/", "gemini/", "ollama/", "hosted_vllm/", "local/")
"""Model name beginnings offered by completion (any LiteLLM provider works)."""
BUDGET_KEYS = {"tokens": "max_tokens", "cost": "max_cost_usd", "seconds": "max_seconds",
               "calls": "max_model_calls"}
"""Short names for the budget's fields (the full names work too)."""
_OFF = ("off", "none")


def _planner(shell: Shell) -> dict[str, Any]:
    planner = shell.session.settings.get("planner", {"kind": "llmcompiler"})
    return {"kind": planner} if isinstance(planner, str) else dict(planner)


def _say(shell: Shell, what: str, value: object) -> None:
    shown = value if isinstance(value, str) else fmt.compact_json(value)
    shell.console.print(Text.assemble((f"{what}: ", "bold"), shown))


# -- /model ---------------------------------------------------------------------------------

async def model_command(shell: Shell, words: list[str]) -> None:
    if not words:
        _say(shell, "model", shell.session.settings.get("model", "simulated"))
        return
    if len(words) > 1:
        raise CommandError("give one model name (quote it if it has spaces)")
    await shell.session.configure(model=words[0])
    _say(shell, "model", words[0])


def _model_names(shell: Shell, words: list[str]) -> list[str]:
    if words:
        return []
    current = shell.session.settings.get("model", "simulated")
    names = ["simulated", "simulated:sleep=true", "simulated:seed=1", *PROVIDERS]
    return ([current] if isinstance(current, str) and current not in names else []) + names


# -- /planner and /strategy ------------------------------------------------------------------

async def planner_command(shell: Shell, words: list[str]) -> None:
    if not words:
        _say(shell, "planner", _planner(shell))
        return
    await shell.session.configure(planner={"kind": words[0], **options(words[1:])})
    _say(shell, "planner", _planner(shell))


def _option_names(schema: Any) -> list[str]:
    return [f"{name}=" for name in getattr(schema, "model_fields", {})]


def _planner_names(shell: Shell, words: list[str]) -> list[str]:
    from forethought.exceptions import UnknownNameError
    from forethought.planners.base import planner_class, planner_names

    del shell
    if not words:
        return planner_names()
    try:
        return _option_names(planner_class(words[0]).Options)
    except UnknownNameError:
        return []


async def strategy_command(shell: Shell, words: list[str]) -> None:
    planner = _planner(shell)
    kind = planner["kind"]
    if not words:
        shown = planner.get("strategy", "best_of_n" if kind == "search" else
                            "direct" if kind == "aot" else None)
        if kind == "aot" and planner.get("strategy_options"):
            shown = {"kind": shown, **planner["strategy_options"]}
        _say(shell, "strategy", shown if shown is not None else f"none (planner {kind!r} "
             f"takes no strategy)")
        return
    name, given = words[0], options(words[1:])
    if kind == "search":
        planner["strategy"] = {"kind": name, **given} if given else name
    elif kind == "aot":
        planner["strategy"], planner["strategy_options"] = name, given
    else:
        raise CommandError(
            f"planner {kind!r} takes no strategy: `/planner search` runs one on the whole "
            f"question, `/planner aot` on each atomic sub-question; `/rerun join --strategy "
            f"{name}` decides the last answer with one")
    await shell.session.configure(planner=planner)
    _say(shell, "strategy", planner["strategy"])


def _strategy_names(shell: Shell, words: list[str]) -> list[str]:
    from forethought.exceptions import UnknownNameError
    from forethought.search.base import strategy_class, strategy_names

    if not words:
        extra = ["direct"] if _planner(shell)["kind"] == "aot" else []
        return extra + strategy_names()
    try:
        return _option_names(strategy_class(words[0]).Options)
    except UnknownNameError:
        return []


# -- /tools ---------------------------------------------------------------------------------

def _tool_settings(shell: Shell) -> list[Any]:
    return list(shell.session.settings.get("tools", []))


def _tool_name(item: Any) -> str:
    return item if isinstance(item, str) else str(item.get("name"))


async def tools_command(shell: Shell, words: list[str]) -> None:
    if not words:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("tool", no_wrap=True)
        table.add_column("description")
        for t in shell.session.agent.tools:
            table.add_row(Text(t.name), Text(fmt.one_line(t.description, 80)))
        shell.console.print(table if len(shell.session.agent.tools) else
                            Text("no tools (`/tools add NAME` adds one)", style="dim"))
        return
    action, rest = words[0], words[1:]
    tools = _tool_settings(shell)
    if action == "add" and rest:
        given = options(rest[1:])
        tools.append({"name": rest[0], **given} if given else rest[0])
    elif action == "remove" and len(rest) == 1:
        kept = [t for t in tools if _tool_name(t) != rest[0]]
        if len(kept) == len(tools):
            names = ", ".join(_tool_name(t) for t in tools) or "none"
            raise CommandError(f"no tool {rest[0]!r} in the settings (they have: {names})")
        tools = kept
    else:
        raise CommandError(f"unknown use of /tools: {' '.join(words)!r}")
    await shell.session.configure(tools=tools)
    _say(shell, "tools", [_tool_name(t) for t in tools])


def _tools_names(shell: Shell, words: list[str]) -> list[str]:
    from forethought.tools.base import builtin_tools

    if not words:
        return ["add", "remove"]
    if len(words) == 1 and words[0] == "add":
        return sorted(builtin_tools())
    if len(words) == 1 and words[0] == "remove":
        return [_tool_name(t) for t in _tool_settings(shell)]
    return []


# -- /budget --------------------------------------------------------------------------------

async def budget_command(shell: Shell, words: list[str]) -> None:
    budget: dict[str, Any] = dict(shell.session.settings.get("budget", {}))
    if not words:
        _say(shell, "budget per run", budget or "no limits")
        return
    if words == ["off"]:
        budget = {}
    else:
        for key, val in options(words).items():
            field = BUDGET_KEYS.get(key, key)
            if isinstance(val, str) and val.lower() in _OFF:
                budget.pop(field, None)
            else:
                budget[field] = val
    await shell.session.configure(budget=budget or None)
    _say(shell, "budget per run", budget or "no limits")


def _budget_names(shell: Shell, words: list[str]) -> list[str]:
    del shell, words
    return [*(f"{k}=" for k in BUDGET_KEYS), *(f"{v}=" for v in BUDGET_KEYS.values()), "off"]


# -- /recipe --------------------------------------------------------------------------------

async def recipe_command(shell: Shell, words: list[str]) -> None:
    from forethought.recipes import load_recipe

    if not words:
        shell.console.print(Text(yaml.safe_dump(shell.session.settings, sort_keys=False,
                                                allow_unicode=True).rstrip()))
        return
    if len(words) > 1:
        raise CommandError("give one recipe file")
    recipe = await asyncio.to_thread(load_recipe, path(words[0]))
    await shell.session.use_recipe(recipe)
    _say(shell, "settings", f"from {words[0]} ({recipe.name})")


def _recipe_names(shell: Shell, words: list[str]) -> list[str]:
    del shell
    if words:
        return []
    found: list[str] = []
    for folder in (Path.cwd(), Path.cwd() / "recipes"):
        if folder.is_dir():
            found += sorted(str(p.relative_to(Path.cwd())) for p in folder.iterdir()
                            if p.suffix in (".yaml", ".yml") and p.is_file())
    return found


COMMANDS = [
    Command(name="model", args="[NAME]", summary="show or set the model ('simulated' or any "
            "LiteLLM model string)", handler=model_command, names=_model_names,
            details="The model's other settings are dropped with it; a recipe sets them."),
    Command(name="planner", args="[NAME [key=value ...]]", summary="show or set the planner "
            "and its options", handler=planner_command, names=_planner_names,
            details="Planners: llmcompiler, aot, react, search (and plugins'). Options as in a "
                    "recipe: `/planner llmcompiler max_replans=1`."),
    Command(name="strategy", args="[NAME [key=value ...]]", summary="show or set the search "
            "strategy (planners search and aot)", handler=strategy_command,
            names=_strategy_names,
            details="`/strategy beam width=4 expansion=3`; values are YAML scalars."),
    Command(name="tools", args="[add NAME [key=value ...] | remove NAME]", summary="list, add "
            "or remove tools", handler=tools_command, names=_tools_names),
    Command(name="budget", args="[off | key=value ...]", summary="show or set the budget of "
            "each run", handler=budget_command, names=_budget_names,
            details="Keys: calls, tokens, cost (dollars), seconds (or max_model_calls, "
                    "max_tokens, max_cost_usd, max_seconds); `key=off` removes one limit."),
    Command(name="recipe", args="[FILE]", summary="show the settings as a recipe, or take "
            "them from a recipe file", handler=recipe_command, names=_recipe_names),
]
