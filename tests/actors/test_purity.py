"""The entity modules stay a deterministic core: no clock, no threads, no I/O, no randomness.

Read from their source (not by importing them), following our own imports,
so a helper module pulled in by an entity is held to the same rule.

``datetime`` itself is allowed: service hours (``schedule.py``, which the
queue uses) convert instants to local dates with it. What stays forbidden is
reading the clock through it: ``datetime.now()``, ``date.today()`` and the like.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ENTITY_MODULES = ["agent", "queue", "conversation", "messages", "effects", "events", "address", "errors"]
FORBIDDEN = {"time", "asyncio", "threading", "pykka", "ray", "mongoengine", "redis", "starlette", "random",
             "uuid", "secrets", "socket", "multiprocessing", "concurrent"}
CLOCK_READS = {"now", "utcnow", "today"}  # datetime.now(), datetime.utcnow(), date.today(), datetime.today()


def _tree(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"cannot find {module}"
    return ast.parse(Path(spec.origin).read_text(), filename=spec.origin)


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(top-level names of absolute imports, fully qualified names of our modules imported relatively)."""
    package = module.rpartition(".")[0]
    absolute: set[str] = set()
    ours: set[str] = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            absolute |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                if node.module.partition(".")[0] == "switchboard":
                    ours.add(node.module)
                else:
                    absolute.add(node.module.partition(".")[0])
            else:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                if node.module is None:  # from . import errors
                    ours |= {f"{base}.{alias.name}" for alias in node.names}
                else:
                    ours.add(target)
        elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if name in ("__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant):
                absolute.add(str(node.args[0].value).partition(".")[0])
    return absolute, ours


def _clock_reads(module: str | ast.Module) -> list[str]:
    """Calls in `module` that read the clock through datetime: ``x.now()``, ``x.utcnow()``, ``x.today()``."""
    tree = _tree(module) if isinstance(module, str) else module
    return [f"line {node.lineno}: {ast.unparse(node.func)}()" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_READS]


def _closure(module: str) -> dict[str, set[str]]:
    """Every module of ours reachable from `module` by import, with its absolute imports."""
    seen: dict[str, set[str]] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or importlib.util.find_spec(name) is None:
            continue
        absolute, ours = _imports(name)
        seen[name] = absolute
        todo.extend(ours)
    return seen


@pytest.mark.parametrize("name", ENTITY_MODULES)
def test_an_entity_module_and_what_it_imports_of_ours_use_no_clock_thread_io_or_randomness(name: str) -> None:
    closure = _closure(f"switchboard.actors.{name}")

    offenders = {module: sorted(imports & FORBIDDEN) for module, imports in closure.items() if imports & FORBIDDEN}
    clock_reads = {module: reads for module in closure if (reads := _clock_reads(module))}

    assert f"switchboard.actors.{name}" in closure
    assert offenders == {}
    assert clock_reads == {}


def test_the_queue_reaches_the_service_hours_module_and_it_reads_no_clock() -> None:
    closure = _closure("switchboard.actors.queue")

    assert "switchboard.actors.schedule" in closure
    assert "datetime" in closure["switchboard.actors.schedule"]
    assert _clock_reads("switchboard.actors.schedule") == []


def test_the_purity_check_notices_a_clock_read_through_datetime() -> None:
    source = ast.parse("import datetime as dt\nfrom datetime import date\n"
                       "a = dt.datetime.now(dt.timezone.utc)\nb = date.today()\nc = dt.date.fromtimestamp(0)\n")

    assert _clock_reads(source) == ["line 3: dt.datetime.now()", "line 4: date.today()"]


def test_the_purity_check_notices_a_module_that_reads_the_clock() -> None:
    # The runtimes are allowed what entities are not; the check must see it there.
    assert {"threading", "time", "asyncio"} <= _imports("switchboard.actors.engine")[0]
    assert "pykka" in _closure("switchboard.actors.local_runtime")["switchboard.actors.local_runtime"]
