"""The layout of vlr_viz: no import circle among its modules or among its packages, imports inside functions counted,
and a training core that imports no store, worker pool or command line."""
import ast
from collections import defaultdict
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "vlr_viz"


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported(module: str, node, modules: dict) -> list[str]:
    """The vlr_viz modules one import statement of ``module`` loads (``from . import x`` counts as module x)."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        base = module.split(".") if modules[module].name == "__init__.py" else module.split(".")[:-1]
        prefix = ".".join(base[:len(base) - node.level + 1]) if node.level else ""
        source = ".".join(p for p in (prefix, node.module) if p)
        targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
    out = []
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target.startswith("vlr_viz") and target != module:
            out.append(target)
    return out


def import_graph() -> nx.DiGraph:
    modules = module_names()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # every import, inside functions too
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph.add_edges_from((module, target) for target in imported(module, node, modules))
    return graph


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def circles(graph: nx.DiGraph) -> list[list[str]]:
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_the_import_graph_sees_real_imports():
    graph = import_graph()
    assert graph.has_edge("vlr_viz.train.trainer", "vlr_viz.train.config")         # from .config import ...
    assert graph.has_edge("vlr_viz.train.trainer", "vlr_viz.eval")                 # inside a function
    assert graph.has_edge("vlr_viz.viz", "vlr_viz.viz.colors")                     # a package's own init
    assert graph.has_edge("vlr_viz.cli", "vlr_viz.report.explore")                 # from .report.explore import
    looped = graph.copy()
    looped.add_edge("vlr_viz.train.config", "vlr_viz.train.trainer")
    assert circles(looped)  # the check finds a circle when there is one


def test_no_import_circle_among_modules():
    assert circles(import_graph()) == []


def test_no_import_circle_among_packages():
    graph = import_graph()
    packages = nx.DiGraph()
    packages.add_edges_from((package_of(a), package_of(b)) for a, b in graph.edges if package_of(a) != package_of(b))
    found = circles(packages)
    where = defaultdict(list)
    for a, b in graph.edges:
        for circle in found:
            if package_of(a) in circle and package_of(b) in circle and package_of(a) != package_of(b):
                where[tuple(circle)].append(f"{a} -> {b}")
    assert found == [], dict(where)


def test_the_training_core_imports_no_store_pool_or_command_line():
    """The store (`vlr_viz.store`) and the runner (`vlr_viz.runner`) wrap `fit` from outside: the core reaches none
    of their modules."""
    graph = import_graph()
    outer = {m for m in graph if m.startswith(("vlr_viz.store", "vlr_viz.runner", "vlr_viz.report"))} | {
        "vlr_viz.processes", "vlr_viz.cli"}
    for core in ("vlr_viz.train.trainer", "vlr_viz.methods", "vlr_viz.train.config", "vlr_viz.train.model",
                 "vlr_viz.train.history", "vlr_viz.train.stage1"):
        reached = nx.descendants(graph, core)
        assert not reached & outer, (core, sorted(reached & outer))
