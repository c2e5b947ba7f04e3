"""The architecture, checked: packages import only downward and no circle joins
two units.

Layers, lowest first: opcomp <- codegen <- autotune <- schedules <- the command
line (schedules/cli.py).  A unit is a subpackage of opcomp (opcomp.ir,
opcomp.arith, ...), a module directly in opcomp (opcomp.lower, ...), or one of
the other packages as a whole.  Every ``import`` statement counts: top level,
inside functions, under ``if``.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("opcomp", "codegen", "autotune", "schedules")
LAYER = {"opcomp": 0, "codegen": 1, "autotune": 2, "schedules": 3, "cli": 4}
CLI = "schedules.cli"


def module_files() -> dict:
    """Dotted module name -> path, for every module of the four packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known) -> set:
    """The project modules that `name` imports, anywhere in its file."""
    out = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(name, is_pkg, node)
            subs = {f"{mod}.{a.name}" for a in node.names} & known
            out |= subs or {mod}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def unit(module: str) -> str:
    """The unit a module belongs to (see the module docstring)."""
    if module == CLI:
        return "cli"
    parts = module.split(".")
    if parts[0] != "opcomp":
        return parts[0]
    if len(parts) >= 2 and (ROOT / "opcomp" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def unit_graph() -> dict:
    files = module_files()
    graph = {}
    for name, path in files.items():
        src = unit(name)
        for dep in imports_of(name, path, set(files)):
            dst = unit(dep)
            if dst != src:
                graph.setdefault(src, set()).add(dst)
    return graph


def layer(u: str) -> int:
    return LAYER[u.split(".")[0]] if u != "cli" else LAYER["cli"]


def strongly_connected(graph: dict) -> list:
    """Tarjan's algorithm: the components with more than one unit."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_goes_up_a_layer():
    up = sorted(f"{a} -> {b}" for a, deps in unit_graph().items() for b in deps
                if layer(b) > layer(a))
    assert not up, "imports from a lower layer to a higher one:\n" + "\n".join(up)


def test_no_circle_between_units():
    circles = strongly_connected(unit_graph())
    assert not circles, "import circles between units: " + "; ".join(
        " <-> ".join(c) for c in circles)


def test_checker_sees_a_circle_and_an_upward_import():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert unit("opcomp.arith.simplify") == "opcomp.arith"
    assert unit("opcomp.lower") == "opcomp.lower"
    assert layer(unit("codegen.llvm")) > layer(unit("opcomp.ir.expr"))


def test_opcomp_never_names_codegen():
    """opcomp reaches backends through the registry (module names as data), never an import."""
    files = module_files()
    bad = sorted(f"{name} imports {dep}" for name, path in files.items()
                 if name.startswith("opcomp")
                 for dep in imports_of(name, path, set(files)) if not dep.startswith("opcomp"))
    assert not bad, "\n".join(bad)


def test_codegen_uses_only_opcomps_low_layers():
    """Backends see the IR, targets, the ABI and the registry, never the runtime or build."""
    allowed = ("opcomp.ir", "opcomp.dtype", "opcomp.abi", "opcomp.target", "opcomp.backend")
    files = module_files()
    bad = sorted(f"{name} imports {dep}" for name, path in files.items()
                 if name.startswith("codegen")
                 for dep in imports_of(name, path, set(files))
                 if dep.startswith("opcomp") and not dep.startswith(allowed))
    assert not bad, "\n".join(bad)
