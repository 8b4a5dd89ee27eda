"""synthgap refine (align/refine.py, refine_net.py, refine_pixels.py): the learned refiner trains, resumes and is
deterministic; boxes stay exact; only exposed photos are read; a refiner that moves objects is rejected."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.toydata import make_toy_set, make_toy_split


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    syn = make_toy_set(root / "syn", 6, seed=2)
    real = make_toy_set(root / "real", 8, seed=1)
    split = make_toy_split(root / "split.json", 8, 4)
    return {"root": root, "syn": syn, "real": real, "split": split}


def _settings(**kw):
    from align.refine import settings_from
    from dataclasses import replace
    return replace(settings_from(4, 32, 2, 0), ckpt_every=2, bank=8, **kw)


def _fit(toy, out, method="learned", **kw):
    from align.refine import fit
    return fit(method, [toy["syn"]], toy["real"] / "coco_annotations.json", toy["real"], toy["split"], out,
               _settings(**kw), device="cpu")


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


def test_learned_refiner_resumes_to_the_same_weights(toy, tmp_path):
    from align.refine import render_arrays
    from align.refine_net import train_refiner
    from align.refine_pixels import photo_bank
    from core.coco import load_coco, load_split
    real = load_coco(toy["real"] / "coco_annotations.json", toy["real"])
    photos = photo_bank(real, load_split(toy["split"], real).exposed, 96)
    imgs, masks = render_arrays([toy["syn"]])
    s = _settings()
    whole = train_refiner(imgs, masks, photos, s, tmp_path / "a.pt")

    def killed(step, total, post):
        if step == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_refiner(imgs, masks, photos, s, tmp_path / "b.pt", progress=killed)
    resumed = train_refiner(imgs, masks, photos, s, tmp_path / "b.pt")
    assert all(np.array_equal(whole[k].numpy(), resumed[k].numpy()) for k in whole)
    assert any(float(v.abs().sum()) > 0 for k, v in whole.items() if k.startswith("tail.")), "it did not train"


def test_cut_trains_resumes_and_keeps_the_image_size(toy, tmp_path):
    """CUT (align/refine_cut.py): a killed training resumes to the same weights, the generator moved off its
    initialisation, and a refined image of sides that are not multiples of 4 keeps its size; `refine apply`
    writes the set with the render's COCO (gates off: 4 steps do not keep edges, which the geometry check reads)."""
    import torch

    from align.refine import apply, render_arrays
    from align.refine_cut import build_cut_generator, train_cut
    from align.refine_net import refine_image
    from align.refine_pixels import photo_bank
    from core.coco import load_coco, load_split
    real = load_coco(toy["real"] / "coco_annotations.json", toy["real"])
    photos = photo_bank(real, load_split(toy["split"], real).exposed, 96)
    imgs, _ = render_arrays([toy["syn"]])
    s = _settings(channels=4, blocks=2)
    whole = train_cut(imgs, photos, s, tmp_path / "a.pt")

    def killed(step, total, post):
        if step == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_cut(imgs, photos, s, tmp_path / "b.pt", progress=killed)
    resumed = train_cut(imgs, photos, s, tmp_path / "b.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    torch.manual_seed(s.seed)
    init = build_cut_generator(s).state_dict()
    assert any(not torch.equal(init[k], whole[k]) for k in whole if k.endswith("weight")), "it did not train"
    net = build_cut_generator(s)
    net.load_state_dict(whole)
    net.eval()
    assert refine_image(net, imgs[0][:61, :70]).shape == (61, 70, 3)
    rec = apply(_fit(toy, tmp_path / "R", "cut", channels=4, blocks=2), toy["syn"], tmp_path / "out", "cpu",
                gates=False)
    assert rec["method"] == "cut" and rec["geometry"]["boxes"] > 0
    assert (tmp_path / "out" / "coco_annotations.json").read_bytes() == \
        (toy["syn"] / "coco_annotations.json").read_bytes()


def test_refined_copy_keeps_boxes_is_deterministic_and_reads_only_exposed(toy, tmp_path, monkeypatch):
    from PIL import ImageFile

    from align.refine import apply
    from core.coco import load_split
    loaded: list[str] = []
    orig = ImageFile.ImageFile.load

    def load(self):
        loaded.append(str(getattr(self, "filename", "")))
        return orig(self)
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    r = _fit(toy, tmp_path / "R")
    coco = json.loads((toy["real"] / "coco_annotations.json").read_text())
    split = load_split(toy["split"])
    names = {im["id"]: Path(im["file_name"]).name for im in coco["images"]}
    real_read = {Path(p).name for p in loaded if Path(p).parent.parent == toy["real"]}
    assert real_read == {names[i] for i in split.exposed}, "a test photo was read (or an exposed one was not)"
    monkeypatch.setattr(ImageFile.ImageFile, "load", orig)
    a, b = apply(r, toy["syn"], tmp_path / "a", "cpu"), apply(r, toy["syn"], tmp_path / "b", "cpu")
    assert a["geometry"]["passed_share"] >= 0.95 and a["geometry"]["boxes"] > 0
    ta, tb = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    ta.pop("refine.json"), tb.pop("refine.json")
    assert ta == tb, "refinement is not byte-deterministic"
    (tmp_path / "b" / "DONE").unlink()                                  # killed before its end: resumes
    (tmp_path / "b" / "refine.json").unlink()
    (tmp_path / "b" / "images" / "000001.jpg").unlink()
    assert apply(r, toy["syn"], tmp_path / "b", "cpu")["geometry"] == a["geometry"]
    assert (tmp_path / "a" / "coco_annotations.json").read_bytes() == (toy["syn"] / "coco_annotations.json").read_bytes()
    assert apply(r, toy["syn"], tmp_path / "a", "cpu") == a            # a finished copy is kept


@pytest.mark.parametrize("method", ["fda", "colour"])
def test_pixel_refiners_move_the_look_and_keep_geometry(toy, tmp_path, method):
    from align.refine import apply
    from align.refine_pixels import _to_lab, read_rgb
    r = _fit(toy, tmp_path / "R", method)
    rec = apply(r, toy["syn"], tmp_path / "out", "cpu")
    assert rec["geometry"]["passed_share"] >= 0.95
    src = read_rgb(toy["syn"] / "images" / "000001.jpg")
    out = read_rgb(tmp_path / "out" / "images" / "000001.jpg")
    assert src.shape == out.shape and np.abs(src.astype(int) - out.astype(int)).mean() > 1.0
    if method == "colour":       # the render's l-alpha-beta mean lands on the photos' pooled mean
        target = json.loads((r / "refiner.json").read_text())["colour_stats"]["mean"]
        assert np.allclose(_to_lab(out).mean(0), target, atol=0.03)


def test_a_refiner_that_moves_objects_is_rejected(toy, tmp_path):
    from align.refine import REFINERS, apply
    from core.errors import UserError

    class Shift:
        def fit(self, ctx):
            return {}

        def applier(self, rec, folder, device):
            return lambda rgb, iid: np.roll(rgb, (4, 4), axis=(0, 1))

    class Scale:
        def fit(self, ctx):
            return {}

        def applier(self, rec, folder, device):
            from PIL import Image
            def grow(rgb):
                h, w = rgb.shape[:2]
                big = np.asarray(Image.fromarray(rgb).resize((int(w * 1.1), int(h * 1.1))))
                y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
                return big[y:y + h, x:x + w].copy()
            return lambda rgb, iid: grow(rgb)
    for name, cls in (("shift", Shift), ("scale", Scale)):
        REFINERS.register(name, cls)
        try:
            r = _fit(toy, tmp_path / f"R-{name}", name)
            with pytest.raises(UserError, match="moved their objects"):
                apply(r, toy["syn"], tmp_path / name, "cpu")
            assert not (tmp_path / name / "DONE").exists()
        finally:
            REFINERS.unregister(name)


def test_refined_variants_are_registered_and_opt_in():
    from synthgap.variants import VARIANTS, refined_names
    assert refined_names() == ["refined", "refined-task", "baseline-refined", "aligned-fda", "aligned-colour"]
    for name in [*refined_names(), "aligned-cut"]:
        assert getattr(VARIANTS.get(name), "default", True) is False
    assert VARIANTS.get("aligned-cut").method == "cut"          # by name only: CUT is not in --refine
    from align.refine import settings_from
    assert settings_from(4, None, 2, 0, method="cut").crop == 128 and settings_from(4, None, 2, 0).crop == 64
    assert settings_from(4, 48, 2, 0, method="cut").crop == 48
    wide = settings_from(4, None, 2, 0, method="cut", channels=64, blocks=9)
    assert (wide.channels, wide.blocks) == (64, 9)
    from core.errors import UserError
    with pytest.raises(UserError, match="--channels"):
        settings_from(4, None, 2, 0, channels=0)


def test_run_refine_flag_adds_the_refined_sets(tmp_path):
    import argparse

    from synthgap.options import RunOptions, add_common_args, apply_args
    from synthgap.variants import comparison_names, refined_names
    ap = argparse.ArgumentParser()
    d = RunOptions(Path("r.json"), Path("."), Path("s.json"), Path("g.yaml"), tmp_path)
    add_common_args(ap, d)
    opts = apply_args(d, ap.parse_args(["--refine", "--refine-steps", "30"]))
    names = comparison_names(opts)
    assert all(n in names for n in refined_names()) and "baseline" in names and opts.refine_steps == 30
    assert "aligned-photo" not in names


def test_label_check_rejects_a_refiner_that_erases_objects(toy, tmp_path, monkeypatch):
    """The check runs a benchmark Faster R-CNN checkpoint on held-out renders before and after refinement; a
    refiner that paints the objects over loses AP50 and is rejected (refiner.json records it, apply refuses).
    The detector here is a 1-epoch checkpoint (the real path: build, predict, score); the AP50 the rule reads
    is the share of boxes whose pixels still differ from the background, so the test needs no trained model."""
    import benchmark.refine_check as rc
    from align.refine import REFINERS, apply
    from benchmark.frcnn import samples_for, train_frcnn
    from core.coco import load_coco
    from core.errors import UserError
    held = make_toy_set(tmp_path / "held", 4, seed=6, names=("bottle",), max_objects=1)
    cs = load_coco(held / "coco_annotations.json", held)
    s = samples_for(cs, None, ["bottle"], 64)
    train_frcnn(s, s, cs.subset(None, ["bottle"]), ["bottle"], cs.name_to_id(), epochs=1, imgsz=64, seed=0,
                device="cpu", batch=4, init="imagenet", checkpoint=tmp_path / "best.pt")
    real_ap50 = rc._ap50
    seen = []

    def visible(model, cs, names, imgsz):          # boxes whose pixels still stand out from the image
        seen.append(real_ap50(model, cs, names, imgsz))
        from align.refine_pixels import read_rgb
        by = {im["id"]: read_rgb(cs.image_path(im)).astype(float) for im in cs.images}
        vis = []
        for a in cs.annotations:
            x, y, w, h = (int(v) for v in a["bbox"])
            img = by[a["image_id"]]
            vis.append(abs(img[y:y + h, x:x + w].mean() - img.mean()) > 5)
        return float(np.mean(vis))
    monkeypatch.setattr(rc, "_ap50", visible)

    class Erase:
        def fit(self, ctx):
            return {}

        def applier(self, rec, folder, device):
            return lambda rgb, iid: np.full_like(rgb, 128)
    REFINERS.register("erase", Erase)
    try:
        bad = _fit(toy, tmp_path / "R-erase", "erase")
        rec = rc.label_check(bad, tmp_path / "best.pt", held, imgsz=64, device="cpu")
    finally:
        REFINERS.unregister("erase")
    assert len(seen) == 2 and all(0.0 <= v <= 1.0 for v in seen)      # the detector ran on both copies
    assert rec["ap50_renders"] == 1.0 and rec["ap50_refined"] == 0.0 and not rec["passed"]
    assert json.loads((bad / "refiner.json").read_text())["label_check"] == rec
    with pytest.raises(UserError, match="rejected by its label check"):
        apply(bad, held, tmp_path / "erased", "cpu")
    good = rc.label_check(_fit(toy, tmp_path / "R-colour", "colour"), tmp_path / "best.pt", held, imgsz=64,
                          device="cpu")
    assert good["passed"]


def test_detector_term_adds_the_unrolled_gradient_and_resumes(toy, tmp_path):
    """learned-task: the finite-difference unrolled term reaches the generator's weights, the detector takes its
    step, and its weights are kept in the refiner's checkpoint (what a resume loads)."""
    import torch

    import benchmark.refine_task as rt
    from align.refine_net import _nets
    s = _settings(task_every=1)
    real = toy["real"]
    from core.coco import load_coco, load_split
    cs = load_coco(real / "coco_annotations.json", real)
    from align.refine import photo_boxes, render_arrays
    from align.refine_pixels import photo_bank
    exposed = list(load_split(toy["split"], cs).exposed)
    photos = photo_bank(cs, exposed, 96)
    boxes: list = []
    imgs, _ = render_arrays([toy["syn"]], None, boxes)
    term = rt.DetectorTerm(imgs, boxes, photos, photo_boxes(cs, exposed, photos), cs.class_names(), s, "cpu")
    gen = _nets(s)[0]
    before = [p.detach().clone() for p in term.params]
    note = term(0, gen)
    assert "real-loss" in note
    assert gen.tail.weight.grad is not None and float(gen.tail.weight.grad.abs().sum()) > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, term.params)), "the detector did not step"
    r1 = _fit(toy, tmp_path / "A", "learned-task", task_every=3)          # steps 0 and 3 take the term
    sd1 = torch.load(r1 / "weights.pt", weights_only=True)
    ck = torch.load(r1 / "ckpt.pt", weights_only=True)
    assert ck["task"] is not None
    assert any(float(v.abs().sum()) > 0 for k, v in sd1.items() if k.startswith("tail."))
