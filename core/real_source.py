"""`--real` in any label format: a COCO json, a YOLO data.yaml (or YOLO folder), or a Pascal VOC folder.

    resolve_real(real, images, flag="--real") -> (COCO json path, images folder)
    resolve_args(args)                        -> the same on an argparse namespace's `real` and `images`

A COCO json (or a synthgap dataset dir) passes through unchanged; its images default to the json's folder. A
YOLO source (a .yaml/.yml file, a folder holding data.yaml, or images/ + labels/) or a VOC folder (holding
Annotations/) is converted by core/label_import.py, exactly as `synthgap import` converts it (same rules, same
one-line errors naming the label file and line), into `$SYNTHGAP_CACHE/imports/<format>-<hash>/`, the hash of the
converted COCO's bytes: the same labels give the same file (so run folders pinned by content resume, and the
image ids are those `synthgap import` gives: 1..N by sorted file name, so a split made from either matches),
and an edited label gives a new one. The images are referenced where they are; `--images`, when given with
such a source, must name the folder the labels' images lie under (it is that folder by default).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.errors import UserError


def real_format(path: Path) -> str:
    """coco | yolo | voc, from what the path is."""
    if path.is_file():
        return "yolo" if path.suffix.lower() in (".yaml", ".yml") else "coco"
    if path.is_dir():
        if (path / "Annotations").is_dir():
            return "voc"
        if (path / "data.yaml").is_file() or ((path / "images").is_dir() and (path / "labels").is_dir()):
            return "yolo"
    return "coco"                      # a COCO json, a dataset dir, or a missing path: load_coco says which


def resolve_real(real: str | os.PathLike, images: str | os.PathLike | None,
                 flag: str = "--real") -> tuple[Path, Path]:
    real = Path(real)
    fmt = real_format(real)
    if fmt == "coco":
        json_path = real / "coco_annotations.json" if real.is_dir() else real
        return real, Path(images) if images is not None else json_path.parent
    from core.envs import cache_dir
    from core.io import atomic_write_bytes
    from core.label_import import convert

    conv = convert(fmt, real)
    data = json.dumps(conv.coco, indent=None, sort_keys=False).encode("utf-8")
    out = cache_dir() / "imports" / f"{fmt}-{hashlib.sha256(data).hexdigest()[:16]}"
    target = out / "annotations_coco.json"
    if not target.is_file() or target.read_bytes() != data:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    root = Path(os.path.abspath(conv.root))
    if images is not None and Path(os.path.realpath(images)) != Path(os.path.realpath(root)):
        raise UserError(f"{real}: {flag} is {fmt.upper()} labels whose images lie under {root}: --images "
                        f"{images} names another folder (leave --images out)")
    return target, root


def resolve_args(args, real: str = "real", images: str = "images", flag: str = "--real",
                 fill_images: bool = True) -> None:
    """Resolve an argparse namespace's real-set source in place (no-op when it has none). `fill_images` False:
    a COCO source leaves `images` as given (a command whose --images also serves another source)."""
    if getattr(args, real, None):
        if not fill_images and real_format(Path(getattr(args, real))) == "coco":
            return
        j, i = resolve_real(getattr(args, real), getattr(args, images, None), flag)
        setattr(args, real, str(j))
        setattr(args, images, str(i))
