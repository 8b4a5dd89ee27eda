"""Intervals for detector scores: the bootstrap over the real test images.

A cell's score is a property of the test images it was measured on; with 59 test photos it moves a lot with
the sample. Both functions resample the test *images* with replacement (B times, a fixed seed; an image drawn
twice counts twice: its ground truth and detections are copied under a new image id) and rescore every draw
with faster-coco-eval (benchmark.evaluate.score_faster).

- `bootstrap_ci(gt, dets_by_seed)`: the 95 % percentile interval of mAP50-95 and AP50 of the cell (with
  several seeds: of the seed-averaged score, the seeds' detections rescored on the same draw);
- `paired_bootstrap(gt, a_by_seed, b_by_seed)`: the mean difference score(a) - score(b) and its 95 % interval,
  both sets rescored on the *same* draws (paired: the image sample's luck cancels), and whether it excludes 0.
Draws without any ground-truth box are redrawn.
"""
from __future__ import annotations

import numpy as np

from core.stats import percentile_ci

B_DEFAULT = 300


def _draws(image_ids: list[int], gt_ids: set[int], B: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.asarray(image_ids)
    out = []
    while len(out) < B:
        d = rng.choice(ids, size=len(ids), replace=True)
        if any(int(i) in gt_ids for i in d):
            out.append(d)
    return out


def _resampled(gt: dict, dets: list[dict], draw: np.ndarray) -> tuple[dict, list[dict]]:
    """gt and detections of the drawn images, the k-th drawn image renamed k + 1."""
    anns_by, dets_by = {}, {}
    for a in gt["annotations"]:
        anns_by.setdefault(a["image_id"], []).append(a)
    for d in dets:
        dets_by.setdefault(d["image_id"], []).append(d)
    ims = {im["id"]: im for im in gt["images"]}
    images, anns, out = [], [], []
    for k, iid in enumerate(draw.tolist(), 1):
        images.append({**ims[iid], "id": k})
        anns += [{**a, "id": len(anns) + j + 1, "image_id": k} for j, a in enumerate(anns_by.get(iid, []))]
        out += [{**d, "image_id": k} for d in dets_by.get(iid, [])]
    return {"images": images, "annotations": anns, "categories": gt["categories"]}, out


def _scores(gt: dict, dets_by_seed: list[list[dict]], draw: np.ndarray) -> tuple[float, float]:
    from benchmark.evaluate import score_faster
    maps, ap50s = [], []
    for dets in dets_by_seed:
        g, d = _resampled(gt, dets, draw)
        s = score_faster(g, d)
        maps.append(s["map"])
        ap50s.append(s["ap50"])
    return float(np.mean(maps)), float(np.mean(ap50s))


def draw_scores(gt: dict, dets_by_seed: list[list[dict]], B: int = B_DEFAULT, seed: int = 0) -> np.ndarray:
    """(B, 2): the seed-averaged mAP50-95 and AP50 of one cell on each of the B draws. Every function here is
    built on these, so a cell compared with several others is rescored once per draw, not once per pair."""
    from benchmark.evaluate import top_per_image
    dets_by_seed = [top_per_image(d) for d in dets_by_seed]
    draws = _draws([im["id"] for im in gt["images"]], {a["image_id"] for a in gt["annotations"]}, B, seed)
    return np.array([_scores(gt, dets_by_seed, d) for d in draws], dtype=float).reshape(B, 2)


def ci_from_scores(s: np.ndarray, seed: int = 0) -> dict:
    return {"map": list(percentile_ci(s[:, 0])), "ap50": list(percentile_ci(s[:, 1])), "B": len(s), "seed": seed}


def paired_from_scores(sa: np.ndarray, sb: np.ndarray, seed: int = 0) -> dict:
    diff = sa[:, 0] - sb[:, 0]
    lo, hi = percentile_ci(diff)
    mb = float(sb[:, 0].mean())
    return {"diff": float(diff.mean()), "ci": [lo, hi], "excludes_0": bool(lo > 0 or hi < 0),
            "ratio": float(sa[:, 0].mean()) / mb if mb > 0 else None, "B": len(sa), "seed": seed}


def bootstrap_ci(gt: dict, dets_by_seed: list[list[dict]], B: int = B_DEFAULT, seed: int = 0) -> dict:
    """-> {"map": [lo, hi], "ap50": [lo, hi], "B", "seed"} (module docstring)."""
    return ci_from_scores(draw_scores(gt, dets_by_seed, B, seed), seed)


def paired_bootstrap(gt: dict, a_by_seed: list[list[dict]], b_by_seed: list[list[dict]], B: int = B_DEFAULT,
                     seed: int = 0) -> dict:
    """-> {"diff": mean over draws of mAP(a) - mAP(b), "ci": [lo, hi], "excludes_0", "ratio", "B", "seed"}."""
    return paired_from_scores(draw_scores(gt, a_by_seed, B, seed), draw_scores(gt, b_by_seed, B, seed), seed)
