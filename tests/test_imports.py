"""No import circle between the repository's modules.

Every ``.py`` file of the packages below is parsed (not imported) and each of its imports that
names a module of this repository becomes an edge of a graph, whether it sits at module level
or inside a function: a deferred import still makes the two modules depend on each other, it
only hides the circle until the function runs. Imports under ``if TYPE_CHECKING:`` do not
count (they never run). The test fails on any strongly connected set of modules that is not in
:data:`KNOWN`, and names a shortest circle through it.

A package counts as imported with its submodule (``import a.b`` runs ``a/__init__.py`` first),
except where the importing module already lives inside that package: ``a/__init__.py`` is then
already running, and ``a/x.py`` importing ``a.y`` does not make ``a`` depend on ``a.x``. An
explicit ``from a import name`` of a non-module name does depend on ``a/__init__.py``.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("actcool", "trainer", "storage", "app", "benchmarks")

#: Circles that exist today and the issue that removes each: the members of the circle (a
#: strongly connected set of modules) → that issue. The test fails when one of them is gone
#: too, so that this list only ever shrinks to empty.
KNOWN: dict[frozenset[str], str] = {}


def module_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` under the packages (``a/__init__.py`` is
    ``a``)."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _ancestors(name: str) -> list[str]:
    """``a.b.c`` → ``["a", "a.b"]``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The repository modules that module ``name`` (file ``path``) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    own_package = name if is_package else name.rpartition(".")[0]
    inside = {*_ancestors(name), name} if is_package else set(_ancestors(name))
    out: set[str] = set()

    def add(target: str, explicit: bool = True) -> None:
        """``target`` and the packages it runs on the way, unless ``name`` is already inside
        them; ``explicit``: ``target`` itself was named (a ``from target import attribute``)."""
        for parent in _ancestors(target):
            if parent in modules and parent not in inside:
                out.add(parent)
        if target in modules and (explicit or target not in inside):
            out.add(target)

    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, explicit=False)
            continue
        if node.level:
            base = own_package.split(".") if own_package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in modules]
        attributes = len(submodules) < len(node.names)
        add(source, explicit=attributes)
        for sub in submodules:
            add(sub)
    out.discard(name)
    return out


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    files = module_files(root, packages)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected sets of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(frozenset(members))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def shortest_cycle(graph: dict[str, set[str]], members: frozenset[str]) -> list[str]:
    """A shortest circle through the set, as ``[a, b, ..., a]``."""
    best: list[str] | None = None
    for start in sorted(members):
        parent = {start: None}
        queue = deque([start])
        while queue:
            v = queue.popleft()
            if start in graph[v]:
                path = [v]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                cycle = [*reversed(path), start]
                if best is None or len(cycle) < len(best):
                    best = cycle
                break
            for w in sorted(graph[v] & members):
                if w not in parent:
                    parent[w] = v
                    queue.append(w)
    assert best is not None
    return best


def _write(tmp: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)


# ----------------------------------------------------------------------------- the repository
def test_no_module_of_the_repository_imports_itself_in_a_circle():
    graph = import_graph()
    assert len(graph) > 100 and "benchmarks.reproduce" in graph  # it walked the tree
    found = cycles(graph)
    new = [c for c in found if c not in KNOWN]
    assert not new, (
        "import circles (break each, e.g. by moving what both sides need):\n"
        + "\n".join(" → ".join(shortest_cycle(graph, c)) for c in new)
    )
    gone = [f"{sorted(c)} ({issue})" for c, issue in KNOWN.items() if c not in found]
    assert not gone, f"these circles are gone: remove them from KNOWN: {gone}"


# ----------------------------------------------------------------------------- the walker
def test_a_deferred_import_closes_a_circle(tmp_path):
    _write(
        tmp_path,
        {
            "p/__init__.py": "",
            "p/a.py": "from .b import X\n",
            "p/b.py": "X = 1\ndef main():\n    from p import c\n",
            "p/c.py": "from p.a import X\n",
        },
    )
    graph = import_graph(tmp_path, ("p",))
    assert graph == {"p": set(), "p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}
    (circle,) = cycles(graph)
    assert circle == {"p.a", "p.b", "p.c"}
    assert shortest_cycle(graph, circle) == ["p.a", "p.b", "p.c", "p.a"]


def test_a_package_that_re_exports_its_modules_is_no_circle(tmp_path):
    _write(
        tmp_path,
        {
            "p/__init__.py": "from .a import A\nfrom p.sub import b\n",
            "p/a.py": "from . import sub\nimport p.sub.b\nA = 1\n",
            "p/sub/__init__.py": "",
            "p/sub/b.py": "from ..c import C\n",
            "p/c.py": "C = 1\n",
            "q/__init__.py": "",
            "q/user.py": "from p.sub.b import A\n",
        },
    )
    graph = import_graph(tmp_path, ("p", "q"))
    assert graph["p"] == {"p.a", "p.sub", "p.sub.b"}
    assert graph["p.a"] == {"p.sub", "p.sub.b"}
    assert graph["p.sub.b"] == {"p.c"}
    # from outside, p/__init__.py and p/sub/__init__.py run first
    assert graph["q.user"] == {"p", "p.sub", "p.sub.b"}
    assert cycles(graph) == []


def test_importing_a_name_from_ones_own_package_depends_on_its_init(tmp_path):
    _write(
        tmp_path,
        {
            "p/__init__.py": "from .a import f\nVERSION = 1\n",
            "p/a.py": "from p import VERSION\ndef f():\n    pass\n",
        },
    )
    graph = import_graph(tmp_path, ("p",))
    assert graph["p.a"] == {"p"}
    assert cycles(graph) == [frozenset({"p", "p.a"})]


def test_type_checking_imports_do_not_count(tmp_path):
    _write(
        tmp_path,
        {
            "p/__init__.py": "",
            "p/a.py": "from .b import X\n",
            "p/b.py": (
                "from typing import TYPE_CHECKING\nX = 1\n"
                "if TYPE_CHECKING:\n    from .a import Y\nelse:\n    import os\n"
            ),
        },
    )
    assert cycles(import_graph(tmp_path, ("p",))) == []
