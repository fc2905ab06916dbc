"""The layer's layout holds (docs/layout.md): no import cycles between its modules, lazy
imports inside functions included, and storage never reaches up into the flows above it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "maintsvc"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The layer's modules a module imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("maintsvc"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("maintsvc"))
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imported(path, modules) - {name} for name, path in paths.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_layer_has_no_import_cycles() -> None:
    assert cycle(import_graph()) is None


def test_a_cycle_is_found() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_storage_does_not_reach_up() -> None:
    above = ("maintsvc.edge", "maintsvc.resources", "maintsvc.derived")
    graph = import_graph()
    reaching = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("maintsvc.storage")
        for target in targets
        if target.startswith(above)
    }
    assert reaching == set()


def test_the_folders_are_the_documented_ones() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {"edge", "resources", "lifecycle", "derived", "storage", "rrules"}
    layout = (PACKAGE.parents[1] / "docs" / "layout.md").read_text()
    assert all(f"`{folder}/`" in layout for folder in folders)
