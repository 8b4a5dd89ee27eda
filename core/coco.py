"""The one COCO + split layer (docs/design.md §2-§3), used by align and benchmark alike.

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

from core.errors import UserError
from core.io import read_json

log = logging.getLogger("synthgap.coco")

BOX_TOLERANCE_PX = 1.0
COCO_NAME = "coco_annotations.json"


@dataclass
class CocoSet:
    json_path: Path
    images_dir: Path
    images: list[dict]                      # kept images (after image_ids filter and validation), file order
    annotations: list[dict]                 # kept annotations of kept images (after the category filter)
    categories: dict[int, str]              # id -> name (all categories of the file)
    info: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    category: str | None = None             # the category filter's name(s), comma-joined in id order; None = all

    def image_path(self, image: dict) -> Path:
        return Path(image["_path"])

    def annotations_by_image(self) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {int(im["id"]): [] for im in self.images}
        for a in self.annotations:
            out[int(a["image_id"])].append(a)
        return out

    @property
    def coco(self) -> dict:
        """The kept images, annotations and every category as a COCO dict (what scorers and exporters read)."""
        return {"images": self.images, "annotations": self.annotations, "info": self.info,
                "categories": [{"id": i, "name": n} for i, n in sorted(self.categories.items())]}

    def class_names(self, category: str | int | None = None) -> list[str]:
        """A detector's classes: the category names in id order, or those `category` names (see
        resolve_categories: one name or id, several comma-joined, or `all`)."""
        ids = resolve_categories(self.categories, category, str(self.json_path))
        return [n for i, n in sorted(self.categories.items()) if ids is None or i in ids]

    def name_to_id(self) -> dict[str, int]:
        return {n: i for i, n in self.categories.items()}

    def subset(self, image_ids: list[int] | None, names: list[str]) -> dict:
        """COCO dict of the images in `image_ids` (all when None), their annotations of classes `names`."""
        return subset(self.coco, image_ids, names)


@dataclass
class Split:
    exposed: list[int]
    test: list[int]


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_id(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def resolve_image(images_dir: Path, file_name: str) -> Path | None:
    """`images_dir/file_name`, else `images_dir/images/file_name` (a dataset dir given as the image folder)."""
    for cand in (images_dir / file_name, images_dir / "images" / file_name):
        if cand.is_file():
            return cand
    return None


def resolve_category(categories: dict[int, str], category: str | int | None, where: str) -> int | None:
    """The one category rule: a name -> its id; an id (int or digits) -> itself when no category is *named*
    so; None/"" -> None (all). Unknown -> UserError listing the names."""
    if category is None or category == "":
        return None
    ids = [i for i, n in categories.items() if n == str(category)]
    if ids:
        return ids[0]
    if isinstance(category, int) or (isinstance(category, str) and category.isdigit()):
        if int(category) in categories:
            return int(category)
    names = ", ".join(f"{n} (id {i})" for i, n in sorted(categories.items()))
    raise UserError(f"{where}: category {category!r} not in the file (categories: {names or 'none'})")


def resolve_categories(categories: dict[int, str], category: str | int | None, where: str) -> list[int] | None:
    """Several classes: `a,b` (names or ids, each by resolve_category) -> their ids in id order; `all` (when no
    category is named so), None or "" -> None (all). A single name -> [its id]."""
    if category is None or category == "" or category == "all" and "all" not in categories.values():
        return None
    parts = [p.strip() for p in str(category).split(",")] if isinstance(category, str) else [category]
    if any(p == "" for p in parts):
        raise UserError(f"{where}: category {category!r}: an empty name in the list")
    return sorted({resolve_category(categories, p, where) for p in parts})


def category_label(categories: dict[int, str], ids: list[int] | None) -> str | None:
    """The filter's name as CocoSet.category keeps it: the names comma-joined in id order (None = all)."""
    return None if ids is None else ",".join(categories[i] for i in sorted(ids))


def _categories(d: dict, src: str) -> dict[int, str]:
    categories: dict[int, str] = {}
    for i, c in enumerate(d["categories"]):
        if not isinstance(c, dict) or not _int_id(c.get("id")):
            raise UserError(f"{src}: categories[{i}]: field 'id': must be an integer")
        if c["id"] in categories:
            raise UserError(f"{src}: categories[{i}]: field 'id': duplicate category id {c['id']}")
        name = str(c.get("name", c["id"]))
        if name in categories.values():
            raise UserError(f"{src}: categories[{i}]: field 'name': duplicate category name {name!r}")
        categories[c["id"]] = name
    return categories


