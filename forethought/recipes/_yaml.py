"""Reading a recipe's YAML safely: bounded in size, depth and alias expansion, no duplicate keys.

A recipe is a small file a person writes, but it may come from anywhere, so reading it must
never crash, hang or exhaust memory: every limit below stops the reader as soon as it is
crossed (while composing, before anything is built) with a :class:`RecipeError` naming the
line. PyYAML's composer is recursive, so without the depth limit a deeply nested file raises
``RecursionError``; without the expansion limit a few lines of aliases ("billion laughs")
expand to billions of nodes when validated.
"""

from __future__ import annotations

import re
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from forethought._options import Loc
from forethought.exceptions import RecipeError

MAX_BYTES = 256 * 1024
"""Largest recipe file read (recipes are a screenful; a long question belongs in ``-i``)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists (the deepest shipped recipe needs 4)."""
MAX_NODES = 10_000
"""Most values in a recipe, counting every alias as the size of what it refers to."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _LimitError(yaml.MarkedYAMLError):
    """A limit of this reader was crossed (or a key repeated); reported like a YAML error."""

    def __init__(self, problem: str, mark: yaml.Mark | None, *, node: Node | None = None,
                 key: str | None = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.node = node
        """For a repeated key, the mapping that repeats it (to name its field)."""
        self.key = key


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses repeated keys and stops at :data:`MAX_DEPTH` levels
    and :data:`MAX_NODES` values (aliases counted at their expanded size), and reads
    exponents without a dot (``1e23``) as floats, as YAML 1.2 does.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._count = 0
        self._sizes: dict[int, int] = {}
        """Expanded size of each composed node, by id (nodes live as long as the loader)."""

    def _add(self, size: int, mark: yaml.Mark) -> None:
        self._count += size
        if self._count > MAX_NODES:
            raise _LimitError(f"the recipe has more than {MAX_NODES:,} values (aliases count "
                              f"as many values as they repeat); recipes are small", mark)

    # The scanner looks ahead over every open "[" or "{" for a possible "key:", so a deep
    # flow nesting costs quadratic time before the composer sees its first level: stop here.
    def fetch_flow_sequence_start(self) -> None:
        self._check_flow_level()
        super().fetch_flow_sequence_start()  # type: ignore[misc]

    def fetch_flow_mapping_start(self) -> None:
        self._check_flow_level()
        super().fetch_flow_mapping_start()  # type: ignore[misc]

    def _check_flow_level(self) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _LimitError(f"the recipe nests deeper than {MAX_DEPTH} levels",
                              self.get_mark())

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        this: Any = self  # PyYAML's stubs leave the event API untyped
        event: Any = this.peek_event()
        mark = cast(yaml.Mark, event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            anchor = cast(str, event.anchor)
            target: Node | None = self.anchors.get(anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise _LimitError(f"alias *{anchor} is used inside the value it names (a "
                                      f"recursive structure)", mark)
                self._add(size, mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitError(f"the recipe nests deeper than {MAX_DEPTH} levels", mark)
        before = self._count
        self._add(1, mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._sizes[id(node)] = self._count - before
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Checked on the keys as written, before merge keys (<<) are flattened in: a key may
        # override a merged one, as YAML intends, but never repeat one written beside it.
        seen: dict[Any, ScalarNode] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key: Any = cast(Any, self).construct_object(key_node)
            first = seen.get(key)
            if first is not None:
                raise _LimitError(
                    f"key {key_node.value!r} appears twice in this mapping (lines "
                    f"{first.start_mark.line + 1} and {key_node.start_mark.line + 1}); a "
                    f"repeated key would silently replace the first", key_node.start_mark,
                    node=node, key=str(key_node.value))
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


cast(Any, RecipeLoader).add_implicit_resolver(
    _FLOAT_TAG, re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789"))


def path_to(root: Node, target: Node) -> Loc | None:
    """The key path from ``root`` to ``target`` (``None`` if it is not below ``root``)."""
    stack: list[tuple[Node, Loc]] = [(root, ())]
    visited: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if node is target:
            return loc
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    stack.append((value, (*loc, key.value)))
        elif isinstance(node, SequenceNode):
            stack.extend((child, (*loc, i)) for i, child in enumerate(node.value))
    return None


def line_of(node: Node | None, loc: Loc) -> tuple[int | None, Loc, bool]:
    """The 1-based line of the value at ``loc`` below ``node`` (a mapping value: its key's
    line), or of the deepest part of ``loc`` that exists; that existing part; and whether the
    path stopped at a scalar with keys left (a shorthand such as ``planner: react`` for
    ``planner: {kind: react}``).

    When a key is repeated through a merge (``<<``), the last one is the one in effect.
    """
    if node is None:
        return None, (), False
    line = node.start_mark.line + 1
    found: Loc = ()
    for key in loc:
        child: Node | None = None
        if isinstance(node, MappingNode):
            for k, v in reversed(node.value):
                if isinstance(k, ScalarNode) and k.value == str(key):
                    child, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, SequenceNode) and isinstance(key, int) \
                and 0 <= key < len(node.value):
            item: Node = node.value[key]
            child, line = item, item.start_mark.line + 1
        if child is None:
            return line, found, isinstance(node, ScalarNode)
        found = (*found, key)
        node = child
    return line, found, False


def read_yaml(text: str, *, path: str) -> tuple[Node | None, Any]:
    """The composed node tree (for line numbers) and the data of recipe ``text``.

    Raises :class:`RecipeError` (one line, with the line number) for anything unreadable.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        cut = text.encode("utf-8", errors="surrogatepass")[:MAX_BYTES]
        raise RecipeError(f"the recipe is {size:,} bytes, more than the {MAX_BYTES:,} a recipe "
                          f"may have; pass long questions with -i/--input",
                          path=path, line=cut.count(b"\n") + 1)
    loader: RecipeLoader | None = None
    node: Node | None = None
    try:
        loader = RecipeLoader(text)  # checks every character first
        node = loader.get_single_node()
        data: Any = None if node is None else cast(Any, loader).construct_document(node)
    except _LimitError as exc:
        mark = exc.problem_mark
        where = path_to(node, exc.node) if node is not None and exc.node is not None else None
        if where is not None and exc.key is not None:
            where = (*where, exc.key)
        raise RecipeError(str(exc.problem), path=path,
                          line=None if mark is None else mark.line + 1,
                          field=".".join(str(p) for p in where) if where else None) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # "while scanning ..." contexts only say where PyYAML was; others say what it wanted.
        context = exc.context if exc.context and not exc.context.startswith("while ") else None
        problem = "; ".join(str(p) for p in (context, exc.problem) if p) or "unreadable"
        raise RecipeError(f"not valid YAML: {problem}", path=path,
                          line=None if mark is None else mark.line + 1) from None
    except yaml.reader.ReaderError as exc:
        char = exc.character if isinstance(exc.character, int) else 0
        raise RecipeError(f"character U+{char:04X} is not allowed in YAML (control characters "
                          f"and unpaired surrogates are not)", path=path,
                          line=text.count("\n", 0, exc.position) + 1) from None
    except yaml.YAMLError as exc:  # any other YAML failure: still one line, never a traceback
        raise RecipeError(f"not valid YAML: {str(exc).splitlines()[0]}", path=path) from None
    finally:
        if loader is not None:
            loader.dispose()
    return node, data

