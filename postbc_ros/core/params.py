"""Typed configuration for nodes and loops (ROS-free): one dataclass per node is the single source
of its parameters' names, defaults, descriptions, ranges and choices.

    @dataclass
    class PolicyConfig:
        checkpoint: str = param("", "PostBC checkpoint directory (postbc pretrain --out)")
        seed: int = param(0, "seed of the agent's sampling", range=(0, 2**31 - 1))
        robot: str = param(DEFAULT_ROBOT, "arm model", choices=robot_names)   # a callable: read when checked

`params_of(cls)` lists them as `Param`s (what `postbc_ros.ros.params.declare_params` declares on a
node, with ROS descriptors); `config_from(cls, values)` builds and validates an instance from a
plain dict (tests, the CLI). A field marked `live=True` may be changed at run time (the node reads
it from its config object every time); any other runtime change is refused with the reason.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
Choices = Sequence[str] | Callable[[], Sequence[str]] | None


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: Choices = None
    read_only: bool = False
    live: bool = False  # a runtime change is applied (else refused: it takes effect only at start)

    def allowed(self) -> list[str] | None:
        if self.choices is None:
            return None
        return list(self.choices() if callable(self.choices) else self.choices)

    def check(self, value: Any) -> str | None:
        """Reason `value` is invalid, or None."""
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            return f"parameter '{self.name}' = {value!r}: must be one of {allowed}"
        if self.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = self.range
            if not (lo <= value <= hi):
                return f"parameter '{self.name}' = {value!r}: must be in [{lo}, {hi}]"
        return None


def param(default: Any, description: str, *, range: tuple[float, float] | None = None, choices: Choices = None,
          read_only: bool = False, live: bool = False) -> Any:
    """A dataclass field that is also a node parameter."""
    meta = {"param": {"description": description, "range": range, "choices": choices,
                      "read_only": read_only, "live": live}}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def params_of(cls: type) -> list[Param]:
    """The parameters of a config dataclass, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("param")
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with param(...)")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append(Param(f.name, default, **meta))
    return out


def defaults_of(cls: type) -> dict[str, Any]:
    return {p.name: p.default for p in params_of(cls)}


def config_from(cls: type[T], values: dict[str, Any] | None = None, where: str = "") -> T:
    """An instance of `cls` from defaults + `values`; ValueError naming the parameter when a value is
    unknown or invalid."""
    values = dict(values or {})
    params = {p.name: p for p in params_of(cls)}
    unknown = sorted(set(values) - set(params))
    prefix = f"{where}: " if where else ""
    if unknown:
        raise ValueError(f"{prefix}unknown parameter(s) {unknown} for {cls.__name__}; known: {sorted(params)}")
    for k, v in values.items():
        err = params[k].check(v)
        if err:
            raise ValueError(prefix + err)
    return cls(**values)
