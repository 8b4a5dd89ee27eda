"""Sample-wise analysis (thesis §5.4.6): is a real test object found when the training set held a look-alike?

For each real *test* box of the run's category and each variant trained alone (its seed-0 synthetic cell of
each detector): `d` = the Euclidean distance from the box's crop features (align/features.py: 10 % context,
ImageNet MobileNetV2) to the nearest box crop of the variant's training set, and `IoU` = the best IoU of that
cell's detections scoring >= SCORE_THR with the box (0 when none covers it). Per cell: Spearman of d with IoU
and its permutation p (core.stats); negative = objects unlike every training crop are found less well. One
scatter of all cells. Opt-in (`synthgap benchmark report --samplewise`): it extracts features of every set.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.io import read_json

SCORE_THR = 0.3


def iou(a: list[float], b: list[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def best_iou(gt: dict, dets: list[dict]) -> float:
    return max((iou(gt["bbox"], d["bbox"]) for d in dets if d["image_id"] == gt["image_id"]
                and d["score"] >= SCORE_THR), default=0.0)


def samplewise(run_dir: Path, data: dict) -> tuple[list[str], bytes | None]:
    """(markdown lines, scatter PNG) for a benchmark run (module docstring)."""
    from align.api import crop_features, pairwise_distances
    from core.coco import load_coco, load_split
    from core.stats import spearman_perm
    run = data["run"]
    real = load_coco(run["real_json"], run["images_dir"], category=run.get("category"))
    test = list(load_split(run["split"], real).test)
    fr, gt_ids = crop_features(real, test)
    gts = {int(a["id"]): a for a in real.annotations}
    cells = [r for r in data["results"] if r.get("regime", "synthetic") == "synthetic" and r.get("seed", 0) == 0
             and r.get("predictions") and r["variant"] in run.get("variants", {})]
    md = ["", "## Sample-wise: nearest training crop vs detection (real test boxes)", "",
          f"Per test box: distance of its crop features to the nearest crop of the set it was trained on, and the "
          f"best IoU of the cell's detections (score >= {SCORE_THR}). Spearman: negative = boxes unlike every "
          "training crop are found less well (benchmark/samplewise.py).", "",
          "| variant | detector | test boxes | median distance | found (IoU >= 0.5) | Spearman | p |", "|---|---|---|---|---|---|---|"]
    points = []
    for r in sorted(cells, key=lambda r: (r["variant"], r["detector"])):
        fs, _ = crop_features(load_coco(run["variants"][r["variant"]], category=run.get("category")))
        if not len(fs) or not (run_dir / r["predictions"]).exists():
            continue
        d = pairwise_distances(fr, fs).min(axis=1)
        dets = read_json(run_dir / r["predictions"])
        ious = np.array([best_iou(gts[i], dets) for i in gt_ids])
        sp = spearman_perm(d.tolist(), ious.tolist(), n_perm=2000)
        rho = "n/a" if sp["rho"] is None else f"{sp['rho']:.2f}"
        p = "n/a" if sp["p"] is None else f"{sp['p']:.3f}"
        md.append(f"| {r['variant']} | {r['detector']} | {len(d)} | {np.median(d):.2f} | "
                  f"{(ious >= 0.5).mean():.2f} | {rho} | {p} |")
        points.append((f"{r['variant']} / {r['detector']}", d, ious))
    return md, _scatter(points)


def _scatter(points) -> bytes | None:
    if not points:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.figures import fig_png
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, d, ious in points:
        ax.scatter(d, ious, s=12, alpha=0.6, label=label)
    ax.set_xlabel("distance to the nearest training crop (MobileNetV2 features)")
    ax.set_ylabel("best IoU of a detection")
    ax.legend(fontsize=7)
    return fig_png(fig)
