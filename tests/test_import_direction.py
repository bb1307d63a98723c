"""Execution goes one way: `runs/` drives the kinds of stack, and no kind imports from `runs/`.

Read from the source with `ast`, so an import inside a function (the way a cycle hides) counts too.
"""

from __future__ import annotations

import ast

from tests.cluster import ROOT

KINDS = ROOT / "stacks" / "kinds"


def imported_modules(source: str, package: list[str]) -> list[tuple[int, str]]:
    """Every module the source imports, relative imports resolved against its package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # `from . import x` imports the module x; `from .m import x` imports from m.
            names = [f"{module}.{alias.name}" for alias in node.names] if not node.module else [module]
            found.extend((node.lineno, name) for name in names)
    return found


def test_no_kind_of_stack_imports_from_runs():
    files = sorted(KINDS.rglob("*.py"))
    assert len(files) >= 5, "the kinds' sources were not found"
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(path.read_text(), list(path.relative_to(ROOT).parts[:-1]))
        if module == "runs" or module.startswith("runs.")
    ]
    assert offending == []


def test_the_check_sees_relative_and_nested_imports():
    source = "from .. import protocol\ndef f():\n    from ....runs import models\n    import runs.remote_runs\n"
    modules = [module for _, module in imported_modules(source, ["stacks", "kinds", "vertex"])]
    assert sorted(modules) == ["runs", "runs.remote_runs", "stacks.kinds.protocol"]