class _Checker:
    """Collects or raises the per-item problems of one file (skip_invalid)."""

    def __init__(self, src: str, skip_invalid: bool):
        self.src, self.skip, self.skipped = src, skip_invalid, []

    def bad(self, msg: str) -> None:
        if not self.skip:
            raise UserError(f"{self.src}: {msg}")
        self.skipped.append(msg)
        log.warning("skipped: %s: %s", self.src, msg)


def image_file_ok(path: Path, width: int, height: int) -> bool:
    """The file exists, its header reads, and its pixel size is width x height (only the header is read)."""
    return image_size(path) == (width, height)


def damaged_image(dataset_dir: str | os.PathLike) -> str | None:
    """The first image of a finished dataset dir (DIR/coco_annotations.json, file names relative to DIR) that is
    missing, unreadable or not the size its record says; None when every image is sound."""
    d = Path(dataset_dir)
    for im in read_json(d / "coco_annotations.json", "COCO").get("images", []):
        if not image_file_ok(d / im["file_name"], im["width"], im["height"]):
            return im["file_name"]
    return None


def _place_image(src_file: Path, dst_file: Path, paint, dropped: list[dict] | None) -> None:
    """dst_file from src_file: painted (`paint(src, dst, dropped annotations)`) when it lost an annotation and a
    painter is given, else hard-linked (copied across devices)."""
    import shutil
    dst_file.parent.mkdir(parents=True, exist_ok=True)
    if paint is not None and dropped:
        paint(src_file, dst_file, dropped)
        return
    try:
        os.link(src_file, dst_file)
    except OSError:
        shutil.copy2(src_file, dst_file)


def write_subset_dir(src: str | os.PathLike, dst: str | os.PathLike, keep_ids: set[int], info: dict,
                     drop_ann_ids: set[int] | frozenset = frozenset(), paint=None,
                     images_dir: str | os.PathLike | None = None) -> list[dict]:
    """DST as the finished dataset dir SRC cut to the images `keep_ids` (their annotations, their sidecar
    records, LICENSES.txt), images hard-linked (copied across devices), `info` merged into the COCO info with
    `derived_from`; DONE written last. Annotations in `drop_ann_ids` are left out too; an image that held one is
    written by `paint(src_file, dst_file, [its dropped annotations])` when given (say, to black them out)
    instead of linked. SRC may also be any COCO json with its images in `images_dir` (default: the json's
    folder); its images are then named images/<id>.<ext> in DST. -> the kept annotations."""
    import shutil

    from core.io import atomic_write_json, atomic_write_text
    src, dst = Path(src), Path(dst)
    foreign = src.is_file()
    coco = read_json(src if foreign else src / COCO_NAME, "COCO")
    root = Path(images_dir) if images_dir else (src.parent if foreign else src)
    sidecar = None if foreign or not (src / "sidecar.json").exists() else read_json(src / "sidecar.json", "sidecar")
    images = [dict(im) for im in coco["images"] if im["id"] in keep_ids]
    anns = [a for a in coco["annotations"] if a["image_id"] in keep_ids and a["id"] not in drop_ann_ids]
    dropped: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        if a["id"] in drop_ann_ids and a["image_id"] in keep_ids:
            dropped.setdefault(a["image_id"], []).append(a)
    if dst.exists():
        shutil.rmtree(dst)
    for im in images:
        f = resolve_image(root, im["file_name"]) if foreign else src / im["file_name"]
        if f is None or not f.exists():
            raise UserError(f"{src if foreign else src / COCO_NAME}: image {im['id']}: file_name "
                            f"{im['file_name']!r} not found")
        if foreign:
            im["file_name"] = f"images/{int(im['id']):06d}{f.suffix.lower()}"
        _place_image(f, dst / im["file_name"], paint, dropped.get(im["id"]))
    atomic_write_json(dst / COCO_NAME, dict(coco, images=images, annotations=anns,
                                            info={**(coco.get("info") or {}), "derived_from": str(src), **info}),
                      indent=None)
    if sidecar is not None:
        keep_ann = {str(a["id"]) for a in anns}
        atomic_write_json(dst / "sidecar.json", {
            "images": {k: v for k, v in sidecar.get("images", {}).items() if int(k) in keep_ids},
            "annotations": {k: v for k, v in sidecar.get("annotations", {}).items() if k in keep_ann}}, indent=None)
    if not foreign and (src / "LICENSES.txt").exists():
        shutil.copy2(src / "LICENSES.txt", dst / "LICENSES.txt")
    atomic_write_text(dst / "DONE", "derived\n")
    return anns


