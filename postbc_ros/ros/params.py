"""Declarative node parameters: name, default, description, numeric range or allowed choices.

Each node lists its parameters as `Param`s; `declare_params` declares them with a
ParameterDescriptor (so `ros2 param describe` shows the description and range), validates choices
at start-up and on every later `set_parameters`, and returns the values as a plain dict.
The same lists are the single source of the defaults written to config/*.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: Sequence[str] | None = None
    read_only: bool = False

    def check(self, value: Any) -> str | None:
        """Reason `value` is invalid, or None."""
        if self.choices is not None and value not in self.choices:
            return f"parameter '{self.name}' = {value!r}: must be one of {list(self.choices)}"
        if self.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = self.range
            if not (lo <= value <= hi):
                return f"parameter '{self.name}' = {value!r}: must be in [{lo}, {hi}]"
        return None


def _descriptor(p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=p.read_only)
    if p.choices is not None:
        d.additional_constraints = "one of: " + ", ".join(map(str, p.choices))
    if p.range is not None:
        lo, hi = p.range
        if isinstance(p.default, bool):
            pass
        elif isinstance(p.default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        elif isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return d


def declare_params(node, params: Sequence[Param]) -> dict[str, Any]:
    """Declare `params` on `node`; raise ValueError naming the parameter when a value is invalid."""
    from rclpy.parameter import Parameter

    out: dict[str, Any] = {}
    for p in params:
        default = p.default
        if isinstance(default, (list, tuple)) and len(default) == 0:
            # an empty list has no ROS type; declare the type explicitly
            node.declare_parameter(p.name, Parameter.Type.STRING_ARRAY, _descriptor(p))
            value = node.get_parameter(p.name).value
            value = [] if value is None else list(value)
        else:
            value = node.declare_parameter(p.name, default, _descriptor(p)).value
        err = p.check(value)
        if err:
            raise ValueError(f"{node.get_fully_qualified_name()}: {err}")
        out[p.name] = value
    by_name = {p.name: p for p in params}

    def _on_set(changes):
        for c in changes:
            spec = by_name.get(c.name)
            if spec is not None:
                err = spec.check(c.value)
                if err:
                    return SetParametersResult(successful=False, reason=err)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(_on_set)
    return out


def defaults(params: Sequence[Param]) -> dict[str, Any]:
    return {p.name: p.default for p in params}
