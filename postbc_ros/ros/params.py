"""Declare a node's parameters from its typed config dataclass (postbc_ros.core.params).

`declare_params(node, Config)` declares every field with a ParameterDescriptor (so `ros2 param
describe` shows the description, range and choices), validates the values given at start-up and
returns a `Config` instance. A later `ros2 param set` is validated too, and then either applied to
that instance (fields marked `live=True`, which the node reads on every use) or refused with the
reason -- never acknowledged and ignored.
"""
from __future__ import annotations

from typing import Any, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult

from postbc_ros.core.params import Param, params_of

T = TypeVar("T")


def _descriptor(p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=p.read_only)
    allowed = p.allowed()
    if allowed is not None:
        d.additional_constraints = "one of: " + ", ".join(map(str, allowed))
    if p.range is not None and not isinstance(p.default, bool):
        lo, hi = p.range
        if isinstance(p.default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        elif isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return d


def _declare(node, p: Param) -> Any:
    from rclpy.parameter import Parameter

    if isinstance(p.default, (list, tuple)) and len(p.default) == 0:
        # an empty list has no ROS type; declare the type explicitly
        node.declare_parameter(p.name, Parameter.Type.STRING_ARRAY, _descriptor(p))
        value = node.get_parameter(p.name).value
        return [] if value is None else list(value)
    value = node.declare_parameter(p.name, p.default, _descriptor(p)).value
    if isinstance(p.default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # `x:=1` on the command line for a float parameter
    return value


def declare_params(node, cls: type[T]) -> T:
    """Declare the fields of config dataclass `cls` on `node`; ValueError naming the parameter when a
    value is invalid. Returns the config instance (live fields are updated in place later)."""
    params = params_of(cls)
    values = {}
    for p in params:
        values[p.name] = _declare(node, p)
        err = p.check(values[p.name])
        if err:
            raise ValueError(f"{node.get_fully_qualified_name()}: {err}")
    config = cls(**values)
    by_name = {p.name: p for p in params}

    def _on_set(changes):
        for c in changes:
            spec = by_name.get(c.name)
            if spec is None:
                continue
            err = spec.check(c.value)
            if err:
                return SetParametersResult(successful=False, reason=err)
            if not spec.live and c.value != getattr(config, c.name):
                return SetParametersResult(
                    successful=False,
                    reason=f"parameter '{c.name}' takes effect only at start: restart the node with {c.name}:=...")
        for c in changes:
            if c.name in by_name:
                setattr(config, c.name, c.value)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(_on_set)
    return config

