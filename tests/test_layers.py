"""The rules of docs/architecture.md that the imports show, checked on every import statement
(those inside functions too: a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import trustmesh

ROOT = Path(trustmesh.__file__).parent

# lower first; a module may import its own layer and the layers before it
LAYERS = [{"errors", "version"}, {"crypto"}, {"protocol"}, {"trust", "store", "net"}, {"core"},
          {"api"}, {"daemon"}, {"cli"}, {"testing", "__main__"}]
PURE = {"crypto", "protocol", "trust"}
NOT_IN_PURE = {"trio", "libp2p", "sqlite3", "pathlib", "shutil", "tempfile", "time", "datetime", "socket"}
LIBP2P_OUTSIDE_NET = {"trustmesh.testing.hostile", "trustmesh.testing.wirefuzz"}   # the hostile peer


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            # "from pkg import mod" imports pkg.mod; "from mod import name" comes back to mod
            found |= {f"{source}.{alias.name}" for alias in node.names}
    return found


MODULES = _modules()
IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(facade)"


def _rank(layer: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if layer in group)


def _ours(imported: str) -> str | None:
    """The module of ours that ``imported`` names (a name taken from a package is the package)."""
    while imported and imported not in MODULES:
        imported = imported.rpartition(".")[0]
    return imported or None


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for module, imported in IMPORTS.items():
        if _layer(module) == "(facade)":
            continue
        for name in imported:
            target = _ours(name) if name.startswith("trustmesh") else None
            if target and _layer(target) == "(facade)":
                upward.append(f"{module} -> trustmesh (the facade is imported by nothing inside)")
            elif target and _rank(_layer(target)) > _rank(_layer(module)):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_circle():
    graph = {m: {t for n in names if n.startswith("trustmesh") and (t := _ours(n)) and t != m}
             for m, names in IMPORTS.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node: str) -> None:       # Tarjan's strongly connected components
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
            part = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.add(top)
                if top == node:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for module in graph:
        if module not in index:
            visit(module)
    # a package's __init__ re-exporting its modules is no circle in itself
    circles = [c for c in circles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert circles == []


def test_the_pure_layers_touch_no_io_and_no_clock():
    found = {m: sorted({n.split(".")[0] for n in names} & NOT_IN_PURE)
             for m, names in IMPORTS.items() if _layer(m) in PURE}
    assert {m: bad for m, bad in found.items() if bad} == {}


def test_libp2p_is_imported_only_by_the_network_side():
    outside = sorted(m for m, names in IMPORTS.items()
                     if any(n.split(".")[0] == "libp2p" for n in names)
                     and _layer(m) != "net" and m not in LIBP2P_OUTSIDE_NET)
    assert outside == []
