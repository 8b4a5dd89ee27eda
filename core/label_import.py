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

The readers: core/label_yolo.py (YOLO) and core/label_voc.py (Pascal VOC), sharing core/label_common.py.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path

from core.coco import CocoSet, load_coco
from core.errors import UserError
from core.io import atomic_write_json, check_not_input, check_out_dir, input_paths, read_json
from core.label_common import Converted, parse_names
from core.label_voc import convert_voc
from core.label_yolo import convert_yolo

COCO_FILE = "annotations_coco.json"
MARKER = "import.json"
FORMATS = ("yolo", "voc")
_OURS = {COCO_FILE, MARKER, "images"}



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
