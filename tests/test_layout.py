"""The package's shape, checked: only the ledger package speaks SQL, nothing outside it touches
the ledger's private names, module imports form no cycle, every public exception lives in
``ektpcore.errors``, and the modules that moved still import (with a warning)."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

import ektpcore
import ektpcore.errors

ROOT = Path(ektpcore.__file__).parent
SQL = re.compile(
    r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|"
    r"TRIGGER)|ALTER\s+TABLE|PRAGMA\s+\w)",
)
MOVED = {
    "ektpcore.blanks": ("BlankStock", "ektpcore.ledger"),
    "ektpcore.ribbons": ("Ribbons", "ektpcore.ledger"),
    "ektpcore.distribution": ("Distribution", "ektpcore.ledger"),
    "ektpcore.store": ("SqliteStore", "ektpcore.ledger"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _strings(tree: ast.AST) -> list[str]:
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _is_docstring_owner(node: ast.AST) -> bool:
    return isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))


def _code_strings(tree: ast.AST) -> list[str]:
    """String constants that are not docstrings (docs may quote SQL words in prose)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if _is_docstring_owner(node)
        and node.body  # type: ignore[attr-defined]
        and isinstance(node.body[0], ast.Expr)  # type: ignore[attr-defined]
        and isinstance(node.body[0].value, ast.Constant)  # type: ignore[attr-defined]
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_only_the_ledger_package_speaks_sql() -> None:
    offenders = []
    for name, path in _modules().items():
        if name == "ektpcore.ledger" or name.startswith("ektpcore.ledger."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [(name, s[:60]) for s in _code_strings(tree) if SQL.search(s)]
    assert offenders == []
    # ... and the check itself sees SQL where there is some.
    ledger_tree = ast.parse((ROOT / "ledger" / "records.py").read_text(encoding="utf-8"))
    assert any(SQL.search(s) for s in _code_strings(ledger_tree))


def _private_names(inside: bool) -> set[str]:
    """Every ``_``-prefixed name defined inside the ledger package (or outside it): module
    globals, functions, methods and attributes set on ``self``."""
    names: set[str] = set()
    for name, path in _modules().items():
        if name.startswith("ektpcore.ledger") != inside:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _ledger_private_names() -> set[str]:
    """The ledger's own private names: those no module outside it defines as well (an
    outside class may keep a ``_lock`` of its own)."""
    return _private_names(inside=True) - _private_names(inside=False)


def test_nothing_outside_the_ledger_touches_its_private_names() -> None:
    private = _ledger_private_names()
    assert {"_store", "_reads"} <= private  # the check sees the ledger's own
    offenders = []
    for name, path in _modules().items():
        if name.startswith("ektpcore.ledger"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and ast.unparse(node.value) not in ("self", "cls")
            ):
                offenders.append((name, node.lineno, ast.unparse(node)))
            if isinstance(node, ast.ImportFrom) and "ledger" in (node.module or ""):
                offenders += [(name, node.lineno, a.name) for a in node.names if a.name[0] == "_"]
    assert offenders == []


def _runtime_imports(name: str, path: Path) -> set[str]:
    """Modules of ektpcore that ``name`` imports when it is imported (imports inside
    functions and under ``TYPE_CHECKING`` do not count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("ektpcore"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if not module.startswith("ektpcore"):
                    continue
                found.add(module)
                found.update(f"{module}.{a.name}" for a in node.names)

    visit(tree.body)
    return found


def test_imports_form_no_cycle() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _runtime_imports(name, path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # A package's __init__ importing its own submodules is how packages are built, not a
    # cycle; a submodule importing its package's __init__ back is one.
    for name, deps in graph.items():
        if modules[name].name == "__init__.py":
            graph[name] = {d for d in deps if not d.startswith(name + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*trail[trail.index(dep) :], dep] if dep in trail else [node, dep])
            elif dep not in state:
                walk(dep, [*trail, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert cycles == []


def test_every_public_exception_and_warning_is_defined_in_errors() -> None:
    for name in ektpcore.__all__:
        obj = getattr(ektpcore, name)
        if isinstance(obj, type) and issubclass(obj, (Exception, Warning)):
            assert obj.__module__ == "ektpcore.errors", name
            assert name in ektpcore.errors.__all__
    defined_elsewhere = []
    for name, path in _modules().items():
        if name == "ektpcore.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                re.search(r"(Error|Warning|Exception)\b", ast.unparse(b)) for b in node.bases
            ):
                defined_elsewhere.append((name, node.name))
    assert defined_elsewhere == []


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_modules_still_import_with_a_deprecation_warning(old: str) -> None:
    attribute, new = MOVED[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=re.escape(new)):
        module = importlib.import_module(old)
    assert getattr(module, attribute) is getattr(importlib.import_module(new), attribute)
    sys.modules.pop(old, None)
