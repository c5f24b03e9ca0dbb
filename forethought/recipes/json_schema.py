"""The recipe's JSON Schema for editors, with every registered component's own options.

The pydantic schema of :class:`~forethought.recipes.schema.Recipe` leaves tool and planner
options open (they depend on the name). Here each registered tool factory, planner and search
strategy contributes a variant with its options, so an editor completes them and shows their
ranges (``minimum``/``maximum``) and descriptions.
"""

from __future__ import annotations

from typing import Any

import pydantic

from forethought.recipes.schema import Recipe

Schema = dict[str, Any]


def _variant(key: str, name: str, options: type[pydantic.BaseModel], defs: Schema, *,
             required: bool = True) -> Schema:
    """``{key: name, <options>}`` as one alternative of a union."""
    schema = options.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    return {"type": "object", "title": f"{key}: {name}",
            "description": schema.get("description") or f"{key} {name!r} and its options",
            "properties": {key: {"const": name}, **schema.get("properties", {})},
            "required": ([key] if required else []) + list(schema.get("required", [])),
            "additionalProperties": False}


def _strategies(defs: Schema) -> Schema:
    from forethought.search.base import strategy_class, strategy_names

    names = strategy_names()
    return {"anyOf": [{"enum": names},
                      *(_variant("kind", n, strategy_class(n).Options, defs) for n in names)]}


def _arms(defs: Schema) -> Schema:
    """The plangen planner's arms: a strategy or formalise_solve, its options, name, refine,
    prior.
    """
    from forethought.planners.plangen_options import ArmOptions, arm_class, arm_kinds

    own = {k: v for k, v in ArmOptions.model_json_schema()["properties"].items() if k != "kind"}
    variants: list[Schema] = []
    for name in arm_kinds():
        variant = _variant("kind", name, arm_class(name).Options, defs)
        variant["properties"].update(own)
        variants.append(variant)
    return {"type": "array", "minItems": 1, "items": {"anyOf": variants},
            "description": "The strategies the selection agent chooses from, cheapest first"}


def _tools(defs: Schema) -> Schema:
    from forethought.tools.base import ToolFactory, builtin_tools

    registered = builtin_tools()
    factories = [(n, t) for n, t in sorted(registered.items()) if isinstance(t, ToolFactory)]
    plain = sorted(n for n, t in registered.items() if not isinstance(t, ToolFactory))
    return {"anyOf": [{"enum": sorted(registered)},
                      *({"type": "object", "title": f"name: {n}",
                         "properties": {"name": {"const": n}}, "required": ["name"],
                         "additionalProperties": False} for n in plain),
                      *(_variant("name", n, f.Options, defs) for n, f in factories)]}


def _planners(defs: Schema) -> Schema:
    from forethought.planners.base import planner_class, planner_names

    variants: list[Schema] = []
    for name in planner_names():
        variant = _variant("kind", name, planner_class(name).Options, defs,
                           required=name != "llmcompiler")
        if name == "search":
            variant["properties"]["strategy"] = _strategies(defs)
        if name == "plangen":
            variant["properties"]["arms"] = _arms(defs)
        variants.append(variant)
    return {"anyOf": [{"enum": planner_names()}, *variants], "default": "llmcompiler"}


def recipe_json_schema() -> Schema:
    """The JSON Schema of a recipe file (``forethought recipe schema``)."""
    schema = Recipe.model_json_schema()
    defs: Schema = schema.setdefault("$defs", {})
    props = schema["properties"]
    props["tools"]["items"] = _tools(defs)
    props["planner"] = {**_planners(defs), "description": "A planner name, or a mapping with "
                                                          "`kind` and its options"}
    if "EvalConfig" in defs:
        from forethought.eval.config import metric_json_schema

        defs["EvalConfig"]["properties"]["metric"] = metric_json_schema(defs)
    return schema
