"""The one-step lookahead (benchmark/lookahead.py, issue 25): a config's value is the drop of the detector's loss
on half A of the exposed photos after a few SGD steps on its renders, the samplers seeded so that no step means
no change, deterministic for a seed; Hedge's weights (synthgap/lookahead.py) lean toward valued configs."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    from benchmark.frcnn import samples_for
    from benchmark.frcnn_init import build_model
    from benchmark.toydata import make_toy_set
    from core.api import load_coco
    root = tmp_path_factory.mktemp("lookahead")
    names = ["bottle"]
    model, init, arch = build_model(names, 64, "scratch")
    w = root / "weights.pt"
    torch.save({"state_dict": model.state_dict(), "names": names, "arch": arch, "init": init}, w)

    def samples(d):
        return samples_for(load_coco(d / "coco_annotations.json", d), None, names, 64)
    renders = {c: samples(make_toy_set(root / c, 3, size=(64, 48), seed=s, max_objects=1, names=("bottle",),
                                       shift=sh)) for c, s, sh in (("near", 1, 0.0), ("far", 2, 0.9))}
    photos = {s.image_id: s for s in samples(make_toy_set(root / "real", 6, size=(64, 48), seed=3, max_objects=1,
                                                          names=("bottle",)))}
    return w, renders, photos


def test_values_are_the_loss_drop_on_half_a_none_without_steps_and_deterministic(tiny):
    from benchmark.lookahead import Halves, checkpoint_names, config_values
    w, renders, photos = tiny
    halves = Halves.draw(list(photos), seed=0)
    assert set(halves.a).isdisjoint(halves.b) and sorted(halves.a + halves.b) == sorted(photos)
    assert checkpoint_names(w) == ["bottle"]
    still = config_values(w, renders, photos, halves, steps=0, seed=0, imgsz=64)
    assert all(v["value_a"] == 0.0 and v["value_b"] == 0.0 for v in still["configs"].values())  # samplers seeded
    one = config_values(w, renders, photos, halves, steps=2, seed=0, imgsz=64)
    assert set(one["configs"]) == {"near", "far"} and one["steps"] == 2
    for v in one["configs"].values():
        assert v["value_a"] == pytest.approx(one["before"]["a"] - v["loss_a"]) and v["value_a"] != 0.0
    assert config_values(w, renders, photos, halves, steps=2, seed=0, imgsz=64)["configs"] == one["configs"]


def test_hedge_leans_toward_valued_configs_and_explores():
    from synthgap.lookahead import hedge
    values = {"a": 1.0, "b": 0.0, "c": -1.0}
    flat = hedge({"c": 1.0}, values, eta=0.0)
    assert flat == pytest.approx({"a": 0.2 / 3, "b": 0.2 / 3, "c": 0.8 + 0.2 / 3})   # the failure plan + explore
    lean = hedge({"c": 1.0}, values, eta=4.0)
    assert sum(lean.values()) == pytest.approx(1.0) and lean["a"] > flat["a"] and lean["c"] < flat["c"]
