"""Dataset-level transforms the closed loop uses to make comparison variants from rendered sets."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

from core.io import atomic_write_json, read_json

COCO_NAME = "coco_annotations.json"
SIDECAR_NAME = "sidecar.json"


@dataclass
class FilterReport:
    images_in: int
    images_out: int
    annotations_in: int
    annotations_out: int
    dropped_images: int


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def filter_small_objects(src: str | os.PathLike, dst: str | os.PathLike, min_px: float = 50.0) -> FilterReport:
    """The thesis' *filtered* variant: no object smaller than `min_px` remains, in images or annotations.

    An object is small when the longer side of its bbox is under `min_px` pixels. Its annotation is removed,
    and so is every image that shows a small object (keeping the image would leave an unlabelled object in
    it, teaching the detector that it is background). Images are hard-linked (copied across devices); the
    sidecar is filtered the same way. `dst` gets a DONE marker last; an existing complete `dst` is kept.
    """
    src, dst = Path(src), Path(dst)
    if (dst / "DONE").exists():
        coco = read_json(dst / COCO_NAME, "COCO")
        n = len(coco["images"])
        return FilterReport(n, n, len(coco["annotations"]), len(coco["annotations"]), 0)
    if not (src / "DONE").exists():
        raise UserError(f"{src}: not a complete dataset dir (no DONE marker)")
    coco = read_json(src / COCO_NAME, "COCO")
    sidecar = read_json(src / SIDECAR_NAME, "sidecar") if (src / SIDECAR_NAME).exists() else None
    small_imgs = set()
    for a in coco["annotations"]:
        if "bbox" not in a or len(a["bbox"]) != 4:
            raise UserError(f"{src / COCO_NAME}: annotation {a.get('id')}: field 'bbox' missing or malformed")
        if max(a["bbox"][2], a["bbox"][3]) < min_px:
            small_imgs.add(a["image_id"])
    images = [im for im in coco["images"] if im["id"] not in small_imgs]
    keep_ids = {im["id"] for im in images}
    anns = [a for a in coco["annotations"] if a["image_id"] in keep_ids]
    if dst.exists():
        shutil.rmtree(dst)
    for im in images:
        if not (src / im["file_name"]).exists():
            raise UserError(f"{src / COCO_NAME}: image {im['id']}: file_name {im['file_name']!r} not found")
        _link_or_copy(src / im["file_name"], dst / im["file_name"])
    out = dict(coco, images=images, annotations=anns)
    info = dict(out.get("info") or {})
    info["derived_from"] = str(src)
    info["filter"] = {"rule": "drop images showing an object whose bbox longer side < min_px", "min_px": min_px}
    out["info"] = info
    atomic_write_json(dst / COCO_NAME, out, indent=None)
    if sidecar is not None:
        keep_ann = {str(a["id"]) for a in anns}
        atomic_write_json(dst / SIDECAR_NAME, {
            "images": {k: v for k, v in sidecar.get("images", {}).items() if int(k) in keep_ids},
            "annotations": {k: v for k, v in sidecar.get("annotations", {}).items() if k in keep_ann},
        }, indent=None)
    for extra in ("LICENSES.txt",):
        if (src / extra).exists():
            shutil.copy2(src / extra, dst / extra)
    (dst / "DONE").write_text("filtered\n")
    return FilterReport(len(coco["images"]), len(images), len(coco["annotations"]), len(anns),
                        len(coco["images"]) - len(images))
