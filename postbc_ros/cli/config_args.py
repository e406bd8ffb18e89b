"""Command-line options derived from a config dataclass (fields declared with `core.params.param`).

The dataclass is the one source of each option's name (`field_name` -> `--field-name`), type,
default, choices and help; a command picks the fields it exposes and may start from other defaults
(`base`, an instance of the dataclass: e.g. the learning bench's pretraining settings), and the
values come back as an instance with `config_from_args`. Types: int, float, str, bool (`on|off`),
`X | None`, `list[int]` / `list[str]` (comma lists, or space-separated for `space_lists`).

Two class attributes of the dataclass shape the options further:
- `ALTERNATIVES`: pairs of fields that say the same thing two ways (TrainConfig: `steps` / `epochs`).
  A command line gives at most one of a pair (argparse refuses both when the command exposes both);
  the one given replaces the other's value in `base` (e.g. `postbc demo --pretrain-epochs 7` over
  the demo's budget in steps).
- `KEYWORDS`: field -> words its option accepts besides a value of its type (TrainConfig: `--alpha
  auto`); the word is passed to the dataclass as given, which interprets it.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import typing
from typing import Any, Iterable, Mapping, TypeVar

T = TypeVar("T")

ON_OFF = ("on", "off")
# the namespace attribute listing the fields of an ALTERNATIVES pair given on the command line
_GIVEN = "_config_options_given"


class _StoreGiven(argparse.Action):
    """Store the value and note that the option was given (an ALTERNATIVES field)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, _GIVEN, getattr(namespace, _GIVEN, frozenset()) | {self.dest})


def _value_or_words(kind: type, words: tuple[str, ...]):
    def parse(s: str):
        return s if s in words else kind(s)

    parse.__name__ = f"{kind.__name__} or {' / '.join(words)}"
    return parse


def _alternatives(cls: type) -> dict[str, str]:
    """field -> the other field of its ALTERNATIVES pair."""
    out = {}
    for a, b in getattr(cls, "ALTERNATIVES", ()):
        out[a], out[b] = b, a
    return out


def _comma_list(item_type: type):
    def parse(s: str) -> list:
        return [item_type(x.strip()) for x in s.split(",") if x.strip()]

    parse.__name__ = f"comma list of {item_type.__name__}"  # argparse names the type in its errors
    return parse


def _fields(cls: type, names: Iterable[str] | None) -> list[dataclasses.Field]:
    by_name = {f.name: f for f in dataclasses.fields(cls) if "param" in f.metadata}
    if names is None:
        return list(by_name.values())
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise TypeError(f"{cls.__name__} has no param field(s) {unknown}")
    return [by_name[n] for n in names]


def _value_type(cls: type, name: str) -> Any:
    """The field's type, without the None of `X | None` (None stays the default only)."""
    hint = typing.get_type_hints(cls)[name]
    if type(None) in typing.get_args(hint):
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    return hint


def add_config_args(parser: argparse.ArgumentParser, cls: type, names: Iterable[str] | None = None, *,
                    base: Any = None, flags: Mapping[str, str] | None = None,
                    notes: Mapping[str, str] | None = None, helps: Mapping[str, str] | None = None,
                    space_lists: Iterable[str] = ()) -> None:
    """One option per field in `names` (default: every param field of `cls`), in that order.

    `base`: an instance whose values are the defaults (default `cls()`); `flags`: field -> option
    name where it differs from `--field-name`; `notes`: field -> text appended to its help;
    `helps`: field -> the help in this command's words instead of the field's description.
    """
    base = cls() if base is None else base
    flags, notes, helps, space_lists = dict(flags or {}), dict(notes or {}), dict(helps or {}), set(space_lists)
    fields = _fields(cls, names)
    alternatives, words = _alternatives(cls), dict(getattr(cls, "KEYWORDS", {}))
    exposed = {f.name for f in fields}
    groups: dict[str, Any] = {}  # field -> the mutually exclusive group of its pair (both exposed)
    for f in fields:
        meta = f.metadata["param"]
        kind = _value_type(cls, f.name)
        default = copy.deepcopy(getattr(base, f.name))  # a list default must not be shared with `base`
        kw: dict[str, Any] = {"dest": f.name, "default": default}
        help_text = helps.get(f.name, meta["description"]) + (f" {notes[f.name]}" if f.name in notes else "")
        if kind is bool:
            kw.update(choices=ON_OFF, default=ON_OFF[0] if default else ON_OFF[1])
        elif typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            if f.name in space_lists:
                kw.update(nargs="+", type=item)
                help_text += " (space-separated)"
            else:
                kw["type"] = _comma_list(item)
        else:
            kw["type"] = _value_or_words(kind, words[f.name]) if f.name in words else kind
            choices = meta["choices"]
            if choices is not None:
                kw["choices"] = list(choices() if callable(choices) else choices)
        if f.name in flags and "choices" not in kw:  # argparse would name the value after the field
            kw["metavar"] = flags[f.name].lstrip("-").replace("-", "_").upper()
        kw["help"] = help_text.replace("%", "%%")
        target = parser
        if f.name in alternatives:
            kw["action"] = _StoreGiven
            other = alternatives[f.name]
            if other in exposed:
                target = groups.pop(other, None) or groups.setdefault(f.name, parser.add_mutually_exclusive_group())
        target.add_argument(flags.get(f.name, "--" + f.name.replace("_", "-")), **kw)


def config_from_args(args: argparse.Namespace, cls: type[T], names: Iterable[str] | None = None, *,
                     base: T | None = None, **fixed: Any) -> T:
    """A copy of `base` (default `cls()`) with the fields in `names` taken from `args` and `fixed` set
    as given. An ALTERNATIVES field given on the command line clears the other field of its pair."""
    values: dict[str, Any] = {}
    for f in _fields(cls, names):
        v = getattr(args, f.name)
        kind = _value_type(cls, f.name)
        values[f.name] = (v == ON_OFF[0]) if kind is bool and isinstance(v, str) else v
    given = getattr(args, _GIVEN, frozenset())
    for name, other in _alternatives(cls).items():
        if name in given and name in values and other not in given:
            values[other] = None
    return dataclasses.replace(cls() if base is None else copy.deepcopy(base), **values, **fixed)
