"""COCO (core.coco, the one COCO layer) <-> Ultralytics YOLO layout, class ids mapped by *name* between sets.

The detector's classes are the real set's category names (optionally one `--category`), in the real set's
category-id order. A synthetic set's annotations are mapped to those classes by name (ids may differ between
sets); names the real set does not have are dropped. Predictions come back as COCO detections carrying the
real set's category ids.

YOLO export layout (what Ultralytics reads): `OUT/images/<image_id:08d><ext>` (symlinks to the originals),
`OUT/labels/<image_id:08d>.txt` (`cls cx cy w h`, normalized), `OUT/index.json` (`{"names": [...],
"images": {"<stem>": image_id}}`), `OUT/DONE` written last.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.coco import CocoSet
from core.errors import UserError
from core.io import atomic_write_json, atomic_write_text, read_json


def _source_key(cs: CocoSet) -> str:
    """The export's pin on its source: the COCO json's bytes and the image files' names, sizes, mtimes."""
    import hashlib

    from core.io import file_fingerprint
    h = hashlib.sha256(Path(cs.json_path).read_bytes())
    h.update(file_fingerprint([cs.image_path(im).resolve() for im in cs.images]).encode())
    return h.hexdigest()[:16]


def export_yolo(cs: CocoSet, out_dir: str | os.PathLike, names: list[str],
                image_ids: list[int] | None = None, link: bool = True, extra: dict[str, str] | None = None) -> Path:
    """Write the YOLO layout for `cs` (restricted to `image_ids`) with classes `names`; images are symlinks
    to the originals (`link`) or copies; `extra` = {file name: text} written beside them (data.yaml). Built in
    a fresh OUT.partial-* and renamed into place, so a killed export leaves OUT as it was, and cells exporting
    the same set at once (the ray backend) never share a folder being built. Idempotent: a dir with DONE,
    the same names and images and the same source content is reused; anything else (e.g. a COCO fixed in
    place) is rebuilt from scratch."""
    out = Path(out_dir)
    sub = cs.subset(image_ids, names)
    cat_name = {c["id"]: c["name"] for c in cs.coco["categories"]}
    want = {f"{int(im['id']):08d}": int(im["id"]) for im in sub["images"]}
    key = _source_key(cs)

    def current() -> bool:
        if not ((out / "DONE").exists() and all((out / n).is_file() for n in extra or {})):
            return False
        idx = read_json(out / "index.json")
        return idx.get("names") == names and idx.get("images") == want and idx.get("source_key") == key
    if current():
        return out
    tmp = _fresh(out)
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    by_img: dict[int, list[dict]] = {}
    for a in sub["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    cls_of = {n: i for i, n in enumerate(names)}
    for im in sub["images"]:
        src = cs.image_path(im).resolve()
        stem = f"{int(im['id']):08d}"
        (os.symlink if link else shutil.copyfile)(src, tmp / "images" / f"{stem}{src.suffix.lower()}")
        W, H = float(im.get("width") or 0), float(im.get("height") or 0)
        if W <= 0 or H <= 0:
            raise UserError(f"{cs.json_path}: image id {im['id']}: width/height missing or not positive")
        lines = []
        for a in by_img.get(im["id"], []):
            if a.get("iscrowd", 0):
                continue
            x, y, w, h = (float(v) for v in a["bbox"])
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(W, x + w), min(H, y + h)
            if x1 - x0 <= 0 or y1 - y0 <= 0:
                continue
            c = cls_of[cat_name[a["category_id"]]]
            lines.append(f"{c} {(x0 + x1) / 2 / W:.6f} {(y0 + y1) / 2 / H:.6f} {(x1 - x0) / W:.6f} {(y1 - y0) / H:.6f}")
        (tmp / "labels" / f"{stem}.txt").write_text("".join(l + "\n" for l in lines))
    atomic_write_json(tmp / "index.json", {"names": names, "images": want,
                                           "source": str(cs.json_path), "source_key": key})
    for name, text in (extra or {}).items():
        atomic_write_text(tmp / name, text)
    atomic_write_text(tmp / "DONE", "")
    _swap_in(tmp, out, current)
    return out


def _fresh(out: Path) -> Path:
    """A build folder beside OUT that no other process uses (OUT.partial-<pid>-<ns>), not yet made."""
    import time
    return out.with_name(f"{out.name}.partial-{os.getpid()}-{time.time_ns()}")


def _swap_in(tmp: Path, out: Path, current) -> None:
    """tmp becomes out, unless a concurrent builder put a current one there first: that one stays (a cell may
    be training on it already) and tmp goes."""
    for _ in range(5):
        if current():
            shutil.rmtree(tmp, ignore_errors=True)
            return
        shutil.rmtree(out, ignore_errors=True)
        try:
            os.replace(tmp, out)
            return
        except OSError:                  # another builder's OUT arrived between the two calls: look again
            continue
    raise UserError(f"{out}: could not put the export in place (another process keeps replacing it)")


def read_yolo(export_dir: str | os.PathLike) -> dict[int, list[tuple[str, list[float]]]]:
    """Back from a YOLO export: image_id -> [(class name, [x, y, w, h] in pixels)] (sizes from the images)."""
    from PIL import Image
    d = Path(export_dir)
    idx = read_json(d / "index.json")
    names = idx["names"]
    out: dict[int, list[tuple[str, list[float]]]] = {}
    for img in sorted((d / "images").iterdir()):
        image_id = idx["images"][img.stem]
        with Image.open(img) as pil:
            W, H = pil.size
        boxes = []
        for line in (d / "labels" / f"{img.stem}.txt").read_text().splitlines():
            c, cx, cy, w, h = line.split()
            cx, cy, w, h = float(cx) * W, float(cy) * H, float(w) * W, float(h) * H
            boxes.append((names[int(c)], [cx - w / 2, cy - h / 2, w, h]))
        out[image_id] = boxes
    return out


def combine_exports(parts: list[tuple[Path, int]], out_dir: str | os.PathLike) -> Path:
    """One YOLO training folder from several exports, each repeated k times (symlinks `p<i>r<k>_<stem>`):
    oversampling for mixed training. Rebuilt every call (cheap: links only) beside OUT and swapped in only
    when it differs, so a cell training on the same combination at once keeps its folder."""
    out = Path(out_dir)
    tmp = _fresh(out)
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    for i, (d, k) in enumerate(parts):
        for img in sorted((d / "images").iterdir()):
            for r in range(k):
                stem = f"p{i}r{r}_{img.stem}"
                os.symlink(img.resolve(), tmp / "images" / f"{stem}{img.suffix}")
                os.symlink((d / "labels" / f"{img.stem}.txt").resolve(), tmp / "labels" / f"{stem}.txt")

    def links(d: Path) -> dict[str, str]:
        return {f"{sub}/{p.name}": os.readlink(p) for sub in ("images", "labels") if (d / sub).is_dir()
                for p in (d / sub).iterdir()}
    want = links(tmp)
    _swap_in(tmp, out, lambda: out.is_dir() and links(out) == want)
    return out


def write_data_yaml(path: str | os.PathLike, train_dir: Path, val_dir: Path, names: list[str]) -> Path:
    import yaml
    path = Path(path)
    text = yaml.safe_dump({"path": str(path.parent.resolve()), "train": str(Path(train_dir).resolve() / "images"),
                           "val": str(Path(val_dir).resolve() / "images"),
                           "names": {i: n for i, n in enumerate(names)}}, sort_keys=False)
    atomic_write_text(path, text)
    return path


def to_coco_dets(image_id: int, boxes_xyxy, scores, classes, names: list[str],
                 real_id_by_name: dict[str, int]) -> list[dict]:
    """Detector output on one real image -> COCO detections with the real set's category ids (by name)."""
    dets = []
    for (x0, y0, x1, y1), s, c in zip(boxes_xyxy, scores, classes):
        name = names[int(c)]
        if name not in real_id_by_name:
            continue
        dets.append({"image_id": int(image_id), "category_id": real_id_by_name[name],
                     "bbox": [round(float(x0), 3), round(float(y0), 3), round(float(x1 - x0), 3),
                              round(float(y1 - y0), 3)], "score": round(float(s), 5)})
    return dets


def export_dataset(source: str | os.PathLike, out_dir: str | os.PathLike, fmt: str = "yolo",
                   images_dir: str | os.PathLike | None = None, category: str | None = None,
                   link: bool = False) -> Path:
    """`synthgap export`: a dataset dir (or COCO json + images) -> OUT in Ultralytics' layout: images/,
    labels/, index.json and data.yaml (train = val = OUT/images; split it your way). Classes are the set's
    category names in id order (or the one `category`). OUT must be new, empty, or an earlier export."""
    from core.coco import load_coco
    if fmt != "yolo":
        raise UserError(f"--format: unknown format {fmt!r} (choose from yolo)")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "index.json").is_file())):
        raise UserError(f"{out}: exists and is not an earlier export (choose a new or empty --out)")
    src = Path(source)
    if src.is_dir() and not (src / "DONE").exists():
        raise UserError(f"{src}: dataset directory has no DONE marker (incomplete render)")
    cs = load_coco(src, images_dir)
    names = cs.class_names(category)
    import yaml
    data = yaml.safe_dump({"path": str(out.resolve()), "train": "images", "val": "images",
                           "names": dict(enumerate(names))}, sort_keys=False)
    return export_yolo(cs, out, names, link=link, extra={"data.yaml": data})
