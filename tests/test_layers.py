"""The package's shape: no module imports a higher layer, no import circles, no overlong modules.

Every ``import`` in ``honeybee/`` counts, including those inside functions (the code imports heavy libraries
lazily, and a lazy import still ties the layers together). Packages of one layer may import each other, as
long as no circle forms.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "honeybee"

# Lowest first. A new sub-package must be placed here (the test fails until it is).
LAYERS: list[tuple[str, ...]] = [
    ("utils",),  # errors, atomic io, paths, run info: no honeybee imports above this
    ("model",),  # loading, LoRA, export, the causal-LM loss
    ("data",),  # sources, records, splits, tokenization, batching
    ("progressive",),  # stage folders, lineage manifests
    ("generation",),  # engine, generator, server
    ("evaluation",),  # tasks, metrics, judge, held-out check
    ("training", "curation", "config", "export"),  # the train task and its config checks; the curation loop;
    # the export task (merged model / adapter folder with a model card)
    ("cli", "__main__"),  # the entry points
    ("study",),  # studies: grids of train + evaluate runs and their report, driven through the cli: the top
]
# honeybee/__init__.py runs before any submodule, so it may only import the bottom layer.
ROOT_LAYER = 0


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT_LAYER
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    return None


def imports_of(module: str) -> list[tuple[str, int]]:
    """``(imported honeybee module, line)`` for every import statement in ``module``, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "honeybee"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "honeybee":
                continue
            for alias in node.names:
                # `from honeybee.data import tokenize` imports a module; `from honeybee.data.x import f` does not.
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in MODULES else base, node.lineno))
    return [(m, line) for m, line in out if m != module]


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    missing = sorted({m.split(".")[1] for m in MODULES if layer_of(m) is None})
    assert not missing, f"honeybee sub-package(s) {missing} are not placed in LAYERS in {__file__}"


def test_imports_never_reach_a_higher_layer():
    upward = []
    for module, imported in GRAPH.items():
        mine = layer_of(module)
        for target, line in imported:
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(
                    f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {module} (layer "
                    f"{'/'.join(LAYERS[mine])}) imports {target} (higher layer {'/'.join(LAYERS[theirs])})"
                )
    assert not upward, "imports that run back up the layers:\n" + "\n".join(sorted(set(upward)))


def find_cycle(graph: dict[str, list[tuple[str, int]]]) -> list[tuple[str, str, int]] | None:
    """One import circle as ``(importer, imported, line)`` edges, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[tuple[str, str, int]] = []

    def visit(node: str) -> list[tuple[str, str, int]] | None:
        state[node] = 1
        for target, line in graph.get(node, []):
            if target not in graph:
                continue
            path.append((node, target, line))
            if state.get(target) == 1:
                start = next(i for i, edge in enumerate(path) if edge[0] == target)
                return path[start:]
            if target not in state and (cycle := visit(target)):
                return cycle
            path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def find_cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[tuple[str, str, int]]]:
    """Every independent import circle: one found circle is cut (its first edge dropped) and the search repeats."""
    graph = {m: list(edges) for m, edges in graph.items()}
    cycles = []
    while (cycle := find_cycle(graph)) is not None:
        cycles.append(cycle)
        a, b, _ = cycle[0]
        graph[a] = [e for e in graph[a] if e[0] != b]
    return cycles


def test_no_import_cycles():
    cycles = find_cycles(GRAPH)
    assert not cycles, "modules that import each other in a circle:\n" + "\n\n".join(
        "\n".join(
            f"  {MODULES[a].relative_to(PACKAGE.parent)}:{line}: {a} imports {b}" for a, b, line in cycle
        )
        for cycle in cycles
    )


@pytest.mark.parametrize(
    ("graph", "circle"),
    [
        ({"a": [("b", 1)], "b": [("c", 2)], "c": [("a", 3)]}, {"a", "b", "c"}),
        ({"a": [("b", 1)], "b": [("c", 2)], "c": []}, None),
        ({"a": [("b", 1), ("c", 4)], "b": [], "c": [("c2", 5)], "c2": [("c", 6)]}, {"c", "c2"}),
    ],
)
def test_find_cycle_finds_circles_only(graph, circle):
    cycle = find_cycle(graph)
    assert (None if cycle is None else {a for a, _, _ in cycle}) == circle


def test_function_level_and_relative_imports_are_seen(tmp_path, monkeypatch):
    # The graph must include lazy imports, or it would miss most of honeybee's real edges.
    assert "honeybee.model.tiny" in {m for m, _ in GRAPH["honeybee.model.loading"]}
    pkg = tmp_path / "honeybee"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "x.py").write_text("def f():\n    from ..training import task\n    from . import y\n")
    (pkg / "data" / "y.py").write_text("")
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "PACKAGE", pkg)
    monkeypatch.setattr(this, "MODULES", {module_name(p): p for p in pkg.rglob("*.py")})
    assert sorted(imports_of("honeybee.data.x")) == [("honeybee.data.y", 3), ("honeybee.training", 2)]


MAX_LINES = 400
LONG_MODULE = "Long module:"  # a module over MAX_LINES says why in its docstring, after this marker


def test_modules_stay_small():
    long = []
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES and LONG_MODULE not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert not long, (
        f"modules over {MAX_LINES} lines; split them along a natural seam, or give the reason in the module "
        f"docstring after {LONG_MODULE!r}:\n" + "\n".join(long)
    )
