"""The package's structure: its import graph (imports inside functions included) has no cycle
between packages, and no package imports one that stands above it.

Layers, bottom to top (README "Layout"):
  0  resources, robots, core, data, learning   ROS-free, hardware-free building blocks
  1  sim, rl, drivers                          twins, finetuners, device interfaces
  2  ros                                       rclpy glue only
  3  graph, benchmarks, doctor                 the node graphs, the benchmarks, the device checks
  4  nodes, cli                                thin shells on top
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "postbc_ros"
LAYERS = {
    "__init__": 0, "resources": 0, "robots": 0, "core": 0, "data": 0, "learning": 0,
    "sim": 1, "rl": 1, "drivers": 1,
    "perception": 1,
    "calibrate": 1,
    "ros": 2,
    "graph": 3, "benchmarks": 3,
    "doctor": 3,
    "nodes": 4, "cli": 4,
}


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (absolute and relative, at any depth)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("postbc_ros")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".")
                    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("postbc_ros"):
                    deps.add(target)
        graph[mod] = deps
    return graph


def package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, deps in import_graph().items():
        for d in deps:
            a, b = _package_of(mod), _package_of(d)
            if a != b:
                edges[a].add(b)
    return edges


def test_every_package_has_a_layer():
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    packages |= {p.stem for p in PKG.glob("*.py")}
    assert packages <= set(LAYERS), f"packages without a layer in this test: {sorted(packages - set(LAYERS))}"


def test_no_package_imports_one_above_it():
    bad = []
    for mod, deps in sorted(import_graph().items()):
        for d in sorted(deps):
            a, b = _package_of(mod), _package_of(d)
            if LAYERS[b] > LAYERS[a]:
                bad.append(f"{mod} (layer {LAYERS[a]}) imports {d} (layer {LAYERS[b]})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycle_between_packages():
    edges = package_edges()
    cycles = []

    def visit(node, path):
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif len(path) < len(LAYERS):
                visit(nxt, path + [nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert not cycles, "package import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_ros_glue_imports_no_rclpy_free_logic_above_it():
    """ros/ holds only rclpy glue: it may use the layers below, never graph/nodes/cli."""
    for mod, deps in import_graph().items():
        if _package_of(mod) == "ros":
            assert all(LAYERS[_package_of(d)] <= LAYERS["ros"] for d in deps), (mod, deps)


def test_rl_imports_neither_sim_nor_drivers():
    """Finetuners act on a policy and transitions; the envs and devices they run against belong to
    the benchmarks and the nodes (the same layer would allow it, the design does not)."""
    bad = [f"{mod} imports {d}" for mod, deps in sorted(import_graph().items()) if _package_of(mod) == "rl"
           for d in sorted(deps) if _package_of(d) in ("sim", "drivers")]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The graph includes imports inside functions and relative imports (it would miss cycles otherwise)."""
    g = import_graph()
    assert "postbc_ros.rl.best_of_n" in g["postbc_ros.rl"]  # `from .best_of_n import ...`
    assert any(d.startswith("postbc_ros.sim") for d in g["postbc_ros.drivers.arm.mujoco"])  # lazy
