"""`task-composite` (seed 000, task-aware compositing): a synthesizer learns placements the detector finds hard.

The pieces are align/composite.py's (sprites of a rendered set, plates of the exposed photos, the placement
numbers bounded by the exposed photos' boxes, the differentiable paste). The synthesizer S is an MLP on frozen
ImageNet MobileNetV2 features of the plate and of the sprite (align/refine_net.FrozenFeatures, pooled) and a
uniform draw r of the four placement numbers (the noise); it outputs sigmoid(logit r + delta), its last layer
starting at zero, so S starts as random-composite's uniform placement and what it learns is the task's shift.
The target network is the benchmark's Faster R-CNN (benchmark/frcnn_init.build_model, ImageNet start).
Alternating, as in the paper, every step:
1. S step: BATCH composites with S's placements; S descends  -L_det(composites) + w_real * MMD^2(F(composites),
   F(exposed photos)) + w_spread * KL, the realism term (the KID kernel, align/refine_net.mmd2) that keeps the
   composites near the photos' look, and the spread term: KL(S's placements for a plate and sprite || the uniform
   draws), the mean over the batch's objects of its exact one-sample estimate by change of variables,
   sum_i [log r_i(1-r_i) - log u_i(1-u_i)] - log|det(I + d delta / d logit r)| (S is a flow of the noise; the
   Jacobian of the MLP is W2 diag(relu') W1, exact, 4 x 4). It is 0 at the start and grows without bound as
   S collapses the draws to one placement, which maximising the detector's loss alone did on the 10-photo
   bottles split (studies/bottles/RESULTS.md); the realism term, a distance between image features, did not
   stop it. The gradient reaches S through `grid_sample`; the boxes are the visible masks' (detached);
2. detector step: one SGD step on the same composites (detached) and BATCH exposed photos, 1:1.
After `steps` steps the set is `total` composites with S's placements for fresh noise (and `bg_cutouts` as in
random-composite); the detector is not kept (the benchmark trains its own on the set, as on every set).

Only exposed photos are read (the photo bank of align/refine_pixels, and their boxes). Checkpoint every
CKPT_EVERY steps (S, the detector and both optimizers) beside the set (`.<set>.ckpt.pt`); each step seeds its
draws by (seed, step), so a resumed build ends where an uninterrupted one does. Cost: per step one detector
forward/backward through the pixels for S and one SGD step on 2 x BATCH images; progress shows the losses.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from align.composite import (Bounds, annotations, bg_cutouts, complete, cut_sprites, draw_objects, load_plates,
                             paste, source_categories, sources, to_tensor, to_uint8, write_set)
from benchmark.refine_task import det_targets

BATCH = 2
CKPT_EVERY = 25
HIDDEN = 128
COLLAPSE_SD = 0.05           # a placement number's sd under this (uniform: 0.29) is a collapsed synthesizer
PLACEMENT = ("size", "cx", "cy", "rotation")


def collapse_note(us: np.ndarray) -> str | None:
    """A warning when the synthesizer's placements (n x 4, each in [0, 1] of its bound) collapsed: every draw of
    some number at nearly one value (sd < COLLAPSE_SD). On the 10-photo bottles split the detector's loss drove all
    four to a corner of the bounds and the set trained to half of random-composite's mAP
    (studies/bottles/RESULTS.md)."""
    if len(us) < 2:
        return None
    sd, mean = us.std(axis=0), us.mean(axis=0)
    flat = [f"{n} {m:.2f}" for n, m, d in zip(PLACEMENT, mean, sd) if d < COLLAPSE_SD]
    if not flat:
        return None
    return (f"warning: the synthesizer's placements collapsed ({', '.join(flat)} of their bounds, sd < "
            f"{COLLAPSE_SD}): the set is one placement, not a hard distribution; raise "
            "--task-composite-w-spread or lower --task-composite-steps, or use random-composite")


@dataclass
class TaskSettings:
    steps: int = 150
    w_real: float = 1.0
    w_spread: float = 1.0
    lr_syn: float = 1e-3
    lr_det: float = 0.005
    seed: int = 0


class _Synth:
    """S: features of plate and sprite + a uniform draw r -> four placement numbers sigmoid(logit r + delta), the
    last layer starting at zero, so S starts as random-composite's uniform placement (module docstring)."""

    def __init__(self, dim: int):
        import torch
        self.net = torch.nn.Sequential(torch.nn.Linear(2 * dim + 4, HIDDEN), torch.nn.ReLU(),
                                       torch.nn.Linear(HIDDEN, 4))
        torch.nn.init.zeros_(self.net[2].weight)
        torch.nn.init.zeros_(self.net[2].bias)

    def __call__(self, f_plate, f_sprites, r):
        """(placements u, n x 4; the spread term's estimate of KL(u || uniform) per object, n)."""
        import torch
        from torch.nn.functional import logsigmoid
        logit = torch.logit(r.clamp(0.01, 0.99))
        x = torch.cat([f_plate.expand(len(f_sprites), -1), f_sprites, logit], dim=1)
        hidden = self.net[0](x)
        z = logit + self.net[2](torch.relu(hidden))
        lin, lout = self.net[0].weight[:, -4:], self.net[2].weight          # d hidden / d logit, d delta / d relu
        jac = (lout[None] * (hidden > 0).to(lout.dtype)[:, None, :]) @ lin     # n x 4 x 4: d delta / d logit
        logdet = torch.linalg.slogdet(torch.eye(4, dtype=jac.dtype) + jac).logabsdet
        kl = (logsigmoid(logit) + logsigmoid(-logit) - logsigmoid(z) - logsigmoid(-z)).sum(1) - logdet
        return torch.sigmoid(z), kl


