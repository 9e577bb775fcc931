"""The gateway's modules import one another without a circle (type-only imports count too): the app wires the
routes, the metrics and the hub together; none of them reaches back for the app."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "services.audio_gateway"
FOLDER = Path(__file__).resolve().parents[2] / "services" / "audio_gateway"


def imports(path: Path) -> set[str]:
    """The modules of the package that `path` imports, by their short names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + ".")}
    return found


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph`, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done or module not in graph:
            return None
        for imported in sorted(graph[module]):
            if found := visit(imported, path + [module]):
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        if found := visit(module, []):
            return found
    return None


def test_the_gateway_modules_import_one_another_without_a_circle():
    graph = {path.stem: imports(path) for path in FOLDER.glob("*.py")}
    assert {"api", "metrics"} <= graph["app"]
    assert circle(graph) is None, " -> ".join(circle(graph))


def test_a_circle_is_found():
    found = circle({"app": {"metrics"}, "metrics": {"app"}, "api": {"metrics"}})
    assert found is not None and set(found) == {"app", "metrics"}
    assert circle({"app": {"metrics", "api"}, "api": {"metrics"}, "metrics": set()}) is None
