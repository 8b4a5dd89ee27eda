"""COCO box scoring: faster-coco-eval (what runs use) and pycocotools (the cross-check in tests).

`gt` is a COCO dict (images, annotations, categories) already restricted to the images and categories
being scored; `dets` a list of COCO detections `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`.
Both scorers return the same keys: map (mAP@[.5:.95]), ap50, ap75, ap_s, ap_m, ap_l (None where the set has
no ground truth of that size, which COCO reports as -1).
"""
from __future__ import annotations

import contextlib
import copy
import io

from core.errors import UserError

METRIC_KEYS = ("map", "ap50", "ap75", "ap_s", "ap_m", "ap_l")

MAX_DETS = 100   # COCO's maxDets for mAP


def _stats_to_dict(stats) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, v in zip(METRIC_KEYS, list(stats)[:6]):
        v = float(v)
        out[key] = None if v < 0 else v
    return out


def _clean_gt(gt: dict) -> dict:
    """A copy with the fields COCO scorers need (area, iscrowd, id) filled in."""
    gt = copy.deepcopy(gt)
    gt.setdefault("info", {})
    gt.setdefault("licenses", [])
    for i, a in enumerate(gt.get("annotations", []), 1):
        a.setdefault("id", i)
        a.setdefault("iscrowd", 0)
        if "area" not in a:
            a["area"] = float(a["bbox"][2]) * float(a["bbox"][3])
    return gt


def _empty(gt: dict) -> dict[str, float | None]:
    """No detections at all: every AP with ground truth behind it is 0 (COCO's loaders refuse an empty list)."""
    if not gt.get("annotations"):
        raise UserError("nothing to score: the ground truth has no annotations")
    return {k: 0.0 for k in METRIC_KEYS}


def _check_dets(dets: list[dict], gt: dict) -> list[dict]:
    img_ids = {im["id"] for im in gt["images"]}
    cat_ids = {c["id"] for c in gt["categories"]}
    out = []
    for d in dets:
        if d["image_id"] not in img_ids:
            raise UserError(f"detection on image id {d['image_id']} which is not in the scored set")
        if d["category_id"] not in cat_ids:
            raise UserError(f"detection with category id {d['category_id']} which is not a scored category")
        out.append({"image_id": int(d["image_id"]), "category_id": int(d["category_id"]),
                    "bbox": [float(v) for v in d["bbox"]], "score": float(d["score"])})
    return out


def top_per_image(dets: list[dict], k: int = MAX_DETS) -> list[dict]:
    """The k best-scored detections of each (image, category): all that COCO's mAP (maxDets k) ever reads,
    so scores are unchanged; rescoring many bootstrap draws gets cheaper."""
    groups: dict[tuple, list[dict]] = {}
    for d in dets:
        groups.setdefault((d["image_id"], d["category_id"]), []).append(d)
    return [d for g in groups.values() for d in sorted(g, key=lambda d: -d["score"])[:k]]


def score_faster(gt: dict, dets: list[dict]) -> dict[str, float | None]:
    """mAP and friends with faster-coco-eval."""
    from faster_coco_eval import COCO, COCOeval_faster
    gt = _clean_gt(gt)
    dets = _check_dets(dets, gt)
    if not dets:
        return _empty(gt)
    coco_gt = COCO(gt)
    coco_dt = coco_gt.loadRes(dets)     # _check_dets made fresh dicts: loadRes may add its keys to them
    ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return _stats_to_dict(ev.stats)


def score_pycocotools(gt: dict, dets: list[dict]) -> dict[str, float | None]:
    """The same metrics with the reference implementation (slower; used as a cross-check)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = _clean_gt(gt)
    dets = _check_dets(dets, gt)
    if not dets:
        return _empty(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return _stats_to_dict(ev.stats)

