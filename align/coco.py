"""COCO loading and validation for align (docs/design.md §2-§3).

`load_coco()` returns a validated `CocoSet`; every problem is one line naming the file, the image id, the
annotation id where there is one, and the field: "FILE: image id 7: annotation id 12: field 'bbox': ...".
With `skip_invalid=True` a bad image (unreadable size, missing file, duplicate id) is dropped with its
annotations and a bad annotation is dropped alone; the messages are kept in `CocoSet.skipped` (and logged).

Boxes: `[x, y, w, h]` in pixels; `w, h > 0`; the box must lie inside the image up to `BOX_TOLERANCE_PX`
(1 px, for rounding in exported labels); a box within the tolerance is clipped to the image.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthgap.util import UserError, read_json

log = logging.getLogger("align")

BOX_TOLERANCE_PX = 1.0


@dataclass
class CocoSet:
    json_path: Path
    images_dir: Path
    images: list[dict]                      # kept images (after image_ids filter and validation), file order
    annotations: list[dict]                 # kept annotations of kept images (after the category filter)
    categories: dict[int, str]              # id -> name (all categories of the file)
    info: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    category: str | None = None             # the category filter's name, None = all

    def image_path(self, image: dict) -> Path:
        return Path(image["_path"])

    def annotations_by_image(self) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {int(im["id"]): [] for im in self.images}
        for a in self.annotations:
            out[int(a["image_id"])].append(a)
        return out


@dataclass
class Split:
    exposed: list[int]
    test: list[int]


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def resolve_image(images_dir: Path, file_name: str) -> Path | None:
    """`images_dir/file_name`, else `images_dir/images/file_name` (a dataset dir given as the image folder)."""
    for cand in (images_dir / file_name, images_dir / "images" / file_name):
        if cand.is_file():
            return cand
    return None


def resolve_category(categories: dict[int, str], category: str | int | None, where: str) -> int | None:
    """A category name or id -> id; None -> None (all). Unknown -> UserError listing the names."""
    if category is None or category == "":
        return None
    if isinstance(category, int) or (isinstance(category, str) and category.isdigit()):
        cid = int(category)
        if cid in categories:
            return cid
    ids = [i for i, n in categories.items() if n == category]
    if ids:
        return ids[0]
    names = ", ".join(f"{n} (id {i})" for i, n in sorted(categories.items()))
    raise UserError(f"{where}: category {category!r} not in the file (categories: {names or 'none'})")


def load_coco(json_path: str | os.PathLike, images_dir: str | os.PathLike | None = None, category: str | int | None = None,
              image_ids: list[int] | None = None, skip_invalid: bool = False, check_files: bool = True) -> CocoSet:
    """Read and validate a COCO json; keep `image_ids` (all when None) and annotations of `category`.

    Checks: json readable; `images`, `annotations`, `categories` are lists; ids are unique integers;
    image width/height positive; image file present under images_dir (`check_files`); annotation image_id and
    category_id known; bbox four finite numbers, w and h > 0, inside the image (±1 px, then clipped);
    `image_ids` all present in the file. Raises UserError (skip_invalid: drops and records instead; unknown
    ids in `image_ids` and structural problems are always errors)."""
    json_path = Path(json_path)
    images_dir = Path(images_dir) if images_dir is not None else json_path.parent
    d = read_json(json_path, "COCO json")
    src = str(json_path)
    if not isinstance(d, dict):
        raise UserError(f"{src}: not a COCO json (top level must be an object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(d.get(key), list):
            raise UserError(f"{src}: field {key!r}: missing or not a list")
    skipped: list[str] = []

    def bad(msg: str) -> None:
        if not skip_invalid:
            raise UserError(f"{src}: {msg}")
        skipped.append(msg)
        log.warning("skipped: %s: %s", src, msg)

    categories: dict[int, str] = {}
    for i, c in enumerate(d["categories"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or isinstance(c.get("id"), bool):
            raise UserError(f"{src}: categories[{i}]: field 'id': must be an integer")
        if c["id"] in categories:
            raise UserError(f"{src}: categories[{i}]: field 'id': duplicate category id {c['id']}")
        categories[c["id"]] = str(c.get("name", c["id"]))
    cat_id = resolve_category(categories, category, src)

    want = None
    if image_ids is not None:
        want = {int(i) for i in image_ids}
    images: dict[int, dict] = {}
    dropped_images: set[int] = set()
    seen_ids: set[int] = set()
    for i, im in enumerate(d["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or isinstance(im.get("id"), bool):
            raise UserError(f"{src}: images[{i}]: field 'id': must be an integer")
        iid = im["id"]
        if iid in seen_ids:
            bad(f"image id {iid}: field 'id': duplicate image id (images[{i}])")
            images.pop(iid, None)
            dropped_images.add(iid)
            continue
        seen_ids.add(iid)
        if want is not None and iid not in want:
            continue
        w, h = im.get("width"), im.get("height")
        if not (_finite_number(w) and _finite_number(h) and w > 0 and h > 0):
            bad(f"image id {iid}: field 'width'/'height': must be positive numbers, got {w!r} x {h!r}")
            dropped_images.add(iid)
            continue
        fn = im.get("file_name")
        if not isinstance(fn, str) or not fn:
            bad(f"image id {iid}: field 'file_name': missing")
            dropped_images.add(iid)
            continue
        path = resolve_image(images_dir, fn) if check_files else images_dir / fn
        if path is None:
            bad(f"image id {iid}: field 'file_name': file {fn!r} not found under {images_dir}")
            dropped_images.add(iid)
            continue
        images[iid] = {**im, "_path": str(path)}
    if want is not None:
        missing = sorted(want - seen_ids)
        if missing:
            raise UserError(f"{src}: image ids {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                            f"requested (split / --image-ids) but not in the file")

    anns: list[dict] = []
    seen_ann: set[int] = set()
    for i, a in enumerate(d["annotations"]):
        if not isinstance(a, dict) or not isinstance(a.get("id"), int) or isinstance(a.get("id"), bool):
            raise UserError(f"{src}: annotations[{i}]: field 'id': must be an integer")
        aid = a["id"]
        iid = a.get("image_id")
        where = f"image id {iid}: annotation id {aid}"
        if aid in seen_ann:
            bad(f"{where}: field 'id': duplicate annotation id (annotations[{i}])")
            continue
        seen_ann.add(aid)
        if iid not in seen_ids:
            bad(f"{where}: field 'image_id': no image with id {iid!r}")
            continue
        if iid not in images:   # filtered out by image_ids, or its image was dropped
            continue
        if a.get("category_id") not in categories:
            bad(f"{where}: field 'category_id': unknown category id {a.get('category_id')!r} "
                f"(known: {sorted(categories)})")
            continue
        if cat_id is not None and a["category_id"] != cat_id:
            continue
        bb = a.get("bbox")
        if not (isinstance(bb, (list, tuple)) and len(bb) == 4 and all(_finite_number(v) for v in bb)):
            bad(f"{where}: field 'bbox': must be [x, y, w, h] of finite numbers, got {bb!r}")
            continue
        x, y, w, h = (float(v) for v in bb)
        if w <= 0 or h <= 0:
            bad(f"{where}: field 'bbox': zero or negative area (w={w:g}, h={h:g})")
            continue
        im = images[iid]
        W, H = float(im["width"]), float(im["height"])
        t = BOX_TOLERANCE_PX
        if x < -t or y < -t or x + w > W + t or y + h > H + t:
            bad(f"{where}: field 'bbox': box {[x, y, w, h]} extends outside the {W:g}x{H:g} image")
            continue
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, W), min(y + h, H)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            bad(f"{where}: field 'bbox': box {[x, y, w, h]} has no area inside the {W:g}x{H:g} image")
            continue
        clipped = [x, y, w, h] if (x0, y0, x1, y1) == (x, y, x + w, y + h) else [x0, y0, x1 - x0, y1 - y0]
        anns.append({**a, "bbox": clipped})

    return CocoSet(json_path=json_path, images_dir=images_dir, images=list(images.values()), annotations=anns,
                   categories=categories, info=d.get("info") if isinstance(d.get("info"), dict) else {},
                   skipped=skipped, category=None if cat_id is None else categories[cat_id])


def load_split(path: str | os.PathLike, coco: "CocoSet | str | os.PathLike | None" = None) -> Split:
    """Read split.json = {"exposed": [ids], "test": [ids]} (docs/design.md §3).

    Errors (one line, naming the file and key): missing key, not a list of integers, duplicate ids, an id in
    both lists, and - when `coco` (a CocoSet or a COCO json path) is given - ids not in that COCO."""
    path = Path(path)
    d = read_json(path, "split")
    if not isinstance(d, dict):
        raise UserError(f"{path}: split must be an object with keys 'exposed' and 'test'")
    out = {}
    for key in ("exposed", "test"):
        if key not in d:
            raise UserError(f"{path}: key {key!r}: missing (a split is {{\"exposed\": [ids], \"test\": [ids]}})")
        v = d[key]
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise UserError(f"{path}: key {key!r}: must be a list of integer image ids")
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise UserError(f"{path}: key {key!r}: duplicate image ids {dup[:10]}")
        out[key] = [int(x) for x in v]
    both = sorted(set(out["exposed"]) & set(out["test"]))
    if both:
        raise UserError(f"{path}: image ids {both[:10]} are in both 'exposed' and 'test'")
    if coco is not None:
        if isinstance(coco, CocoSet):
            known, cpath = {int(im["id"]) for im in coco.images}, coco.json_path
        else:
            cd = read_json(coco, "COCO json")
            known, cpath = {im.get("id") for im in cd.get("images", []) if isinstance(im, dict)}, coco
        for key in ("exposed", "test"):
            missing = sorted(set(out[key]) - known)
            if missing:
                raise UserError(f"{path}: key {key!r}: image ids {missing[:10]} not in {cpath}")
    return Split(exposed=out["exposed"], test=out["test"])
