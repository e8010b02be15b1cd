"""The module map: no import circles among speechrnn's modules (counting imports inside functions),
and the library never imports the command layer (speechrnn.commands, speechrnn.cli)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "speechrnn"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (a module run as a program may call its command) or
    ``if TYPE_CHECKING:`` (imports for annotations only, never run)."""
    if not isinstance(node, ast.If):
        return False
    test = ast.unparse(node.test)
    return ("__main__" in test and "__name__" in test) or test == "TYPE_CHECKING"


def project_imports() -> dict[str, set[str]]:
    """{module: the speechrnn modules it imports anywhere (top level or inside functions)}."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {id(n) for guard in ast.walk(tree) if _is_main_guard(guard) for n in ast.walk(guard)}
        found = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.startswith("speechrnn")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("speechrnn"):
                for alias in node.names:  # "from speechrnn.data import fsdd" names a module
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in modules else node.module)
        found.discard(name)
        found.discard("speechrnn")  # the package's own re-exports (__version__, errors)
        graph[name] = {m for m in found if m in modules}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_circles():
    assert cycles(project_imports()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_the_command_layer():
    layer = ("speechrnn.commands", "speechrnn.cli", "speechrnn.__main__")
    layer += ("speechrnn.runtime.cli", "speechrnn.runtime.__main__")  # the runtime's command line
    for module, imported in project_imports().items():
        if not module.startswith(layer):
            assert not {m for m in imported if m.startswith(layer)}, module
