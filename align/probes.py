"""Probe renders: one small render per grid config, read as {config name: Probe(SceneConfig mapping, metadata
table)}; a grown probe's extra rounds (PROBES/.more/<config>/r<k>/, align/plan_predict.py "Probe adequacy") are
appended to its table."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from align.metadata import MetadataTable, metadata_for_dir
from core.errors import UserError
from core.io import read_json

MORE_DIR = ".more"


class Probe(NamedTuple):
    """One probed config: its SceneConfig mapping and the metadata table of its probe render."""
    config: dict
    table: MetadataTable


def _config_mapping(cfg: Any, source: str) -> tuple[dict, str]:
    from render.config import SceneConfig

    if hasattr(cfg, "to_mapping"):
        sc = cfg
    else:
        sc = SceneConfig.from_mapping(cfg, source)
    return sc.to_mapping(), sc.name


def load_probes(probes_dir: str | os.PathLike, category: str | int | None = None,
                progress: bool = False, more: int | None = None) -> dict[str, Probe]:
    """{config_name: (SceneConfig mapping, probe MetadataTable)} from PROBES_DIR/<sub>/ dataset dirs.

    Each (non-hidden) subfolder must be a complete render (coco_annotations.json + DONE) of one config, read
    from the COCO `info.config`; its name is `info.config_names[0]`, else the config's stable name. Extra
    renders of a probed config in PROBES_DIR/.more/<name>/r<k>/ (grown probes, module docstring) are appended
    to its table: all of them, or rounds k <= `more` when given."""
    root = Path(probes_dir)
    if not root.is_dir():
        raise UserError(f"{root}: probes dir not found")
    out: dict[str, Probe] = {}
    where: dict[str, Path] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        mapping, name = _probe_config(sub)
        if name in out:
            raise UserError(f"{sub}: config {name} is also probed in {where[name]} (one folder per config)")
        where[name] = sub
        tables = [metadata_for_dir(sub, category=category, dataset=name, progress=progress)]
        for extra in _more_dirs(root / MORE_DIR / name, more):
            if _probe_config(extra)[0] != mapping:
                raise UserError(f"{extra}: field 'info.config': not the config of {sub} (a grown probe must render "
                                "the same config)")
            tables.append(metadata_for_dir(extra, category=category, dataset=name, progress=progress))
        out[name] = Probe(mapping, _append_images(tables, name))
    if not out:
        raise UserError(f"{root}: no probe dataset dirs inside (expected one subfolder per config)")
    return out


def _probe_config(sub: Path) -> tuple[dict, str]:
    """(SceneConfig mapping, config name) of one complete probe render dir."""
    js = sub / "coco_annotations.json"
    if not js.is_file() or not (sub / "DONE").exists():
        raise UserError(f"{sub}: probe render incomplete (no {'coco_annotations.json' if not js.is_file() else 'DONE'}); "
                        "finish it (rerun the render) or remove the folder")
    info = read_json(js, "COCO json").get("info") or {}
    cfg = info.get("config") if isinstance(info, dict) else None
    if isinstance(cfg, list):
        if len(cfg) != 1:
            raise UserError(f"{js}: field 'info.config': a probe must be a render of one config "
                            f"(this one holds {len(cfg)})")
        cfg = cfg[0]
    if not isinstance(cfg, dict):
        raise UserError(f"{js}: field 'info.config': missing (not a `synthgap render` output?)")
    mapping, name = _config_mapping(cfg, f"{js} info.config")
    names = info.get("config_names")
    if isinstance(names, list) and len(names) == 1 and isinstance(names[0], str):
        name = names[0]
    return mapping, name


def probe_dirs(probes_dir: str | os.PathLike, name: str) -> list[Path]:
    """A config's probe render and its grown rounds, finished ones only, in order (what load_probes reads)."""
    root = Path(probes_dir)
    return [d for d in [root / name, *_more_dirs(root / MORE_DIR / name, None)] if (d / "DONE").exists()]


def _more_dirs(folder: Path, more: int | None) -> list[Path]:
    """The grown-probe rounds r1, r2, ... of one config, in round order (up to round `more` when given)."""
    if not folder.is_dir():
        return []
    rounds = sorted((int(p.name[1:]), p) for p in folder.iterdir()
                    if p.is_dir() and p.name[:1] == "r" and p.name[1:].isdigit())
    return [p for k, p in rounds if more is None or k <= more]


def _append_images(tables: list[MetadataTable], name: str) -> MetadataTable:
    """One table of several renders of one config; image ids offset so that every image keeps its own id."""
    if len(tables) == 1:
        return tables[0]
    parts, offset = [], 0.0
    for t in tables:
        t = t.subset(np.ones(len(t), bool))
        ids = t.data["image_id"].astype(float)
        t.data["image_id"] = ids + offset
        offset += (np.nanmax(ids) + 1) if np.isfinite(ids).any() else 0
        parts.append(t)
    return MetadataTable.concat(parts, dataset=name)
