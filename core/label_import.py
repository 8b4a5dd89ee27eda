"""`synthgap import`: real labels in YOLO (Ultralytics) or Pascal VOC form -> the project's COCO (docs/design.md §3).

`synthgap import --format yolo|voc SRC --out DIR [--names a,b] [--copy]` writes DIR/annotations_coco.json and
DIR/import.json (source, format, names, counts) and prints the `--real ... --images ...` to pass on. DIR must be
new, empty or an earlier import (then rebuilt; it must hold nothing else); it is built in a temp sibling, checked
with `core.coco.load_coco` and renamed into place, so a refused import leaves DIR as it was.

Output: images {id, file_name, width, height} (the size read from the file header, checked against any size the
labels state), ids 1..N by sorted file name; annotations {id, image_id, category_id, bbox [x, y, w, h] px, area,
iscrowd: 0}; categories {id 1..n, name} in the names' order. So the same input gives byte-identical json.
file_name is relative to the images root, the common parent folder of all images (referenced, not copied); with
`--copy` the images are copied to DIR/images/<name> and file_name is relative to DIR.

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

Pascal VOC. SRC holds Annotations/*.xml; each XML's image is JPEGImages/<filename>, else <folder>/<filename>
(relative to SRC). Box rule (detectron2's `load_voc_instances`): VOC corners are 1-based inclusive pixel indices,
so COCO bbox = [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1] (xmin = 1, xmax = W covers the image).
Boxes may overrun <size> by 1 px (then clipped). <difficult> objects are kept, with "voc_difficult": 1 on the
annotation (iscrowd stays 0). Classes: the sorted names found, or `--names` (fixes the order; a name not in it
is an error). Refused, as "XML: object K: ...": XML that does not parse (or declares a DOCTYPE/ENTITY:
defusedxml is not a dependency, and annotation tools write none), a missing tag, a non-number, a box outside
<size>, a <size> unlike the image file, a missing image. Images with no XML are not imported (the summary
counts them).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core.coco import BOX_TOLERANCE_PX, CocoSet, load_coco
from core.errors import UserError
from core.io import IMAGE_SUFFIXES, atomic_write_json, check_not_input, check_out_dir, input_paths, load_yaml, \
    read_json

COCO_FILE = "annotations_coco.json"
MARKER = "import.json"
FORMATS = ("yolo", "voc")
YOLO_TOLERANCE = 1e-3
_OURS = {COCO_FILE, MARKER, "images"}


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


# ------------------------------------------------------------------------------------------------------- shared
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
def _parse_xml(path: Path):
    import xml.etree.ElementTree as ET
    data = path.read_bytes()
    if re.search(rb"<!\s*(DOCTYPE|ENTITY)", data, re.IGNORECASE):
        raise UserError(f"{path}: declares a DOCTYPE/ENTITY; VOC annotations need none (refused for safety)")
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as e:
        raise UserError(f"{path}: not valid XML ({e})") from None
    if tree.tag != "annotation":
        raise UserError(f"{path}: root tag <{tree.tag}>, expected <annotation> (Pascal VOC)")
    return tree


def _text(el, tag: str, where: str, required: bool = True) -> str | None:
    node = el.find(tag)
    if node is None or node.text is None or not node.text.strip():
        if required:
            raise UserError(f"{where}: tag {tag!r}: missing or empty")
        return None
    return node.text.strip()


def _number(el, tag: str, where: str) -> float:
    text = _text(el, tag, where)
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise UserError(f"{where}: tag {tag!r}: {text!r} is not a finite number")
    return v


def _voc_image(xml: Path, tree, src: Path) -> Path:
    fn = _text(tree, "filename", str(xml))
    if os.path.isabs(fn) or ".." in Path(fn).parts:
        raise UserError(f"{xml}: tag 'filename': {fn!r} must be a plain name (no absolute path, no '..')")
    folder = _text(tree, "folder", str(xml), required=False)
    cands = [src / "JPEGImages" / fn]
    if folder and not os.path.isabs(folder) and ".." not in Path(folder).parts:
        cands.append(src / folder / fn)
    for c in cands:
        if c.is_file():
            return c
    raise UserError(f"{xml}: tag 'filename': image {fn!r} not found (looked for {', '.join(map(str, cands))})")


def _voc_size(xml: Path, tree, img: Path) -> tuple[int, int]:
    """The image file's size, checked against <size> (absent, or 0 x 0 as some tools write: unchecked)."""
    w, h, orient = _header(img, str(xml))
    size = tree.find("size")
    if size is not None:
        sw, sh = _number(size, "width", f"{xml}: size"), _number(size, "height", f"{xml}: size")
        if (sw, sh) != (0, 0) and (sw, sh) != (w, h):
            rot = f" (the file has EXIF orientation {orient})" if orient != 1 else ""
            raise UserError(f"{xml}: tag 'size': {sw:g}x{sh:g} but the image file {img} is {w}x{h}{rot}")
    return w, h


