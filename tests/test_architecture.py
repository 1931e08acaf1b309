"""The package reads as its architecture: layers import only downwards, no module imports itself
back in a circle, and no module borrows another's private names.

Every import counts, wherever it stands: at the top, inside a function (a lazy import hides a circle,
it does not remove it) or under ``TYPE_CHECKING`` (a type-only circle is still a circle for a reader).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "switchboard"

# Layers, bottom first: a module may import modules of its own layer or of a lower one. Within a layer,
# several packages may stand side by side (their ranks are equal) and must not import each other.
LAYERS: dict[str, int] = {
    "switchboard.settings": 0,
    "switchboard.actors": 1,
    "switchboard.store": 2,
    "switchboard.scenarios": 3,
    "switchboard.llm": 3,
    "switchboard.mail": 3,  # outgoing mail (settings below it; the accounts work in edges above it)
    "switchboard.edges": 4,
    "switchboard.processes": 5,
    "switchboard.cli": 6,
    "switchboard": 7,  # the package's own __init__
}
# Inside edges: codes and keys, the vocabulary on them (frames, auth), then delivery, the bot worker, the shared services, the two front doors, the app.
EDGE_LAYERS: dict[str, int] = {
    "switchboard.edges.codes": 0,
    "switchboard.edges.keys": 0,
    "switchboard.edges.protocol": 1,
    "switchboard.edges.auth": 1,
    "switchboard.edges.limits": 1,
    "switchboard.edges.scope": 1,
    "switchboard.edges.site": 1,
    "switchboard.edges.identity": 1,
    "switchboard.edges.images": 1,
    "switchboard.edges.accounts": 1,
    "switchboard.edges.setup": 1,
    "switchboard.edges.delivery": 2,
    "switchboard.edges.botworker": 3,
    "switchboard.edges.services": 4,
    "switchboard.edges.live": 4,
    "switchboard.edges.watch": 4,
    "switchboard.edges.ws": 5,
    "switchboard.edges.rest": 5,
    "switchboard.edges.pages": 5,
    "switchboard.edges.health": 5,
    "switchboard.edges.app": 6,
    "switchboard.edges": 7,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of a switchboard module in `name`."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("switchboard")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("switchboard"):
                continue
            names = [a.name for a in node.names]
            # `from switchboard.edges.delivery import history` imports the module history
            modules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            if modules:
                found += [(m, [], node.lineno) for m in modules]
                names = [n for n in names if f"{target}.{n}" not in MODULES]
                if not names:
                    continue
            found.append((target, names, node.lineno))
    return found


def rank(name: str, table: dict[str, int]) -> tuple[int, str] | None:
    """The layer of `name` and the key that placed it (the longest matching prefix)."""
    best = None
    for key, level in table.items():
        if (name == key or name.startswith(key + ".")) and (best is None or len(key) > len(best[1])):
            best = (level, key)
    return best


def layer_violations() -> list[str]:
    problems = []
    for name in MODULES:
        for target, _, line in imports_of(name):
            for table in (LAYERS, EDGE_LAYERS):
                mine, theirs = rank(name, table), rank(target, table)
                if mine is None or theirs is None or mine[1] == theirs[1]:
                    continue
                if theirs[0] > mine[0] or (theirs[0] == mine[0]):
                    problems.append(f"{name}:{line} imports {target} ({theirs[1]} is not below {mine[1]})")
    return problems


def circles() -> list[list[str]]:
    graph = {name: sorted({t for t, _, _ in imports_of(name) if t in MODULES and t != name}) for name in MODULES}
    # Tarjan's strongly connected components; every component larger than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def private_borrowings() -> list[str]:
    return [f"{name}:{line} takes {', '.join(n for n in names if n.startswith('_'))} from {target}"
            for name in MODULES for target, names, line in imports_of(name)
            if target != name and any(n.startswith("_") and not n.startswith("__") for n in names)]


def test_every_package_is_placed_in_a_layer() -> None:
    unplaced = [name for name in MODULES if rank(name, LAYERS) is None]
    assert unplaced == []


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert layer_violations() == []


def test_no_import_circle_between_modules() -> None:
    assert circles() == []


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_borrowings() == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_opens_with_a_docstring(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    assert ast.get_docstring(tree), f"{name} has no module docstring"


DOC = ROOT.parent / "docs" / "architecture.md"


def named_paths(text: str) -> set[str]:
    """Every file path the doc names in backticks, made relative to the repository (bare module paths such as
    `edges/ws/visitor.py` are under switchboard/)."""
    found = set()
    for token in re.findall(r"`([\w./<>*-]+\.(?:py|md|js|yaml))`", text):
        if "<" in token or "*" in token:
            continue
        found.add(token if token.split("/")[0] in ("switchboard", "tests", "docs", "load") else f"switchboard/{token}")
    return found


def test_the_architecture_doc_names_only_files_that_exist() -> None:
    missing = sorted(p for p in named_paths(DOC.read_text()) if not (ROOT.parent / p).exists())
    assert missing == []


def test_the_architecture_doc_names_only_functions_and_classes_that_exist() -> None:
    """Every `Class`, `Class.method` and `snake_case` name in backticks is defined in switchboard/ (a def, a
    class, a field or a constant), or is a documented wire string there."""
    source = "\n".join(path.read_text() for path in [*MODULES.values(), Path(__file__)])
    modules = {name.rpartition(".")[2] for name in MODULES}
    missing = []
    for dotted in sorted(set(re.findall(r"`([A-Za-z_]\w*(?:\.\w+)?)`", DOC.read_text()))):
        if not (dotted[0].isupper() or "_" in dotted) or dotted in modules:
            continue  # plain words and module names (`message`, `ack`, `output`)
        name = dotted.split(".")[-1]
        pattern = rf"(def|class)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*[:=]|[(, ]{re.escape(name)}:|\"{re.escape(name)}\""
        if not re.search(pattern, source, re.M):
            missing.append(dotted)
    assert missing == []
