"""YOLO (Ultralytics) labels -> Converted (core/label_import.py writes it).

YOLO. SRC is a data.yaml, or a folder holding a data.yaml, or images/ + labels/ + classes.txt (one name a line;
also looked for in labels/). data.yaml: `path` (relative to the yaml's folder; default that folder), `train`,
`val`, `test` (each optional, at least one; a folder searched recursively, a list of them, or a .txt listing image
paths, relative ones relative to the .txt's folder), `names` (a list or {id: name}, ids 0..n-1). An image found
by two splits counts once. Labels follow Ultralytics' rule: the last `/images/` of the image path becomes
`/labels/` and the suffix `.txt`; no label file = no objects. A line is `cls cx cy w h` normalised to [0, 1]
(1e-3 tolerance, then clipped); a segment line `cls x1 y1 ... xk yk` (k >= 3 points, an odd field count >= 7)
becomes its polygon's bounding box (as Ultralytics trains on it; the polygon itself is not kept). Refused, as
"LABEL: line N: ...": another field count, a non-number or non-finite value, a class id that is not an integer
in range, w or h <= 0, a box outside the image. A .txt under a labels folder of a searched image folder without
its image is refused ("classes.txt" excepted). Images with an EXIF orientation other than 1 are refused:
Ultralytics' normalised boxes refer to the rotated picture, synthgap reads the stored pixels.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from core.errors import UserError
from core.io import IMAGE_SUFFIXES, load_yaml
from core.label_common import Converted, Labelled, _header, _image_files, build_coco

YOLO_TOLERANCE = 1e-3


def yolo_label_path(image: Path) -> Path:
    """Ultralytics' rule: the last /images/ of the path becomes /labels/, the suffix .txt."""
    s, sa, sb = os.path.abspath(image), f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(s.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def _yolo_names(raw, where: str) -> list[str]:
    if isinstance(raw, list):
        names = [str(n) for n in raw]
    elif isinstance(raw, dict):
        try:
            by_id = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise UserError(f"{where}: key 'names': the ids of a {{id: name}} mapping must be integers") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise UserError(f"{where}: key 'names': ids must be 0..{len(by_id) - 1}, got {sorted(by_id)}")
        names = [by_id[i] for i in range(len(by_id))]
    else:
        raise UserError(f"{where}: key 'names': missing, or not a list or an {{id: name}} mapping")
    if not names or len(set(names)) != len(names) or not all(n.strip() for n in names):
        raise UserError(f"{where}: key 'names': class names must be distinct and non-empty, got {names}")
    return names


def _list_file(txt: Path) -> list[Path]:
    """The images a split .txt lists (one path a line; relative ones relative to the .txt's folder)."""
    out = []
    for ln, line in enumerate(txt.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        p = Path(line) if os.path.isabs(line) else txt.parent / line
        if not p.is_file():
            raise UserError(f"{txt}: line {ln}: image {line!r} not found ({p})")
        out.append(Path(os.path.normpath(p)))
    return out


def _yolo_split(root: Path, value, key: str, where: str) -> tuple[list[Path], list[Path]]:
    """(images, image folders searched) of one data.yaml split value."""
    images, folders = [], []
    for v in value if isinstance(value, list) else [value]:
        if not isinstance(v, str) or not v:
            raise UserError(f"{where}: key {key!r}: must be a path or a list of paths, got {v!r}")
        p = Path(v) if os.path.isabs(v) else root / v
        if p.is_dir():
            folders.append(p)
            images += _image_files(p)
        elif p.is_file() and p.suffix.lower() == ".txt":
            images += _list_file(p)
        elif p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            raise UserError(f"{where}: key {key!r}: {v!r} is not an image folder, a .txt list or an image ({p})")
    return images, folders


def _yolo_yaml(yaml_path: Path) -> tuple[list[str] | None, list[Path], list[Path]]:
    """(names, images, image folders) of a data.yaml."""
    d = load_yaml(yaml_path, "data.yaml")
    where = str(yaml_path)
    if not isinstance(d, dict):
        raise UserError(f"{where}: must be a mapping with keys path, train, val, names")
    base = d.get("path") or ""
    root = Path(base) if os.path.isabs(str(base)) else yaml_path.parent / str(base)
    names = _yolo_names(d["names"], where) if d.get("names") is not None else None
    if names is not None and d.get("nc") is not None and d["nc"] != len(names):
        raise UserError(f"{where}: key 'nc': {d['nc']!r} but 'names' lists {len(names)} classes")
    images, folders = [], []
    for key in ("train", "val", "test"):
        if d.get(key) is not None:
            im, fo = _yolo_split(root, d[key], key, where)
            images, folders = images + im, folders + fo
    if not any(d.get(k) is not None for k in ("train", "val", "test")):
        raise UserError(f"{where}: keys 'train'/'val'/'test': none given (name at least one image folder)")
    return names, images, folders


def _yolo_source(src: Path, names: list[str] | None) -> tuple[list[str], list[Path], list[Path]]:
    """(names, images, image folders) of a data.yaml or a YOLO folder; --names must agree with named sources."""
    found: list[str] | None = None
    if src.is_file():
        found, images, folders = _yolo_yaml(src)
    elif (src / "data.yaml").is_file():
        found, images, folders = _yolo_yaml(src / "data.yaml")
    elif (src / "images").is_dir():
        folders = [src / "images"]
        images = _image_files(src / "images")
        for cand in (src / "classes.txt", src / "labels" / "classes.txt"):
            if cand.is_file():
                found = _yolo_names([n.strip() for n in cand.read_text(encoding="utf-8").splitlines()
                                     if n.strip()], str(cand))
                break
    else:
        raise UserError(f"{src}: not a data.yaml, nor a folder with data.yaml or images/ + labels/")
    if found is None and names is None:
        raise UserError(f"{src}: no class names (data.yaml 'names' or classes.txt); give them with --names a,b")
    if found is not None and names is not None and names != found:
        raise UserError(f"--names: {','.join(names)} differs from the source's names {','.join(found)}")
    unique = list({os.path.realpath(p): Path(os.path.abspath(p)) for p in images}.values())
    return found or names, unique, folders


def _yolo_fields(fields: list[str], where: str, n_classes: int) -> tuple[int, list[float]]:
    """The class index and the normalised numbers of one label line."""
    n = len(fields)
    if n != 5 and not (n >= 7 and n % 2 == 1):
        raise UserError(f"{where}: {n} fields; a box is 'class cx cy w h' (5 fields), a segment 'class x1 y1 "
                        "x2 y2 x3 y3 ...' (an odd count >= 7)")
    vals = []
    for i, f in enumerate(fields):
        try:
            v = float(f)
        except ValueError:
            raise UserError(f"{where}: field {i + 1} {f!r} is not a number") from None
        if not math.isfinite(v):
            raise UserError(f"{where}: field {i + 1} {f!r} is not a finite number")
        vals.append(v)
    if vals[0] != int(vals[0]) or not 0 <= vals[0] < n_classes:
        raise UserError(f"{where}: class id {fields[0]} out of range (the names give {n_classes} classes: "
                        f"0..{n_classes - 1})")
    return int(vals[0]), vals[1:]


def _yolo_box(vals: list[float], where: str) -> tuple[float, float, float, float]:
    """Normalised corners (x0, y0, x1, y1) of a box or a polygon, checked and clipped to [0, 1]."""
    if len(vals) == 4:
        cx, cy, w, h = vals
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: zero or negative size (w={w:g}, h={h:g})")
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    else:
        xs, ys = vals[0::2], vals[1::2]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        if x1 <= x0 or y1 <= y0:
            raise UserError(f"{where}: the segment's polygon has no area")
    t = YOLO_TOLERANCE
    if x0 < -t or y0 < -t or x1 > 1 + t or y1 > 1 + t:
        raise UserError(f"{where}: box [{x0:.4g}, {y0:.4g}, {x1:.4g}, {y1:.4g}] (x0 y0 x1 y1) lies outside the "
                        "image (normalised coordinates must be within [0, 1])")
    return max(x0, 0.0), max(y0, 0.0), min(x1, 1.0), min(y1, 1.0)


def yolo_boxes(label: Path, width: int, height: int, n_classes: int) -> list[tuple[int, list[float], dict]]:
    """The pixel boxes of one YOLO label file (none when it does not exist)."""
    if not label.is_file():
        return []
    try:
        text = label.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{label}: not UTF-8 text") from None
    boxes = []
    for ln, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{label}: line {ln}"
        cls, vals = _yolo_fields(fields, where, n_classes)
        x0, y0, x1, y1 = _yolo_box(vals, where)
        if x1 <= x0 or y1 <= y0:
            raise UserError(f"{where}: the box has no area inside the image")
        boxes.append((cls, [x0 * width, y0 * height, (x1 - x0) * width, (y1 - y0) * height], {}))
    return boxes


def _orphan_labels(folders: list[Path], images: list[Path]) -> None:
    """A .txt in the labels folder of a searched image folder with no image -> UserError naming it."""
    expected = {os.path.realpath(yolo_label_path(p)) for p in images}
    for folder in folders:
        labels = Path(str(yolo_label_path(folder / "x.jpg").parent))
        if os.path.realpath(labels) == os.path.realpath(folder) or not labels.is_dir():
            continue
        for txt in sorted(labels.rglob("*.txt")):
            if txt.name != "classes.txt" and os.path.realpath(txt) not in expected:
                raise UserError(f"{txt}: label file without an image (no image of that name under {folder})")


def convert_yolo(src: str | os.PathLike, names: list[str] | None = None) -> Converted:
    src = Path(os.path.abspath(src))
    names, images, folders = _yolo_source(src, names)
    _orphan_labels(folders, images)
    items = []
    for p in images:
        w, h, orient = _header(p, str(p))
        if orient != 1:
            raise UserError(f"{p}: EXIF orientation {orient}: YOLO labels refer to the rotated picture, synthgap "
                            "reads the stored pixels; rotate the pixels first (e.g. exiftran -ai, or PIL's "
                            "ImageOps.exif_transpose) and check the labels")
        items.append(Labelled(p, w, h, yolo_boxes(yolo_label_path(p), w, h, len(names))))
    coco, root = build_coco(items, names, {"imported_from": "yolo", "source": str(src)})
    unlabelled = sum(not yolo_label_path(it.path).is_file() for it in items)
    notes = [f"{unlabelled} image(s) without a label file (imported with no objects)"] if unlabelled else []
    return Converted("yolo", src, names, root, coco, folders, notes)


# ---------------------------------------------------------------------------------------------------------- VOC
