"""What the YOLO and Pascal VOC readers share (core/label_yolo.py, core/label_voc.py): the labelled-image record,
the conversion result, image headers, and the one COCO builder (ids 1..N by sorted file name relative to the
images' common root, boxes rounded to 1e-4 px, categories 1..n in the names' order). Rules: core/label_import.py."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.io import IMAGE_SUFFIXES


@dataclass
class Labelled:
    """One image and its boxes: (class index 0.., [x, y, w, h] px, extra annotation fields)."""
    path: Path
    width: int
    height: int
    boxes: list[tuple[int, list[float], dict]] = field(default_factory=list)


@dataclass
class Converted:
    fmt: str
    source: Path
    names: list[str]
    root: Path                     # the images root file names are relative to
    coco: dict
    scanned: list[Path]            # folders read (an --out may not lie in one)
    notes: list[str] = field(default_factory=list)


def _num(v: float) -> float:
    return round(float(v), 4) + 0.0            # + 0.0: no "-0.0" in the json


def _header(path: Path, where: str) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) from the image header; unreadable -> UserError naming `where`."""
    from PIL import Image
    try:
        with Image.open(path) as f:
            return f.width, f.height, int(f.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        what = "not a readable image" if where == str(path) else f"image {path} is not a readable image"
        raise UserError(f"{where}: {what}") from None


def _images_root(paths: list[Path]) -> Path:
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def _check_inside(paths: list[Path], root: Path) -> None:
    real_root = Path(os.path.realpath(root))
    for p in paths:
        if real_root not in Path(os.path.realpath(p)).parents:
            raise UserError(f"{p}: resolves to {os.path.realpath(p)}, outside the images root {root} (a symlink?); "
                            "synthgap reads images only inside their folder: import with --copy")


def build_coco(items: list[Labelled], names: list[str], info: dict) -> tuple[dict, Path]:
    """The COCO dict of `items` (ids 1..N by sorted file name relative to the common root) -> (coco, root)."""
    if not items:
        raise UserError(f"{info.get('source')}: no images found")
    root = _images_root([it.path for it in items])
    _check_inside([it.path for it in items], root)
    named = sorted(((it.path.relative_to(root).as_posix(), it) for it in items), key=lambda t: t[0])
    images, anns = [], []
    for iid, (name, it) in enumerate(named, 1):
        images.append({"id": iid, "file_name": name, "width": it.width, "height": it.height})
        for cls, (x, y, w, h), extra in it.boxes:
            box = [_num(x), _num(y), _num(w), _num(h)]
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": cls + 1, "bbox": box,
                         "area": _num(box[2] * box[3]), "iscrowd": 0, **extra})
    cats = [{"id": i, "name": n} for i, n in enumerate(names, 1)]
    return {"info": info, "images": images, "annotations": anns, "categories": cats}, root


def parse_names(text: str | None) -> list[str] | None:
    """`--names a,b` -> ["a", "b"] (None when not given); empty or duplicate names are an error."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise UserError(f"--names: {text!r}: give distinct, non-empty class names separated by commas")
    return names


def _image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (recursive, sorted; hidden files and folders skipped)."""
    rel = lambda p: p.relative_to(folder).parts    # noqa: E731
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(s.startswith(".") for s in rel(p)))


# --------------------------------------------------------------------------------------------------------- YOLO
