"""One shared description of the node graphs; `postbc launch` and launch/*.launch.py both use it."""
from postbc_ros.graph.graphs import BUILDERS, GRAPH_ARGS, build_graph, resolve_arguments
from postbc_ros.graph.spec import GraphSpec, LaunchArg, NodeSpec

__all__ = ["BUILDERS", "GRAPH_ARGS", "GraphSpec", "LaunchArg", "NodeSpec", "build_graph", "resolve_arguments"]