class _Builder:
    def __init__(self, set_dir, plates_dir, photos, photo_boxes, bounds: Bounds, s: TaskSettings, cutouts: bool,
                 blend_px: float):
        import torch

        from align.refine_net import FrozenFeatures
        from benchmark.frcnn_init import build_model
        torch.manual_seed(s.seed * 1_000_003 + 25)
        self.s, self.bounds, self.cutouts, self.blend = s, bounds, cutouts, blend_px
        self.sprites, self.plates = cut_sprites(sources(set_dir)), [to_tensor(p) for p in load_plates(plates_dir)]
        self.names = [c["name"] for c in sorted(source_categories(sources(set_dir)[0]), key=lambda c: int(c["id"]))]
        self.feats = FrozenFeatures()
        with torch.no_grad():
            self.f_plates = [self.feats(p[None]) for p in self.plates]
            self.f_sprites = {id(sp): self.feats(to_tensor(sp.rgb)[None]) for sp in self.sprites}
            self.bank = torch.cat([self.feats(to_tensor(p)[None]) for p in photos])
        keep = [i for i, b in enumerate(photo_boxes) if any(n in self.names for n, _ in b)]
        self.photos, self.photo_boxes = [photos[i] for i in keep], [photo_boxes[i] for i in keep]
        self.syn = _Synth(self.bank.shape[1])
        H, W = self.plates[0].shape[1:]
        self.det, _, _ = build_model(self.names, max(H, W), "auto")
        self.det.train()
        self.opt_s = torch.optim.Adam(self.syn.net.parameters(), lr=s.lr_syn)
        self.opt_d = torch.optim.SGD([p for p in self.det.parameters() if p.requires_grad], lr=s.lr_det,
                                     momentum=0.9, weight_decay=1e-4)

    def compose(self, rng, grad: bool):
        """One composite with S's placements: (image tensor, annotations, placement numbers, their KL estimate)."""
        import torch
        objects = draw_objects(self.bounds, self.sprites, rng)
        p = int(rng.integers(len(self.plates)))
        z = torch.from_numpy(rng.uniform(0, 1, (len(objects), 4)).astype(np.float32))
        with torch.set_grad_enabled(grad):
            u, kl = self.syn(self.f_plates[p], torch.cat([self.f_sprites[id(o)] for o in objects]), z)
            img, masks = paste(self.plates[p], objects, u, self.bounds, self.blend)
        return img, annotations(masks, objects), u.detach(), kl

    def _loss(self, imgs, anns):
        tg = [det_targets([(n, b) for n, b, _ in a], self.names, "cpu") for a in anns]
        return sum(self.det(list(imgs), tg).values())

    def step(self, k: int) -> str:
        import torch
        torch.manual_seed(self.s.seed * 1_000_003 + k + 25)
        rng = np.random.default_rng([self.s.seed, k, 25])
        made = [self.compose(rng, True) for _ in range(BATCH)]
        made = [m for m in made if m[1]] or made[:0]
        if len(made) < 2:
            return " (no visible object drawn: step skipped)"
        imgs, anns = [m[0] for m in made], [m[1] for m in made]
        det_loss = self._loss(imgs, anns)
        real = mmd_real(self.feats(torch.stack(imgs)), self.bank)
        spread = torch.cat([m[3] for m in made]).mean()
        self.opt_s.zero_grad()
        g = torch.autograd.grad(-det_loss + self.s.w_real * real + self.s.w_spread * spread,
                                list(self.syn.net.parameters()))
        for p, gi in zip(self.syn.net.parameters(), g):
            p.grad = gi
        self.opt_s.step()
        pi = rng.choice(len(self.photos), BATCH, replace=len(self.photos) < BATCH)
        photos = [to_tensor(self.photos[i]) for i in pi]
        photo_anns = [[(n, b, None) for n, b in self.photo_boxes[i]] for i in pi]
        self.opt_d.zero_grad()
        loss = self._loss([i.detach() for i in imgs] + photos, anns + photo_anns)
        loss.backward()
        self.opt_d.step()
        return f" det {det_loss.item():.3f} mmd {real.item():.4f} kl {spread.item():.3f}"

    def state(self) -> dict:
        return {"syn": self.syn.net.state_dict(), "det": self.det.state_dict(), "opt_s": self.opt_s.state_dict(),
                "opt_d": self.opt_d.state_dict()}

    def load(self, st: dict) -> None:
        self.syn.net.load_state_dict(st["syn"])
        self.det.load_state_dict(st["det"])
        self.opt_s.load_state_dict(st["opt_s"])
        self.opt_d.load_state_dict(st["opt_d"])

    def generate(self, total: int) -> tuple[list, np.ndarray]:
        import torch
        rng, out, us = np.random.default_rng([self.s.seed, 26]), [], []
        for _ in range(int(total)):
            img, anns, u, _ = self.compose(rng, False)
            if self.cutouts:
                with torch.no_grad():
                    img = bg_cutouts(img, self.plates[int(rng.integers(len(self.plates)))], self.sprites,
                                     [b for _, b, _ in anns], self.bounds, rng, self.blend)
            out.append((to_uint8(img), anns))
            us.append(u.numpy())
        return out, np.concatenate(us) if us else np.zeros((0, 4))


