"""benchmark: start weights (--init, --yolo-weights), training regimes, and the intervals of the reports."""
from __future__ import annotations

import json
import random

import pytest

from benchmark.toydata import make_toy_set, make_toy_split
from core.errors import UserError


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    return {"root": root, "real": make_toy_set(root / "real", 10, size=(64, 48), seed=1),
            "split": make_toy_split(root / "split.json", 10, 5),
            "syn": make_toy_set(root / "syn", 6, size=(64, 48), seed=2, category_offset=5)}


def _spec(toy, out, **kw):
    from benchmark.run import RunSpec
    base = dict(variants=[("syn", str(toy["syn"]))], real_json=str(toy["real"] / "coco_annotations.json"),
                images_dir=str(toy["real"]), split=str(toy["split"]), out=str(out), epochs=1, seeds=[0],
                imgsz=64, batch=4)
    base.update(kw)
    return RunSpec(**base)


# ---------------------------------------------------------------------------------------------- statistics
def _gt():
    images = [{"id": i, "width": 100, "height": 100, "file_name": f"{i}.jpg"} for i in range(1, 21)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0}
            for i in range(1, 21)]
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "bottle"}]}


def test_bootstrap_intervals_and_paired_differences():
    from benchmark.stats import bootstrap_ci, paired_bootstrap
    gt = _gt()
    perfect = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0} for a in gt["annotations"]]
    rng = random.Random(0)
    half = [d for d in perfect if rng.random() < 0.5]
    ci = bootstrap_ci(gt, [perfect], B=50)
    assert ci["map"] == [pytest.approx(1.0), pytest.approx(1.0)] and ci["B"] == 50
    ci_half = bootstrap_ci(gt, [half], B=200)
    assert 0.1 < ci_half["map"][0] < 0.5 < ci_half["map"][1] < 0.9        # a real spread around ~0.5
    same = paired_bootstrap(gt, [half], [half], B=50)
    assert same["diff"] == pytest.approx(0.0) and not same["excludes_0"]
    better = paired_bootstrap(gt, [perfect], [half], B=200)
    assert better["diff"] > 0.3 and better["excludes_0"] and better["ratio"] > 1.5
    # seeds are averaged on the same draws: one good + one bad seed sits between the two
    mix = paired_bootstrap(gt, [perfect, half], [half], B=100)
    assert 0 < mix["diff"] < better["diff"]


def test_spearman_with_permutation_p():
    from core.stats import spearman_perm
    r = spearman_perm([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert r["exact"] and 0.8 < r["rho"] < 0.9 and 0.01 < r["p"] < 0.1
    assert spearman_perm([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])["p"] == pytest.approx(2 / 120)
    assert spearman_perm([1, 2], [1, 2])["rho"] is None and spearman_perm([1, 1, 1], [1, 2, 3])["p"] is None
    big = spearman_perm(list(range(12)), [x + random.Random(1).random() * 3 for x in range(12)], n_perm=2000)
    assert not big["exact"] and big["p"] < 0.01


# ---------------------------------------------------------------------------------------------- start weights
def test_frcnn_init_choices_and_coco_weights_from_the_hub_cache(tmp_path, monkeypatch):
    """--init coco loads a torchvision COCO detector from the torch hub cache (here a stand-in checkpoint of the
    right architecture, written by the test) and replaces its predictor; it is refused when none is cached."""
    import torch

    from benchmark.frcnn_init import COCO_MODELS, build_coco_arch, build_model
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError, match="--init coco: no torchvision COCO detection weights"):
        build_model(["bottle", "cup"], 64, "coco")
    with pytest.raises(UserError, match="neither one of"):
        build_model(["bottle"], 64, "imagenet21k")
    _, name, arch = build_model(["bottle", "cup"], 64, "auto")
    assert arch == "fasterrcnn_mobilenet_v2_fpn" and name.startswith(("imagenet", "scratch"))
    coco = build_coco_arch("fasterrcnn_mobilenet_v3_large_fpn", 90, 64, None)      # 91 outputs, as COCO's
    ckpt = tmp_path / "torch" / "hub" / "checkpoints" / COCO_MODELS["fasterrcnn_mobilenet_v3_large_fpn"]
    ckpt.parent.mkdir(parents=True)
    torch.save(coco.state_dict(), ckpt)
    model, name, arch = build_model(["bottle", "cup"], 64, "auto")
    assert name == "coco-fasterrcnn_mobilenet_v3_large_fpn" and arch == "fasterrcnn_mobilenet_v3_large_fpn"
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    key = "backbone.fpn.inner_blocks.0.0.weight"
    assert torch.equal(model.state_dict()[key], coco.state_dict()[key])          # the COCO weights loaded
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith("backbone.body.") for n in frozen)


