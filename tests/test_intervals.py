"""Bootstrap intervals (benchmark/stats.py): the shared per-draw scores give exactly what rescoring every
comparison from scratch gives, and keeping each image's 100 best detections changes no score."""
import numpy as np
import pytest

from benchmark.evaluate import score_faster, top_per_image
from benchmark.stats import _draws, _scores, bootstrap_ci, paired_bootstrap
from core.stats import percentile_ci


def _toy(n_images=8, seed=0):
    rng = np.random.default_rng(seed)
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in range(1, n_images + 1)]
    anns, dets_a, dets_b = [], [], []
    for im in images:
        x, y = rng.uniform(5, 60, 2)
        anns.append({"id": im["id"], "image_id": im["id"], "category_id": 1, "bbox": [x, y, 30, 30],
                     "area": 900.0, "iscrowd": 0})
        for dets, jitter in ((dets_a, 2.0), (dets_b, 8.0)):
            dets.append({"image_id": im["id"], "category_id": 1, "score": float(rng.uniform(0.5, 1)),
                         "bbox": [x + rng.normal(0, jitter), y + rng.normal(0, jitter), 30, 30]})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "bottle"}]}
    return gt, dets_a, dets_b


def test_shared_draw_scores_equal_rescoring_each_comparison():
    gt, a, b = _toy()
    draws = _draws([im["id"] for im in gt["images"]], {x["image_id"] for x in gt["annotations"]}, 25, 0)
    sa = np.array([_scores(gt, [a], d) for d in draws])
    sb = np.array([_scores(gt, [b], d) for d in draws])
    ci = bootstrap_ci(gt, [a], B=25)
    assert ci["map"] == pytest.approx(list(percentile_ci(sa[:, 0]))) and ci["ap50"] == pytest.approx(
        list(percentile_ci(sa[:, 1])))
    pair = paired_bootstrap(gt, [a], [b], B=25)
    assert pair["diff"] == pytest.approx(float((sa[:, 0] - sb[:, 0]).mean()))
    assert pair["ci"] == pytest.approx(list(percentile_ci(sa[:, 0] - sb[:, 0])))
    assert pair["ratio"] == pytest.approx(sa[:, 0].mean() / sb[:, 0].mean())


def test_top_100_per_image_changes_no_score():
    gt, a, _ = _toy(4, seed=1)
    rng = np.random.default_rng(2)
    many = a + [{"image_id": int(rng.integers(1, 5)), "category_id": 1, "score": float(rng.uniform(0, 0.4)),
                 "bbox": [float(v) for v in rng.uniform(0, 60, 2)] + [20.0, 20.0]} for _ in range(600)]
    kept = top_per_image(many)
    assert len(kept) == 4 * 100 and score_faster(gt, kept) == score_faster(gt, many)
