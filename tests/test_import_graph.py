"""The package's import graph: no module imports itself back through others, and only the demo
drives the jobs (``iosm/jobs`` orchestrates; libraries live outside it).

Imports are read with ``ast`` from the source, so an import inside a function (a lazy import)
counts like one at the top: Python resolves both the same way, only later.
"""

from __future__ import annotations

import ast
from pathlib import Path

from iosm.config import REPO_ROOT


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """``{module: {modules of the same package it imports}}`` for every ``.py`` under ``package_dir``."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # from . import x / from ..y import z
                    anchor = package[: len(package) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            imported.update(target for target in targets if target in modules and target != name)
        graph[name] = imported
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = lowlink[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                lowlink[module] = min(lowlink[module], lowlink[other])
            elif other in stack:
                lowlink[module] = min(lowlink[module], index[other])
        if lowlink[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_checker_finds_a_lazy_and_a_relative_cycle(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("def f():\n    from pkg.sub import b\n")  # lazy
    (package / "sub" / "b.py").write_text("from . import a\n")  # relative
    (package / "c.py").write_text("import pkg.sub.a\n")  # imports into the cycle, not part of it
    graph = import_graph(package)
    assert graph["pkg.sub.a"] == {"pkg.sub", "pkg.sub.b"} and graph["pkg.c"] == {"pkg.sub.a"}
    assert cycles(graph) == [["pkg.sub.a", "pkg.sub.b"]]


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph(REPO_ROOT / "iosm")) == []


def test_only_the_demo_imports_the_jobs():
    graph = import_graph(REPO_ROOT / "iosm")
    importers = {module for module, imported in graph.items() if not module.startswith("iosm.jobs")
                 and any(target.startswith("iosm.jobs") for target in imported)}
    assert importers == {"iosm.demo"}