def merge_dirs(srcs: list, dst: str | os.PathLike, n: int, info: dict) -> int:
    """DST = the first `n` images of the finished dataset dirs SRCS in turn (say a probe and its grown rounds),
    renumbered (image and annotation ids from 1, files images/<id>.<ext>, hard-linked), sidecars remapped, the
    first dir's categories and info (with `derived_from` and `info` merged); DONE last. -> images written."""
    import shutil

    from core.io import atomic_write_json, atomic_write_text
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    images, anns, side, first = [], [], {"images": {}, "annotations": {}}, None
    for src in map(Path, srcs):
        coco = read_json(src / COCO_NAME, "COCO")
        first = first or coco
        sc = read_json(src / "sidecar.json", "sidecar") if (src / "sidecar.json").exists() else {}
        by_img: dict[int, list[dict]] = {}
        for a in coco["annotations"]:
            by_img.setdefault(a["image_id"], []).append(a)
        for im in coco["images"]:
            if len(images) >= n:
                break
            new_id = len(images) + 1
            f = src / im["file_name"]
            images.append(dict(im, id=new_id, file_name=f"images/{new_id:06d}{f.suffix.lower()}"))
            _place_image(f, dst / images[-1]["file_name"], None, None)
            if str(im["id"]) in sc.get("images", {}):
                side["images"][str(new_id)] = sc["images"][str(im["id"])]
            for a in by_img.get(im["id"], []):
                anns.append(dict(a, id=len(anns) + 1, image_id=new_id))
                if str(a["id"]) in sc.get("annotations", {}):
                    side["annotations"][str(len(anns))] = sc["annotations"][str(a["id"])]
    atomic_write_json(dst / COCO_NAME, dict(first, images=images, annotations=anns, info={
        **(first.get("info") or {}), "derived_from": [str(s) for s in srcs], **info}), indent=None)
    atomic_write_json(dst / "sidecar.json", side, indent=None)
    atomic_write_text(dst / "DONE", "derived\n")
    return len(images)


def _escapes(images_dir: Path, fn: str, path: Path | None) -> str | None:
    """Why `fn` may not be read from `images_dir` (absolute, `..`, or resolving outside it), else None."""
    if Path(fn).is_absolute() or ".." in Path(fn).parts:
        return f"file name {fn!r} is absolute or climbs out with '..'; names are relative to the images folder"
    if path is not None:
        root = Path(os.path.realpath(images_dir))
        real = Path(os.path.realpath(path))
        if root not in real.parents:
            return f"file {fn!r} resolves to {real}, outside the images folder {images_dir} (a symlink?)"
    return None


def image_size(path: Path) -> tuple[int, int] | None:
    """The pixel size in the file's header, or None when the header does not read. Any exception counts as
    unreadable: once Ultralytics is imported it wraps PIL's open and raises ImportError (pi_heif) for a file
    PIL cannot identify."""
    from PIL import Image
    try:
        with Image.open(path) as f:
            return f.size
    except Exception:               # noqa: BLE001  (see the docstring)
        return None


