"""Composites (align/composite.py, benchmark/composite_task.py, synthgap/composite_sets.py): boxes are exactly
what stays visible, bg_cutouts stay off the boxes, only exposed photos are read, the task synthesizer's build
resumes to the same set, and the variants take their options from the CLI."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.toydata import COLOURS, make_toy_set, make_toy_split


def _with_masks(d: Path, size=(96, 72)) -> Path:
    """The toy set's rectangles as exact visible instance masks (RLE; later ones drawn over earlier), as a
    render writes them."""
    from render.annotate import rle_encode
    c = json.loads((d / "coco_annotations.json").read_text())

    def rect(a):
        x, y, w, h = a["bbox"]
        m = np.zeros(size[::-1], bool)
        m[int(np.ceil(y)):int(y + h), int(np.ceil(x)):int(x + w)] = True
        return m
    for a in c["annotations"]:
        m = rect(a)
        for b in c["annotations"]:
            if b["image_id"] == a["image_id"] and b["id"] > a["id"]:
                m &= ~rect(b)
        a["segmentation"] = rle_encode(m)
    (d / "coco_annotations.json").write_text(json.dumps(c))
    return d


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from render.plates import make_plates
    root = tmp_path_factory.mktemp("composite")
    syn = _with_masks(make_toy_set(root / "sets" / "aligned-component", 6, seed=2))
    real = make_toy_set(root / "real", 8, size=(160, 120), seed=1)
    split = make_toy_split(root / "split.json", 8, 4)
    for i in range(5, 9):                      # the test photos: gone, so reading one would fail
        (real / f"images/{i:06d}.jpg").unlink()
    make_plates(str(real / "coco_annotations.json"), str(real), str(split), str(root / "plates"), (96, 72),
                min_frac=0.1)
    return {"root": root, "syn": syn, "real": real, "split": split, "plates": root / "plates"}


def _bounds(toy, max_deg=0.0):
    from align.composite import bounds_from_photos
    return bounds_from_photos(toy["real"] / "coco_annotations.json", toy["real"], toy["split"], max_deg=max_deg)


def _load(d: Path):
    from PIL import Image

    from render.annotate import rle_decode
    c = json.loads((d / "coco_annotations.json").read_text())
    out = []
    for im in c["images"]:
        rgb = np.asarray(Image.open(d / im["file_name"]).convert("RGB")).astype(int)
        anns = [a for a in c["annotations"] if a["image_id"] == im["id"]]
        out.append((rgb, anns, [rle_decode(a["segmentation"]) for a in anns]))
    return c, out


def _coloured(rgb, k):
    return (np.abs(rgb - np.array(COLOURS[k])).sum(axis=2) < 60)


def test_random_composites_label_exactly_what_is_visible_inside_the_photos_ranges(toy, tmp_path):
    from align.composite import random_composite
    from render.annotate import erode3
    b = _bounds(toy)
    out = random_composite(toy["syn"], toy["plates"], b, 12, tmp_path / "rc", seed=3, blend_px=0.0)
    c, images = _load(out)
    assert len(c["images"]) == 12 and c["info"]["composite"]["bounds"]["size"] == list(b.size)
    n = 0
    for rgb, anns, masks in images:
        labelled = np.zeros(rgb.shape[:2], bool)
        for a, m in zip(anns, masks):
            k = a["category_id"] - 1
            inner = erode3(m)                                  # the rim is anti-aliased with the plate
            assert _coloured(rgb, k)[inner].mean() > 0.9 and _coloured(rgb, k)[m].mean() > 0.8
            ys, xs = np.nonzero(m)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            labelled |= m
            n += 1
        for k in range(2):                                     # no object pixel outside every label
            assert (_coloured(rgb, k) & ~labelled).sum() <= 0.02 * labelled.sum() + 4
    assert n >= 12
    again = random_composite(toy["syn"], toy["plates"], b, 12, tmp_path / "rc2", seed=3, blend_px=0.0)
    assert _tree(again) == _tree(out)                          # same seed, same bytes


def test_bg_cutouts_change_only_pixels_outside_every_box(toy, tmp_path):
    from align.composite import random_composite
    b = _bounds(toy, max_deg=10.0)
    plain = random_composite(toy["syn"], toy["plates"], b, 1, tmp_path / "plain", seed=5)
    cut = random_composite(toy["syn"], toy["plates"], b, 1, tmp_path / "cut", seed=5, cutouts=True)
    (p, anns, _), = _load(plain)[1]
    (q, anns_c, _), = _load(cut)[1]
    assert anns == anns_c
    changed = np.abs(p - q).sum(axis=2) > 0
    for a in anns:
        x, y, w, h = (int(v) for v in a["bbox"])
        assert not changed[y:y + h, x:x + w].any()
    assert json.loads((cut / "coco_annotations.json").read_text())["info"]["composite"]["bg_cutouts"] is True


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


def test_task_composite_trains_the_synthesizer_and_a_killed_build_resumes_to_the_same_set(toy, tmp_path,
                                                                                         monkeypatch):
    import benchmark.composite_task as ct
    monkeypatch.setattr(ct, "CKPT_EVERY", 1)
    args = (toy["syn"], toy["plates"], toy["real"] / "coco_annotations.json", toy["real"], toy["split"],
            _bounds(toy, 10.0), 4)
    whole = ct.task_composite(*args, tmp_path / "whole", seed=1, steps=3)
    rec = json.loads((whole / "coco_annotations.json").read_text())["info"]["composite"]
    assert rec["method"] == "task" and len(rec["placement_mean"]) == 4 and rec["settings"]["steps"] == 3

    real_step = ct._Builder.step

    def killed(self, k):
        if k == 2:
            raise KeyboardInterrupt
        return real_step(self, k)
    monkeypatch.setattr(ct._Builder, "step", killed)
    with pytest.raises(KeyboardInterrupt):
        ct.task_composite(*args, tmp_path / "resumed", seed=1, steps=3)
    assert not (tmp_path / "resumed").exists() and (tmp_path / ".resumed.ckpt.pt").exists()
    monkeypatch.setattr(ct._Builder, "step", real_step)
    resumed = ct.task_composite(*args, tmp_path / "resumed", seed=1, steps=3)
    assert _tree(resumed) == _tree(whole) and not (tmp_path / ".resumed.ckpt.pt").exists()


def test_composite_variants_are_opt_in_and_take_their_options_from_the_cli(toy, tmp_path):
    import argparse

    from synthgap.options import RunOptions, add_common_args, apply_args, check_options
    from synthgap.variants import VARIANTS, VariantContext
    for name in ("random-composite", "task-composite"):
        assert getattr(VARIANTS.get(name), "default", True) is False
    d = RunOptions(toy["real"] / "coco_annotations.json", toy["real"], toy["split"], Path("g.yaml"), toy["root"])
    ap = argparse.ArgumentParser()
    add_common_args(ap, d)
    opts = apply_args(d, ap.parse_args(["--variants", "random-composite", "--random-composite-bg-cutouts",
                                        "--random-composite-blend-px", "0.5", "--total", "3"]))
    check_options(opts)
    assert opts.variant_params == {"random-composite": {"bg_cutouts": True, "blend_px": 0.5}}
    import shutil
    shutil.copytree(toy["syn"], toy["root"] / "probes" / "cfg-a")          # a probe render: sprites come from it too
    ctx = VariantContext(opts, {}, toy["root"] / "sets", render=None, aligned=lambda: ("aligned-component", "plan.yaml"))
    out = toy["root"] / "sets" / "random-composite"
    VARIANTS.get("random-composite")().build(ctx, out)
    rec = json.loads((out / "coco_annotations.json").read_text())["info"]["composite"]
    assert rec["bg_cutouts"] is True and rec["blend_px"] == 0.5 and rec["total"] == 3
    assert rec["source"] == [str(toy["syn"].resolve()), str((toy["root"] / "probes" / "cfg-a").resolve())]
    from core.api import UserError
    with pytest.raises(UserError, match="--task-composite-steps: the set task-composite is not rendered"):
        apply_args(d, ap.parse_args(["--task-composite-steps", "4"]))     # a set the run does not render


def test_only_whole_objects_become_sprites():
    """A sprite is a whole object: one cut by the frame, one touching another labelled object or a small one is
    a fragment, not a sprite."""
    from align.composite import MIN_SPRITE_PX, whole

    def rect(y0, y1, x0, x1):
        m = np.zeros((100, 80), bool)
        m[y0:y1, x0:x1] = True
        return m
    free, cut, small = rect(10, 50, 10, 40), rect(60, 100, 10, 40), rect(60, 60 + MIN_SPRITE_PX - 1, 50, 60)
    assert whole([free, cut, small], 0) and not whole([free, cut, small], 1) and not whole([free, cut, small], 2)
    touching = rect(50, 90, 20, 45)                            # one row below `free`: within TOUCH_PX
    assert not whole([free, touching], 0) and not whole([free, touching], 1) and whole([free, None], 0)


def test_a_collapsed_synthesizer_is_named():
    """collapse_note: uniform placements pass; one number stuck at a bound is named with its mean."""
    from benchmark.composite_task import collapse_note
    rng = np.random.default_rng(0)
    us = rng.random((120, 4))
    assert collapse_note(us) is None
    us[:, 0] = 0.001 + rng.random(120) * 0.01
    note = collapse_note(us)
    assert note is not None and "size 0.01" in note and "cx" not in note


def test_the_spread_term_is_the_placements_kl_to_uniform_draws_and_stops_a_collapse():
    """_Synth's KL estimate: 0 at the start; its mean is the exact KL of a shifted logistic under a constant shift;
    its Jacobian is autograd's; under a pull of one number to its top bound it keeps the draws spread, where the
    pull alone collapses them."""
    import torch
    from scipy.integrate import quad

    from benchmark.composite_task import COLLAPSE_SD, _Synth
    torch.manual_seed(0)
    s = _Synth(3)
    r = torch.rand(64, 4)
    u, kl = s(torch.zeros(1, 3), torch.randn(64, 3), r)
    assert torch.allclose(u, r.clamp(0.01, 0.99), atol=1e-6) and kl.abs().max() < 1e-5
    with torch.no_grad():
        s.net[2].bias[:] = torch.tensor([1.5, 0.0, 0.0, -0.5])
    _, kl = s(torch.zeros(1, 3), torch.zeros(100_000, 3), torch.rand(100_000, 4))

    def logistic_kl(d):          # KL(Logistic(d, 1) || Logistic(0, 1)), by quadrature
        f = lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2        # noqa: E731
        return quad(lambda x: f(x) * (np.log(f(x)) - np.log(f(x + d))), -50, 50)[0]
    assert abs(kl.mean().item() - logistic_kl(1.5) - logistic_kl(-0.5)) < 0.01

    torch.nn.init.normal_(s.net[2].weight, std=0.3)          # the estimate against autograd's Jacobian of S
    fp, fs, r = torch.randn(1, 3), torch.randn(1, 3), 0.05 + 0.9 * torch.rand(1, 4)
    z = lambda lg: torch.logit(s(fp, fs, torch.sigmoid(lg)[None])[0])[0]    # noqa: E731
    jac = torch.autograd.functional.jacobian(z, torch.logit(r)[0])
    u, kl = s(fp, fs, r)
    log_density_r = (torch.log(r) + torch.log1p(-r)).sum()
    log_density_u = (torch.log(u) + torch.log1p(-u)).sum()
    assert torch.allclose(kl[0], log_density_r - log_density_u - torch.linalg.slogdet(jac).logabsdet, atol=1e-4)

    def pulled(w_spread):
        torch.manual_seed(0)
        syn = _Synth(3)
        opt = torch.optim.Adam(syn.net.parameters(), lr=1e-2)
        for _ in range(300):
            u, kl = syn(fp, torch.randn(32, 3), torch.rand(32, 4))
            opt.zero_grad()
            (-5 * u[:, 0].mean() + w_spread * kl.mean()).backward()
            opt.step()
        with torch.no_grad():
            return syn(fp, torch.randn(500, 3), torch.rand(500, 4))[0][:, 0].std().item()
    assert pulled(0.0) < COLLAPSE_SD < pulled(1.0)
