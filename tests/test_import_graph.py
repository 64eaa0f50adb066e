"""No import cycles in `voxroute`: the graph of module imports is acyclic.

Every `import`/`from` statement counts, also those under `if TYPE_CHECKING:` and inside
functions: deferring an import hides a cycle from the interpreter, not from a reader.
Importing `a.b.c` also runs `a.b`'s `__init__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import voxroute

ROOT = Path(voxroute.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _targets(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in names:
            parts = target.split(".")
            # `a.b.c` runs `a`, `a.b` and `a.b.c`.
            for i in range(2, len(parts) + 1):
                candidate = ".".join(parts[:i])
                if candidate in modules and candidate != name:
                    out.add(candidate)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_voxroute_has_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _targets(name, path, modules) for name, path in modules.items()}
    # A package's __init__ importing its own submodules is how a package is built, not a
    # cycle a reader trips over: drop parent -> child edges.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not t.startswith(name + ".")}
    assert _cycles(graph) == []


def _imports_of(package: str) -> dict[str, set[str]]:
    """Every module of `package` (a `voxroute` subpackage) and what it imports."""
    modules = _modules()
    return {
        name: _targets(name, path, modules)
        for name, path in modules.items()
        if name == package or name.startswith(package + ".")
    }


def _carriers() -> set[str]:
    """The carrier packages: every subpackage of `voxroute.telephony`."""
    telephony = ROOT / "telephony"
    return {f"voxroute.telephony.{path.parent.name}" for path in telephony.glob("*/__init__.py")}


def test_the_call_core_imports_no_carrier() -> None:
    """`calls/` sees carriers only through `telephony.media`: adding a carrier changes
    nothing in it. Counts imports inside functions and under TYPE_CHECKING too."""
    carriers = _carriers()
    assert "voxroute.telephony.twilio" in carriers  # the walk finds the carrier packages
    found = {
        (module, target)
        for module, targets in _imports_of("voxroute.calls").items()
        for target in targets
        if any(target == c or target.startswith(c + ".") for c in carriers)
    }
    assert found == set()


def test_twilio_does_not_import_the_call_session_or_pipeline() -> None:
    """The stream route hands its media session to the call core it is given
    (`app.state.call_core`); it never imports the core's session or pipeline."""
    core = {"voxroute.calls.session", "voxroute.calls.pipeline"}
    found = {
        (module, target)
        for module, targets in _imports_of("voxroute.telephony.twilio").items()
        for target in targets & core
    }
    assert found == set()


def test_the_walk_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    """The checks above would miss nothing a module hides from the interpreter."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from voxroute.telephony.twilio.protocol import Start\n"
        "def f() -> None:\n"
        "    import voxroute.calls.session\n"
    )
    targets = _targets("voxroute.probe", source, _modules())
    assert {"voxroute.telephony.twilio.protocol", "voxroute.calls.session"} <= targets
