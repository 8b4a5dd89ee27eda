"""COCO <-> Ultralytics YOLO layout, and class ids mapped by *name* between datasets.

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
from dataclasses import dataclass
from pathlib import Path

from synthgap.util import UserError, atomic_write_json, atomic_write_text, read_json


@dataclass
class CocoSet:
    """A COCO json plus the folder its `file_name`s are relative to."""
    json_path: Path
    images_dir: Path
    coco: dict

    def image_path(self, image: dict) -> Path:
        fn = image["file_name"]
        for cand in (self.images_dir / fn, self.images_dir / "images" / fn):
            if cand.exists():
                return cand
        raise UserError(f"{self.json_path}: image id {image['id']}: file {fn!r} not found under {self.images_dir}")


def load_coco_set(json_path: str | os.PathLike, images_dir: str | os.PathLike | None = None) -> CocoSet:
    """Read a COCO json (a dataset dir holding coco_annotations.json also works); images default to its folder."""
    p = Path(json_path)
    if p.is_dir():
        p = p / "coco_annotations.json"
    coco = read_json(p, "COCO annotations")
    if not isinstance(coco, dict):
        raise UserError(f"{p}: not a COCO mapping")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise UserError(f"{p}: field {key!r} missing or not a list")
    for c in coco["categories"]:
        if "id" not in c or "name" not in c:
            raise UserError(f"{p}: categories: every entry needs id and name (got {c})")
    ids = {im.get("id") for im in coco["images"]}
    for a in coco["annotations"]:
        if a.get("image_id") not in ids:
            raise UserError(f"{p}: annotation id {a.get('id')}: image_id {a.get('image_id')} not in images")
        b = a.get("bbox")
        if not (isinstance(b, list) and len(b) == 4):
            raise UserError(f"{p}: annotation id {a.get('id')} (image id {a.get('image_id')}): bbox must be [x,y,w,h]")
    return CocoSet(p, Path(images_dir) if images_dir else p.parent, coco)


def load_split(path: str | os.PathLike) -> dict[str, list[int]]:
    """split.json -> {"exposed": [...], "test": [...]} (align.coco.load_split when the align package has it)."""
    try:
        from align.coco import load_split as _ls  # type: ignore
    except ImportError:
        _ls = None
    if _ls is not None:
        s = _ls(path)
        return {"exposed": [int(i) for i in s.exposed], "test": [int(i) for i in s.test]}
    d = read_json(path, "split")
    for key in ("exposed", "test"):
        if not isinstance(d, dict) or not isinstance(d.get(key), list):
            raise UserError(f"{path}: field {key!r} missing or not a list of image ids")
    if set(d["exposed"]) & set(d["test"]):
        raise UserError(f"{path}: image ids in both exposed and test: {sorted(set(d['exposed']) & set(d['test']))[:5]}")
    return {"exposed": [int(i) for i in d["exposed"]], "test": [int(i) for i in d["test"]]}


def class_names(real: dict, category: str | None = None) -> list[str]:
    """The detector's classes: the real set's category names in id order (or just `category`)."""
    names = [c["name"] for c in sorted(real["categories"], key=lambda c: c["id"])]
    if category is not None:
        if category not in names:
            raise UserError(f"category {category!r} is not in the real set (has {names})")
        return [category]
    return names


def name_to_real_id(real: dict) -> dict[str, int]:
    return {c["name"]: int(c["id"]) for c in real["categories"]}


def subset(coco: dict, image_ids: list[int] | None, names: list[str]) -> dict:
    """The images in `image_ids` (all when None), their annotations of classes `names`, those categories."""
    keep_img = None if image_ids is None else set(int(i) for i in image_ids)
    cats = [c for c in coco["categories"] if c["name"] in names]
    cat_ids = {c["id"] for c in cats}
    images = [im for im in coco["images"] if keep_img is None or im["id"] in keep_img]
    if keep_img is not None:
        missing = keep_img - {im["id"] for im in images}
        if missing:
            raise UserError(f"image ids {sorted(missing)[:5]} are in the split but not in the COCO file")
    ids = {im["id"] for im in images}
    anns = [a for a in coco["annotations"] if a["image_id"] in ids and a["category_id"] in cat_ids]
    return {"images": images, "annotations": anns, "categories": cats}


def export_yolo(cs: CocoSet, out_dir: str | os.PathLike, names: list[str],
                image_ids: list[int] | None = None) -> Path:
    """Write the YOLO layout for `cs` (restricted to `image_ids`) with classes `names`. Idempotent: a dir
    with DONE and the same names and images is reused; anything else is rebuilt from scratch."""
    out = Path(out_dir)
    sub = subset(cs.coco, image_ids, names)
    cat_name = {c["id"]: c["name"] for c in cs.coco["categories"]}
    want = {f"{int(im['id']):08d}": int(im["id"]) for im in sub["images"]}
    if (out / "DONE").exists():
        idx = read_json(out / "index.json")
        if idx.get("names") == names and idx.get("images") == want:
            return out
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    by_img: dict[int, list[dict]] = {}
    for a in sub["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    cls_of = {n: i for i, n in enumerate(names)}
    for im in sub["images"]:
        src = cs.image_path(im).resolve()
        stem = f"{int(im['id']):08d}"
        os.symlink(src, tmp / "images" / f"{stem}{src.suffix.lower()}")
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
                                           "source": str(cs.json_path)})
    atomic_write_text(tmp / "DONE", "")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


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