def _image_problem(im: dict, images_dir: Path, check_files: bool) -> tuple[str | None, Path | None]:
    iid = im["id"]
    w, h = im.get("width"), im.get("height")
    if not (_finite_number(w) and _finite_number(h) and w > 0 and h > 0):
        return f"image id {iid}: field 'width'/'height': must be positive numbers, got {w!r} x {h!r}", None
    fn = im.get("file_name")
    if not isinstance(fn, str) or not fn:
        return f"image id {iid}: field 'file_name': missing", None
    path = resolve_image(images_dir, fn) if check_files else images_dir / fn
    escape = _escapes(images_dir, fn, path if check_files else None)
    if escape:
        return f"image id {iid}: field 'file_name': {escape}", None
    if path is None:
        return f"image id {iid}: field 'file_name': file {fn!r} not found under {images_dir}", None
    if check_files:
        size = image_size(path)
        if size is None:
            return f"image id {iid}: field 'file_name': {fn!r} is not a readable image", None
        if size != (w, h):
            return (f"image id {iid}: field 'width'/'height': the file {fn!r} is {size[0]}x{size[1]} px, the "
                    f"record says {w:g}x{h:g} (boxes would be scaled wrong; fix the record)"), None
    return None, path


def check_decodes(cs: CocoSet, image_ids: list[int] | None = None) -> None:
    """Every image of `cs` (only `image_ids` when given) decodes to its last pixel: a truncated or damaged
    photo is one UserError naming it, before any work (headers alone read fine). JPEGs decode at 1/8 scale."""
    from PIL import Image
    want = None if image_ids is None else set(image_ids)
    for im in cs.images:
        if want is not None and int(im["id"]) not in want:
            continue
        try:
            with Image.open(cs.image_path(im)) as f:
                f.draft("RGB", (max(1, f.width // 8), max(1, f.height // 8)))
                f.load()
        except Exception as e:      # noqa: BLE001  (image_size: Ultralytics' wrapped open raises ImportError)
            raise UserError(f"{cs.json_path}: image id {im['id']}: field 'file_name': {im['file_name']!r} does "
                            f"not decode ({e}); fix or replace the photo") from None


def _images(d: dict, images_dir: Path, want: set[int] | None, check: _Checker,
            check_files: bool) -> tuple[dict[int, dict], set[int]]:
    images: dict[int, dict] = {}
    seen: set[int] = set()
    for i, im in enumerate(d["images"]):
        if not isinstance(im, dict) or not _int_id(im.get("id")):
            raise UserError(f"{check.src}: images[{i}]: field 'id': must be an integer")
        iid = im["id"]
        if iid in seen:
            check.bad(f"image id {iid}: field 'id': duplicate image id (images[{i}])")
            images.pop(iid, None)
            continue
        seen.add(iid)
        if want is not None and iid not in want:
            continue
        problem, path = _image_problem(im, images_dir, check_files)
        if problem:
            check.bad(problem)
            continue
        images[iid] = {**im, "_path": str(path)}
    if want is not None and want - seen:
        missing = sorted(want - seen)
        raise UserError(f"{check.src}: image ids {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                        f"requested (split / --image-ids) but not in the file")
    return images, seen


def _box_problem(bb: Any, im: dict) -> tuple[str | None, list[float] | None]:
    """None + the (clipped) box, or why the box is bad."""
    if not (isinstance(bb, (list, tuple)) and len(bb) == 4 and all(_finite_number(v) for v in bb)):
        return f"field 'bbox': must be [x, y, w, h] of finite numbers, got {bb!r}", None
    x, y, w, h = (float(v) for v in bb)
    if w <= 0 or h <= 0:
        return f"field 'bbox': zero or negative area (w={w:g}, h={h:g})", None
    W, H, t = float(im["width"]), float(im["height"]), BOX_TOLERANCE_PX
    if x < -t or y < -t or x + w > W + t or y + h > H + t:
        return f"field 'bbox': box {[x, y, w, h]} extends outside the {W:g}x{H:g} image", None
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, W), min(y + h, H)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return f"field 'bbox': box {[x, y, w, h]} has no area inside the {W:g}x{H:g} image", None
    return None, ([x, y, w, h] if (x0, y0, x1, y1) == (x, y, x + w, y + h) else [x0, y0, x1 - x0, y1 - y0])


def _annotations(d: dict, images: dict[int, dict], seen_images: set[int], categories: dict[int, str],
                 cat_ids: list[int] | None, check: _Checker) -> list[dict]:
    anns: list[dict] = []
    seen: set[int] = set()
    for i, a in enumerate(d["annotations"]):
        if not isinstance(a, dict) or not _int_id(a.get("id")):
            raise UserError(f"{check.src}: annotations[{i}]: field 'id': must be an integer")
        aid, iid = a["id"], a.get("image_id")
        where = f"image id {iid}: annotation id {aid}"
        if aid in seen:
            check.bad(f"{where}: field 'id': duplicate annotation id (annotations[{i}])")
            continue
        seen.add(aid)
        if iid not in seen_images:
            check.bad(f"{where}: field 'image_id': no image with id {iid!r}")
            continue
        if iid not in images:   # filtered out by image_ids, or its image was dropped
            continue
        if a.get("category_id") not in categories:
            check.bad(f"{where}: field 'category_id': unknown category id {a.get('category_id')!r} "
                      f"(known: {sorted(categories)})")
            continue
        if cat_ids is not None and a["category_id"] not in cat_ids:
            continue
        problem, box = _box_problem(a.get("bbox"), images[iid])
        if problem:
            check.bad(f"{where}: {problem}")
            continue
        anns.append({**a, "bbox": box})
    return anns


def _read_coco_json(json_path: Path) -> dict:
    d = read_json(json_path, "COCO json")
    if not isinstance(d, dict):
        raise UserError(f"{json_path}: not a COCO json (top level must be an object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(d.get(key), list):
            raise UserError(f"{json_path}: field {key!r}: missing or not a list")
    return d


def load_coco(json_path: str | os.PathLike, images_dir: str | os.PathLike | None = None,
              category: str | int | None = None, image_ids: list[int] | None = None, skip_invalid: bool = False,
              check_files: bool = True) -> CocoSet:
    """Read and validate a COCO json (or a dataset dir holding coco_annotations.json); keep `image_ids` (all
    when None) and the annotations of `category` (a name or id, several comma-joined, or all when None or
    `all`: resolve_categories).

    Checks: json readable; `images`, `annotations`, `categories` are lists; ids are unique integers; category
    names unique; image width/height positive; image file present under images_dir (`check_files`);
    annotation image_id and category_id known; bbox four finite numbers, w and h > 0, inside the image (±1 px,
    then clipped); `image_ids` all present in the file. Raises UserError (skip_invalid: drops and records
    instead; unknown ids in `image_ids` and structural problems are always errors)."""
    json_path = Path(json_path)
    if json_path.is_dir():
        json_path = json_path / COCO_NAME
    images_dir = Path(images_dir) if images_dir is not None else json_path.parent
    d = _read_coco_json(json_path)
    check = _Checker(str(json_path), skip_invalid)
    categories = _categories(d, check.src)
    cat_ids = resolve_categories(categories, category, check.src)
    want = None if image_ids is None else {int(i) for i in image_ids}
    images, seen = _images(d, images_dir, want, check, check_files)
    anns = _annotations(d, images, seen, categories, cat_ids, check)
    return CocoSet(json_path=json_path, images_dir=images_dir, images=list(images.values()), annotations=anns,
                   categories=categories, info=d.get("info") if isinstance(d.get("info"), dict) else {},
                   skipped=check.skipped, category=category_label(categories, cat_ids))


def subset(coco: dict, image_ids: list[int] | None, names: list[str]) -> dict:
    """The images in `image_ids` (all when None), their annotations of classes `names`, those categories."""
    keep = None if image_ids is None else {int(i) for i in image_ids}
    cats = [c for c in coco["categories"] if c["name"] in names]
    cat_ids = {c["id"] for c in cats}
    images = [im for im in coco["images"] if keep is None or im["id"] in keep]
    if keep is not None and keep - {im["id"] for im in images}:
        raise UserError(f"image ids {sorted(keep - {im['id'] for im in images})[:5]} are in the split but not "
                        "in the COCO file")
    ids = {im["id"] for im in images}
    anns = [a for a in coco["annotations"] if a["image_id"] in ids and a["category_id"] in cat_ids]
    return {"images": images, "annotations": anns, "categories": cats}


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
            cd = _read_coco_json(Path(coco))
            known, cpath = {im.get("id") for im in cd.get("images", []) if isinstance(im, dict)}, coco
        for key in ("exposed", "test"):
            missing = sorted(set(out[key]) - known)
            if missing:
                raise UserError(f"{path}: key {key!r}: image ids {missing[:10]} not in {cpath}")
    return Split(exposed=out["exposed"], test=out["test"])
