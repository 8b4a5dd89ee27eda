"""Grid YAML: a SceneConfig mapping where any value may be `{grid: [v1, v2, ...]}` (docs/design.md §1).

Expansion is the Cartesian product of all grid axes (in the order they appear, depth first), each result
validated as a SceneConfig and named by the stable hash of its canonical JSON; duplicates are dropped.
"""
from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

from render.config import SceneConfig
from core.errors import UserError
from core.io import load_yaml


def _axes(d: Any, prefix: tuple[str, ...], source: str) -> list[tuple[tuple[str, ...], list]]:
    out: list[tuple[tuple[str, ...], list]] = []
    if isinstance(d, dict):
        if "grid" in d and len(d) == 1:
            vals = d["grid"]
            key = ".".join(prefix)
            if not isinstance(vals, list) or not vals:
                raise UserError(f"{source}: key {key!r}: grid must be a non-empty list, got {vals!r}")
            return [(prefix, vals)]
        if "grid" in d:
            raise UserError(f"{source}: key {'.'.join(prefix + ('grid',))!r}: a grid mapping holds only 'grid'")
        for k, v in d.items():
            out += _axes(v, prefix + (str(k),), source)
    return out


def _set(d: dict, path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


def expand_grid(path_or_mapping: str | Path | dict, manifest_classes: list[str] | None = None) -> list[SceneConfig]:
    """All configs of a grid YAML (a path or an already parsed mapping); a plain config gives one."""
    if isinstance(path_or_mapping, dict):
        data, source = path_or_mapping, "<grid>"
    else:
        source = str(path_or_mapping)
        data = load_yaml(path_or_mapping)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{source}: key '<top>': must be a mapping, got {type(data).__name__}")
    axes = _axes(data, (), source)
    out: list[SceneConfig] = []
    seen: set[str] = set()
    for combo in itertools.product(*[vals for _, vals in axes]):
        d = copy.deepcopy(data)
        for (path, _), value in zip(axes, combo):
            _set(d, path, value)
        label = source if not axes else f"{source} (grid point " + ", ".join(
            f"{'.'.join(p)}={v!r}" for (p, _), v in zip(axes, combo)) + ")"
        cfg = SceneConfig.from_mapping(d, label, manifest_classes)
        if cfg.name not in seen:
            seen.add(cfg.name)
            out.append(cfg)
    return out
