"""The import graph of our packages: no cycle, and every arrow points down.

The floors (``docs/architecture.md``: ``pipelines → transforms → augment → schemas``;
``model → schemas``), lowest first:

- ``schemas``: the contract; imports none of ours.
- ``augment``: pure audio/text augmentations over numpy arrays and strings; imports ``schemas``.
- ``transforms``: the stages (the augment *stage* included, which wraps ``augment``'s functions)
  and the helpers they share (storage I/O, TTS); imports ``augment`` and ``schemas``, never
  ``pipelines``.
- ``pipelines``: assembly (sources, plan, sink, CLI); imports any floor below.
- ``model``: the trainer, a wing of its own; reads shards through ``schemas`` only, and nothing
  but the command line enters it: ``pipelines.cli`` dispatches ``clara train`` / ``clara eval``.

Every ``import`` counts, wherever it is written (module level, inside a function, under
``TYPE_CHECKING``): a function-level import hides a circle from Python, not from this test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "augment", "transforms", "pipelines", "model")

MAY_IMPORT: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "augment": frozenset({"schemas"}),
    "transforms": frozenset({"schemas", "augment"}),
    "pipelines": frozenset({"schemas", "augment", "transforms"}),
    "model": frozenset({"schemas"}),
}
"""Which other top-level packages each package may import."""

FRONT_DOOR: dict[str, frozenset[str]] = {"pipelines.cli": frozenset({"model"})}
"""Single modules allowed one more arrow: the CLI starts the trainer and the evaluation."""

CIRCLES_BEING_BROKEN: frozenset[tuple[str, str]] = frozenset()
"""Function-level imports that close a circle another change of this wave is removing. TO REMOVE:
each line goes when its change lands; the set must end empty."""


@cache
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages (a package is its __init__)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _package_of(module: str) -> str:
    return module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]


def _imported_names(module: str) -> Iterator[tuple[str, list[str]]]:
    """(base module, imported names) of every import statement in ``module``, relative ones resolved."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"), filename=str(modules()[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(module).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [alias.name for alias in node.names]


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def edges() -> dict[str, frozenset[str]]:
    """module -> our modules it imports (``from a import b`` counts as ``a.b`` when that is a module).

    Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so those packages are
    targets too, except the importer's own enclosing packages (a package's ``__init__`` importing
    its own modules is how packages work, not a circle).
    """
    known = modules()
    graph: dict[str, frozenset[str]] = {}
    for module in known:
        targets: set[str] = set()
        for base, names in _imported_names(module):
            if base.split(".")[0] not in PACKAGES:
                continue
            found = [f"{base}.{n}" for n in names if f"{base}.{n}" in known] or [base]
            for target in found:
                targets.update(t for t in (*_ancestors(target), target) if t in known)
        targets -= {module, *_ancestors(module)}
        graph[module] = frozenset(targets)
    return graph


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_allowed(graph: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    return {m: frozenset(t for t in ts if (m, t) not in CIRCLES_BEING_BROKEN) for m, ts in graph.items()}


def test_the_walk_sees_every_package_and_function_level_imports() -> None:
    graph = edges()
    assert {m.split(".")[0] for m in graph} == set(PACKAGES)
    assert "transforms.tts" in graph["transforms.noise_bank"]  # imported inside generated_bank()
    assert sum(len(targets) for targets in graph.values()) > 100


def test_there_is_no_import_cycle() -> None:
    cycles = _cycles(_without_allowed(edges()))
    assert not cycles, "import cycles (each a set of modules that import one another): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_every_arrow_points_down() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in edges().items()
        for target in targets
        if (top := target.split(".")[0]) != module.split(".")[0]
        and top not in MAY_IMPORT[module.split(".")[0]]
        and top not in FRONT_DOOR.get(module, frozenset())
    )
    assert not upward, "imports against the floors: " + ", ".join(upward)


def test_the_cli_enters_the_trainer_only_inside_its_commands() -> None:
    """``clara shards`` on a worker must not load the trainer (torch) just to start."""
    tree = ast.parse(modules()["pipelines.cli"].read_text(encoding="utf-8"))
    top_level = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            name.split(".")[0] == "model"
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        )
    ]
    assert not top_level