def mmd_real(f_syn, bank):
    from align.refine_net import mmd2
    return mmd2(f_syn, bank)


def task_composite(set_dir: Path, plates_dir: Path, real_json: Path, images: Path, split: Path, bounds: Bounds,
                   total: int, out: Path, seed: int = 0, steps: int = 150, w_real: float = 1.0, w_spread: float = 1.0,
                   cutouts: bool = False, blend_px: float = 1.0, category: str | None = None) -> Path:
    """`task-composite` (module docstring) written as the dataset dir `out`; kept when complete for the same
    recipe; resumed from its checkpoint when killed. Only the split's exposed photos are read."""
    from align.refine import photo_boxes
    from align.refine_pixels import photo_bank
    from core.api import load_coco, load_split
    exposed = sorted(int(i) for i in load_split(split, real_json).exposed)
    real = load_coco(real_json, images, image_ids=exposed, category=category)
    plate = load_plates(plates_dir)[0]
    photos = photo_bank(real, exposed, max(plate.shape[:2]))
    return _build(set_dir, plates_dir, photos, photo_boxes(real, exposed, photos), bounds, total, out,
                  TaskSettings(steps=steps, w_real=w_real, w_spread=w_spread, seed=seed), cutouts, blend_px)


def _build(set_dir: Path, plates_dir: Path, photos: list, photo_boxes: list, bounds: Bounds, total: int,
           out: Path, s: TaskSettings, cutouts: bool, blend_px: float) -> Path:
    import torch

    from core.api import Progress, atomic_write_bytes, log
    info = {"composite": {"method": "task", "source": [str(p) for p in sources(set_dir)],
                          "plates": str(Path(plates_dir).resolve()), "total": int(total), "bg_cutouts": bool(cutouts),
                          "blend_px": blend_px, "bounds": bounds.record(), "settings": asdict(s)}}
    if complete(out, info):
        return out
    b = _Builder(set_dir, plates_dir, photos, photo_boxes, bounds, s, cutouts, blend_px)
    ckpt, done = Path(out).with_name(f".{Path(out).name}.ckpt.pt"), 0
    if ckpt.exists():
        from core.checkpoint import load_weights
        st = load_weights(ckpt, "task-composite checkpoint")
        if st.get("info") == info:
            b.load(st["state"])
            done = int(st["step"])
    with Progress(s.steps, "task-composite", initial=done) as bar:
        for k in range(done, s.steps):
            post = b.step(k)
            bar.update(1, postfix=post)
            if (k + 1) % CKPT_EVERY == 0 or k + 1 == s.steps:
                buf = io.BytesIO()
                torch.save({"info": info, "step": k + 1, "state": b.state()}, buf)
                atomic_write_bytes(ckpt, buf.getvalue())
    images, us = b.generate(total)
    info["composite"]["placement_mean"] = [round(float(v), 4) for v in us.mean(axis=0)] if len(us) else []
    info["composite"]["placement_sd"] = [round(float(v), 4) for v in us.std(axis=0)] if len(us) else []
    note = collapse_note(us)
    if note:
        log(f"{out}: {note}")
    write_set(out, images, source_categories(sources(set_dir)[0]), info)
    ckpt.unlink(missing_ok=True)
    return out
