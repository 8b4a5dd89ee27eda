"""Where a trained detector fails on the real *exposed* photos: the input of a top-down round (issue 25; the
thesis' §4.4.2: train on X0, find the real samples the detector does poorly on, generate more like them).

    predict_cell(spec, record, image_ids) -> detections: a finished benchmark cell's detector read back from its
        results record (weights on disk) and run on real images; a round passes the exposed ids only
    box_scores(gt, dets, iou_min=0.5) -> {ann_id: score}: per real box, the highest score of a detection of its
        class overlapping it by IoU >= iou_min; 0.0 when none does (missed)
    failing(scores, score_min=0.5, least=5) -> ann ids: the missed boxes and those found with a score under
        score_min; never fewer than `least` (then the lowest-scoring), so a strong detector still leaves a table
        to fit; every box when there are no more than `least`
    compare_groups(fail, found, B) -> {metadata: {db, ci, p, mean_fail, mean_found, n_fail, n_found}}: D_B of the
        failing boxes' values to the found ones' with a bootstrap interval (both groups resampled), the size of
        the difference; and the two-sample Kolmogorov-Smirnov test's p-value (scipy; exact for small groups),
        whether there is one: a histogram distance of a few boxes has little power as a test

The cell used is trained on synthetic images with its epoch chosen on the exposed photos; the photos are not its
training data, so its failures on them need no cross-validation. The test photos are never read here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.samplewise import iou

SCORE_MIN = 0.5
IOU_MIN = 0.5
LEAST = 5


def predict_cell(spec, record: dict, image_ids: list[int]) -> list[dict]:
    """Detections of the results record's cell on the real images `image_ids` (its weights reloaded)."""
    from core.coco import load_coco, load_split

    from benchmark.detectors import Trained
    from benchmark.cells import cell_context, make_detector
    real = load_coco(spec.real_json, spec.images_dir)
    split = load_split(spec.split, real)
    ctx = cell_context(spec, real, split, real.class_names(spec.category))
    det = make_detector(spec, record["detector"])
    trained = Trained(init=record.get("init", ""), model=record.get("model", ""),
                      weights=str(cell_weights(spec, record["weights"])), train_s=0.0,
                      best_epoch=int(record.get("best_epoch", 0)), epochs_run=0, n_train_images=0, epoch_s=[],
                      val=record.get("val", {}))
    if not Path(trained.weights).exists():
        from core.errors import UserError
        raise UserError(f"{trained.weights}: results record 'weights': the cell's weights are gone (a round "
                        "needs them: train the cell again by deleting its results file)")
    return det.predict(trained, ctx, list(image_ids))


def cell_weights(spec, weights: str) -> Path:
    """A results record's weights path: as recorded, else the same cells/... path under the benchmark dir (a
    record written by a run started from another working directory, or a moved run folder)."""
    w = Path(weights)
    if w.exists() or "cells" not in w.parts:
        return w
    parts = w.parts
    return Path(spec.out).joinpath(*parts[len(parts) - 1 - parts[::-1].index("cells"):])


def box_scores(gt: dict, dets: list[dict], iou_min: float = IOU_MIN) -> dict[int, float]:
    """{ann_id: best score of a same-class detection with IoU >= iou_min (0.0: missed)} for every box of gt."""
    by_img: dict[tuple[int, int], list[dict]] = {}
    for d in dets:
        by_img.setdefault((d["image_id"], d["category_id"]), []).append(d)
    out: dict[int, float] = {}
    for a in gt["annotations"]:
        if a.get("iscrowd", 0):
            continue
        cands = by_img.get((a["image_id"], a["category_id"]), [])
        out[int(a["id"])] = max((float(d["score"]) for d in cands if iou(a["bbox"], d["bbox"]) >= iou_min),
                                default=0.0)
    return out


def failing(scores: dict[int, float], score_min: float = SCORE_MIN, least: int = LEAST) -> set[int]:
    """The missed and weak boxes (score < score_min), at least `least` of them (module docstring)."""
    weak = {a for a, s in scores.items() if s < score_min}
    if len(weak) >= least:
        return weak
    return set(sorted(scores, key=lambda a: (scores[a], a))[:least])


def compare_groups(fail: dict[str, np.ndarray], found: dict[str, np.ndarray], B: int = 200,
                   seed: int = 0) -> dict[str, dict]:
    """Per metadata: D_B(failing, found) with a bootstrap interval, and the two-sample KS test's p-value."""
    from scipy.stats import ks_2samp

    from align.distances import bhattacharyya
    rng = np.random.default_rng(seed)
    out = {}
    for m in fail:
        a, b = _finite(fail[m]), _finite(found.get(m, np.array([])))
        rec = {"n_fail": int(a.size), "n_found": int(b.size), "mean_fail": _mean(a), "mean_found": _mean(b)}
        if a.size < 2 or b.size < 2:
            out[m] = {**rec, "db": None, "ci": None, "p": None, "why": "fewer than 2 boxes in a group"}
            continue
        boot = [bhattacharyya(rng.choice(a, a.size), rng.choice(b, b.size)).db for _ in range(B)]
        out[m] = {**rec, "db": float(bhattacharyya(a, b).db),
                  "ci": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
                  "p": float(ks_2samp(a, b).pvalue)}
    return out


def _finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None