def _voc_object(obj, where: str, w: int, h: int) -> tuple[str, list[float], dict]:
    """(name, COCO bbox px, extra fields) of one <object>, by detectron2's rule (module docstring)."""
    name = _text(obj, "name", where)
    bb = obj.find("bndbox")
    if bb is None:
        raise UserError(f"{where}: tag 'bndbox': missing")
    xmin, ymin, xmax, ymax = (_number(bb, t, f"{where}: bndbox") for t in ("xmin", "ymin", "xmax", "ymax"))
    x0, y0, x1, y1 = xmin - 1, ymin - 1, xmax, ymax
    if x1 <= x0 or y1 <= y0:
        raise UserError(f"{where}: bndbox {xmin:g} {ymin:g} {xmax:g} {ymax:g}: max below min")
    t = BOX_TOLERANCE_PX
    if x0 < -t or y0 < -t or x1 > w + t or y1 > h + t:
        raise UserError(f"{where}: bndbox {xmin:g} {ymin:g} {xmax:g} {ymax:g} (1-based) lies outside the "
                        f"{w}x{h} image")
    x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
    diff = _text(obj, "difficult", where, required=False) or "0"
    if diff not in ("0", "1"):
        raise UserError(f"{where}: tag 'difficult': {diff!r}, expected 0 or 1")
    return name, [x0, y0, x1 - x0, y1 - y0], {"voc_difficult": int(diff)}


def _voc_file(xml: Path, src: Path) -> tuple[Path, int, int, list[tuple[str, list[float], dict]]]:
    tree = _parse_xml(xml)
    img = _voc_image(xml, tree, src)
    w, h = _voc_size(xml, tree, img)
    objs = []
    for k, obj in enumerate(tree.findall("object"), 1):
        objs.append(_voc_object(obj, f"{xml}: object {k}", w, h))
    return img, w, h, objs


def convert_voc(src: str | os.PathLike, names: list[str] | None = None) -> Converted:
    src = Path(os.path.abspath(src))
    ann_dir = src / "Annotations"
    xmls = sorted(ann_dir.glob("*.xml")) if ann_dir.is_dir() else []
    if not xmls:
        raise UserError(f"{src}: no Annotations/*.xml (Pascal VOC: Annotations/ + JPEGImages/)")
    parsed, seen = [], {}
    for xml in xmls:
        img, w, h, objs = _voc_file(xml, src)
        key = os.path.realpath(img)
        if key in seen:
            raise UserError(f"{xml}: image {img} is also labelled by {seen[key]}")
        seen[key] = xml
        parsed.append((xml, Path(os.path.abspath(img)), w, h, objs))
    found = sorted({n for *_, objs in parsed for n, _, _ in objs})
    order = names if names is not None else found
    index = {n: i for i, n in enumerate(order)}
    items = []
    for xml, img, w, h, objs in parsed:
        for k, (n, _, _) in enumerate(objs, 1):
            if n not in index:
                raise UserError(f"{xml}: object {k}: class {n!r} not in --names ({', '.join(order)})")
        items.append(Labelled(img, w, h, [(index[n], box, extra) for n, box, extra in objs]))
    coco, root = build_coco(items, order, {"imported_from": "voc", "source": str(src)})
    scanned = [ann_dir] + sorted({it.path.parent for it in items})
    jpeg = src / "JPEGImages"
    extra = len({os.path.realpath(p) for p in _image_files(jpeg)} - set(seen)) if jpeg.is_dir() else 0
    notes = [f"{extra} image(s) in {jpeg} have no XML and were not imported"] if extra else []
    return Converted("voc", src, list(order), root, coco, scanned, notes)


# --------------------------------------------------------------------------------------------------- writing DIR
def convert(fmt: str, src: str | os.PathLike, names: list[str] | None = None) -> Converted:
    if fmt not in FORMATS:
        raise UserError(f"--format: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    return (convert_yolo if fmt == "yolo" else convert_voc)(src, names)


def _check_out(out: Path) -> None:
    """DIR is new, empty, or an earlier import holding only what an import writes."""
    check_out_dir(out)
    if not out.exists() or not any(out.iterdir()):
        return
    record = read_json(out / MARKER, "import record") if (out / MARKER).is_file() else None
    if not (isinstance(record, dict) and record.get("synthgap_import")):
        raise UserError(f"{out}: --out exists, is not empty and is not an earlier import (choose a new or empty "
                        "folder)")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _OURS)
    if foreign:
        raise UserError(f"{out}: --out is an earlier import but also holds {', '.join(foreign)}, which a rebuild "
                        "would delete; move them out or choose another --out")