def test_yolo_weights_transfer_every_matching_layer_and_reinit_the_head(toy, tmp_path, capsys):
    """A checkpoint the test makes (1 epoch on 3 classes) starts a 2-class YOLO: the backbone and neck transfer,
    the class head does not; a missing path is refused before anything runs."""
    from benchmark.run import run_matrix
    from benchmark.yolo import transferable
    three = make_toy_set(tmp_path / "three", 6, size=(64, 48), seed=5, names=("bottle", "cup", "vase"))
    run_matrix(_spec(toy, tmp_path / "pre", variants=[], real_json=str(three / "coco_annotations.json"),
                     images_dir=str(three), split=str(make_toy_split(tmp_path / "s3.json", 6, 3)),
                     detectors=["yolo"], regimes=["real"]))
    ckpt = json.loads((tmp_path / "pre" / "results" / "real__yolo__seed0.json").read_text())["weights"]
    n, total = transferable("yolov8n.yaml", 2, ckpt)
    assert 0.8 * total < n < total
    assert transferable("yolov8n.yaml", 3, ckpt) == (total, total)
    paths = run_matrix(_spec(toy, tmp_path / "ft", detectors=["yolo"], regimes=["synthetic"],
                                  detector_params={"yolo": {"weights": str(ckpt)}}))
    rec = json.loads(paths[0].read_text())
    assert rec["init"] == f"weights:{ckpt.split('/')[-1]} ({n}/{total} tensors transferred)"
    from synthgap.cli import main
    argv = ["benchmark", "run", "--real", str(toy["real"] / "coco_annotations.json"), "--images", str(toy["real"]),
            "--split", str(toy["split"]), "--out", str(tmp_path / "bad"), "--yolo-weights", str(tmp_path / "no.pt")]
    assert main(argv) == 2
    assert "no.pt: --yolo-weights: file not found" in capsys.readouterr().err and not (tmp_path / "bad").exists()


# ---------------------------------------------------------------------------------------------- regimes
@pytest.fixture(scope="module")
def regime_run(toy, tmp_path_factory):
    from benchmark.report import write_report
    from benchmark.run import run_matrix
    out = tmp_path_factory.mktemp("regimes")
    paths = run_matrix(_spec(toy, out, detectors=["yolo", "frcnn"], regimes=["real", "finetune", "mixed"],
                             regime_params={"mixed": {"share": 0.5}}))
    return out, paths, write_report(out, B=30).read_text()


def test_every_regime_runs_and_records_how_it_trained(regime_run, toy):
    out, paths, _ = regime_run
    names = sorted(p.stem for p in paths)
    for det in ("yolo", "frcnn"):    # finetune brought its synthetic cells along
        assert {f"syn__{det}__seed0", f"real__{det}__seed0", f"syn__{det}__seed0__finetune",
                f"syn__{det}__seed0__mixed"} <= set(names)
    rec = {p.stem: json.loads(p.read_text()) for p in paths}
    for det in ("yolo", "frcnn"):
        syn, ft = rec[f"syn__{det}__seed0"], rec[f"syn__{det}__seed0__finetune"]
        mixed, real = rec[f"syn__{det}__seed0__mixed"], rec[f"real__{det}__seed0"]
        assert syn["regime"] == "synthetic" and syn["selection"].startswith("best epoch")
        assert ft["start"] == syn["weights"] and ft["selection"].startswith("fixed schedule")
        assert real["regime"] == "real" and real["start"] is None and real["selection"].startswith("fixed")
        assert mixed["n_train_images"] == 6 + 5 * 1 and "x1" in mixed["train_data"][1]   # 0.5 share: 6 syn, 5x1
        for r in (syn, ft, mixed, real):
            lo, hi = r["test_ci"]["map"]
            assert lo <= r["test"]["map"] + 1e-9 and hi >= lo
    assert rec["syn__frcnn__seed0__finetune"]["init"].startswith("checkpoint:best.pt")
    assert rec["syn__yolo__seed0__finetune"]["init"].startswith("weights:")


def test_report_shows_regime_groups_intervals_and_pairs(regime_run):
    out, _, md = regime_run
    assert "yolo mAP (alone)" in md and "frcnn mAP (finetune)" in md and "yolo AP50 (mixed)" in md
    assert "## Paired differences" in md and "| finetune | frcnn | syn | real |" in md
    row = [ln for ln in md.splitlines() if ln.startswith("| syn |")][0]
    assert row.count("[") >= 6          # every cell has its interval
    assert (out / "intervals.json").exists()
    cache = json.loads((out / "intervals.json").read_text())
    from benchmark.report import write_report
    write_report(out, B=30)              # the second report reuses the cached intervals
    assert json.loads((out / "intervals.json").read_text()) == cache
