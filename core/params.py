"""An extension's own parameters: a dataclass the extension declares as its `Params` attribute.

Each field becomes the flag `--<extension>-<field>` (underscores as dashes) in every command that offers the
extension, so it shows in `--help`, is read from `--config` YAML by the same name, is recorded in the run's
settings, and reaches the extension as one typed instance (a detector: `TrainSettings.params`):

    @dataclass
    class Params:
        model: str = field(default="yolov8n.yaml", metadata={"help": "Ultralytics model yaml"})
        weights: str | None = field(default=None, metadata={"help": "a local .pt to start from"})

        def check(self) -> None: ...     # optional: raise UserError naming the flag (flag_name(...))

Field types: str, int, float, bool (a switch that sets True) or one of them `| None`. Values travel between
processes and run.json as plain {field: value} mappings (`given`, `make`); only the fields a user set are kept, so a
default changed later still applies to an old run's unset fields.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from core.errors import UserError

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def flag_name(prefix: str, name: str) -> str:
    return f"--{prefix}-{name}".replace("_", "-")


def dest_name(prefix: str, name: str) -> str:
    return f"{prefix}_{name}".replace("-", "_")


def _type(f: dataclasses.Field) -> type:
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    base = text.replace(" ", "").replace("|None", "").replace("None|", "")
    if base not in _TYPES:
        raise TypeError(f"parameter {f.name}: type {text!r} is not one of str, int, float, bool (or | None)")
    return _TYPES[base]


def _fits(v: Any, kind: type) -> bool:
    if v is None:
        return True
    if isinstance(v, bool):
        return kind is bool
    return isinstance(v, kind) or kind is float and isinstance(v, int)


def add_args(ap: argparse.ArgumentParser, prefix: str, params: type, title: str) -> None:
    """The flags of one extension's Params, in their own help group (default None: unset)."""
    group = ap.add_argument_group(title)
    for f in dataclasses.fields(params):
        kind, default = _type(f), f.default
        text = f"{f.metadata.get('help', f.name)} (default: {default})"
        if kind is bool:
            group.add_argument(flag_name(prefix, f.name), dest=dest_name(prefix, f.name), action="store_const",
                               const=True, default=None, help=text)
        else:
            group.add_argument(flag_name(prefix, f.name), dest=dest_name(prefix, f.name), type=kind, default=None,
                               help=text)


def given(args: argparse.Namespace, prefix: str, params: type) -> dict[str, Any]:
    """The fields set on the command line (or --config): {field: value}."""
    out = {f.name: getattr(args, dest_name(prefix, f.name), None) for f in dataclasses.fields(params)}
    return {k: v for k, v in out.items() if v is not None}


def make(params: type, values: dict[str, Any], prefix: str) -> Any:
    """The instance from a {field: value} mapping, each value's type and the Params' own check applied."""
    fields = {f.name: f for f in dataclasses.fields(params)}
    for k, v in values.items():
        if k not in fields:
            raise UserError(f"{flag_name(prefix, k)}: {prefix} has no such option (it has "
                            f"{', '.join(flag_name(prefix, n) for n in fields) or 'none'})")
        kind = _type(fields[k])
        if not _fits(v, kind):
            raise UserError(f"{flag_name(prefix, k)}: {v!r} is not a {kind.__name__}")
    inst = params(**values)
    if hasattr(inst, "check"):
        inst.check()
    return inst


# ------------------------------------------------------------------ a registry's extensions, by name
def params_of(registry, name: str) -> type | None:
    """The registered extension's Params dataclass, or None."""
    return getattr(registry.get(name), "Params", None)


def add_registry_args(ap: argparse.ArgumentParser, registry) -> None:
    """Every registered extension's own flags (`--<name>-<field>`), one help group each."""
    for name in registry.names():
        if params_of(registry, name):
            add_args(ap, name, params_of(registry, name), f"{registry.kind} {name}'s options")


def registry_args(args: argparse.Namespace, registry) -> dict[str, dict]:
    """The extensions' options given on the command line: {name: {field: value}} (only those set)."""
    out = {n: given(args, n, params_of(registry, n)) for n in registry.names() if params_of(registry, n)}
    return {n: v for n, v in out.items() if v}


def merge(old: dict[str, dict], new: dict[str, dict]) -> dict[str, dict]:
    """`new`'s fields over `old`'s, per extension."""
    return {n: {**old.get(n, {}), **new.get(n, {})} for n in dict.fromkeys([*old, *new])}


def check_registry(registry, values: dict[str, dict], used: list[str]) -> dict[str, Any]:
    """Each used extension's Params and every one given options, built and checked -> {name: instance}."""
    out = {}
    for name in dict.fromkeys([*used, *values]):
        cls = params_of(registry, name)
        if cls is None and values.get(name):
            raise UserError(f"{registry.option}: {registry.kind} {name} has no options of its own, got "
                            f"{sorted(values[name])}")
        if cls is not None:
            out[name] = make(cls, values.get(name, {}), name)
    return out