def _record(conv: Converted, images_root: Path, copy: bool) -> dict:
    c = conv.coco
    return {"synthgap_import": 1, "format": conv.fmt, "source": str(conv.source), "names": conv.names,
            "images": len(c["images"]), "boxes": len(c["annotations"]), "classes": len(conv.names),
            "copied": copy, "images_root": str(images_root), "notes": conv.notes}


def _sibling(out: Path, what: str) -> Path:
    """A fresh hidden folder beside `out` (mode by the umask, as a plain mkdir gives)."""
    p = out.with_name(f".{out.name}.{what}-{os.getpid()}")
    shutil.rmtree(p, ignore_errors=True)
    p.mkdir(parents=True)
    return p


def _swap_in(tmp: Path, out: Path) -> None:
    """`tmp` becomes `out`; an earlier `out` is moved aside first and deleted only once `tmp` is in place."""
    if not out.exists() or not any(out.iterdir()):
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
        return
    old = _sibling(out, "old") / out.name
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old.parent, ignore_errors=True)


def write_import(conv: Converted, out: str | os.PathLike, copy: bool = False) -> CocoSet:
    """DIR/annotations_coco.json + DIR/import.json (+ DIR/images/ with `copy`), built in a temp sibling, checked
    by load_coco and renamed into place. -> the loaded CocoSet (its images_dir: the --images to pass)."""
    out = Path(os.path.abspath(out))
    _check_out(out)
    tmp = _sibling(out, "import")
    try:
        coco = conv.coco
        if copy:
            images = [dict(im, file_name=f"images/{im['file_name']}") for im in coco["images"]]
            for im, new in zip(coco["images"], images):
                (tmp / new["file_name"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(conv.root / im["file_name"], tmp / new["file_name"])
            coco = dict(coco, images=images)
        atomic_write_json(tmp / COCO_FILE, coco, indent=None)
        atomic_write_json(tmp / MARKER, _record(conv, out if copy else conv.root, copy))
        load_coco(tmp / COCO_FILE, tmp if copy else conv.root)          # the final check, as every reader does
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_coco(out / COCO_FILE, out if copy else conv.root)


def import_labels(fmt: str, src: str | os.PathLike, out: str | os.PathLike, names: list[str] | None = None,
                  copy: bool = False) -> tuple[Converted, CocoSet]:
    """Convert SRC and write DIR (see write_import); DIR may not be, hold, or lie in a folder the import reads."""
    conv = convert(fmt, src, names)
    _check_not_source(Path(out), conv)
    return conv, write_import(conv, out, copy)


def _check_not_source(out: Path, conv: Converted) -> None:
    inputs = [("SRC", conv.source), ("the images root", conv.root)] + [("an image folder", d) for d in conv.scanned]
    check_not_input(out, inputs, deletes=True)
    o = Path(os.path.realpath(out))
    for d in [conv.root, *conv.scanned]:
        if Path(os.path.realpath(d)) in o.parents:
            raise UserError(f"{out}: --out lies inside {d}, which the import reads; choose a folder outside it")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="synthgap import", description="convert real labels in YOLO (Ultralytics) "
                                "or Pascal VOC form to the COCO file synthgap reads (see core/label_import.py)")
    p.add_argument("source", metavar="SRC", help="yolo: a data.yaml or a folder with images/ + labels/; voc: a "
                   "folder with Annotations/ + JPEGImages/")
    p.add_argument("--format", required=True, choices=FORMATS, help="the labels' format")
    p.add_argument("--out", required=True, help="new or empty folder, or an earlier import (rebuilt)")
    p.add_argument("--names", default=None, help="class names in order, comma separated (voc: fixes the order; "
                   "yolo: when the source names none)")
    p.add_argument("--copy", action="store_true", help="copy the images into OUT/images/ (default: reference)")
    args = p.parse_args(argv)
    check_not_input(args.out, input_paths(vars(args)), deletes=True)
    conv, cs = import_labels(args.format, args.source, args.out, parse_names(args.names), args.copy)
    out = Path(args.out)
    real, images = shlex.quote(str(out / COCO_FILE)), shlex.quote(str(cs.images_dir))
    print(f"import: {out / COCO_FILE}: {len(cs.images)} images, {len(cs.annotations)} boxes, {len(conv.names)} "
          f"classes ({', '.join(conv.names)}) from {args.format} {conv.source}")
    for note in conv.notes:
        print(f"  note: {note}")
    print(f"  split: synthgap split {real} --exposed N --out split.json\n"
          f"  then:  synthgap run --real {real} --images {images} --split split.json ...")
    return 0
