"""The detector's term of the learned refiner (`synthgap refine train --method learned-task`; seed 003, DetectorGAN).

The refiner G is also trained so that a detector step on refined renders lowers the detector's loss on the
exposed photos: the unrolled objective L_real(theta'), theta' = theta - xi * grad_theta L_syn(theta, G(x)).
Its gradient with respect to G's weights phi is -xi * d2 L_syn / (d phi d theta) . v, v = grad L_real(theta').
torchvision's roi_align has no double backward, so the mixed second derivative is taken by finite differences as
DARTS does (Liu et al. 2019, eq. 8): with theta+- = theta +- eps v, eps = 0.01 / |v|,

    grad_phi ~= -xi * (grad_phi L_syn(theta+, G(x)) - grad_phi L_syn(theta-, G(x))) / (2 eps),

two first-order backward passes instead of one second-order one, through the whole detector (not only the box
head: the backbone's features of the refined pixels are where the refiner acts). The detector is trained
jointly, as in DetectorGAN: after each term it keeps theta' (one SGD step on refined renders). It starts from
`task_detector` (a benchmark cell's best.pt trained on the unrefined renders) or the ImageNet backbone.

Cost: every `task_every` generator steps, four detector forward/backward passes and two generator passes on
whole images (two renders, two exposed photos). The term's weight `w_task` multiplies the finite-difference
gradient; the progress line shows the detector's loss on the photos. Only exposed photos are used (the photo
bank of align/refine.py). Determinism: each term seeds torch's generator by (seed, step), and the detector's
weights are kept in the refiner's checkpoint, so a resumed training ends where an uninterrupted one does.
"""
from __future__ import annotations

import numpy as np

from align.composite import to_tensor
from align.refine import REFINERS, Learned

BATCH = 2


def det_targets(boxes, names: list[str], dev):
    import torch
    b = [[x, y, x + w, y + h] for n, (x, y, w, h) in boxes if n in names and w > 1 and h > 1]
    lab = [names.index(n) + 1 for n, (x, y, w, h) in boxes if n in names and w > 1 and h > 1]
    return {"boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4).to(dev),
            "labels": torch.tensor(lab, dtype=torch.int64).to(dev)}


class DetectorTerm:
    """The unrolled detector term (module docstring) as a train_refiner `task`."""

    def __init__(self, renders, boxes, photos, photo_boxes, names: list[str], s, device: str):
        import torch

        from benchmark.frcnn_init import build_model
        torch.manual_seed(s.seed * 1_000_003 + 11)        # the detector's new heads: the same for a seed
        self.s, self.dev, self.names, self.every = s, device, list(names), s.task_every
        keep = [i for i, b in enumerate(photo_boxes) if any(n in names for n, _ in b)]
        self.renders, self.boxes = renders, boxes
        self.photos, self.photo_boxes = [photos[i] for i in keep], [photo_boxes[i] for i in keep]
        imgsz = max(renders[0].shape[:2])
        self.det, _, _ = build_model(self.names, imgsz, s.task_detector or "auto")
        self.det.to(device).train()
        self.params = [p for p in self.det.parameters() if p.requires_grad]

    def state(self) -> dict:
        return {k: v.cpu() for k, v in self.det.state_dict().items()}

    def load(self, state: dict) -> None:
        self.det.load_state_dict(state)

    def _loss(self, imgs, tgts):
        return sum(self.det(imgs, tgts).values())

    def _set(self, values) -> None:
        import torch
        with torch.no_grad():
            for p, v in zip(self.params, values):
                p.copy_(v)

    def __call__(self, step: int, gen) -> str:
        import torch
        torch.manual_seed(self.s.seed * 1_000_003 + step + 17)
        rng = np.random.default_rng([self.s.seed, step, 17])
        ri = rng.choice(len(self.renders), BATCH, replace=len(self.renders) < BATCH)
        pi = rng.choice(len(self.photos), BATCH, replace=len(self.photos) < BATCH)
        x = torch.stack([to_tensor(self.renders[i]).to(self.dev) for i in ri])
        syn_t = [det_targets(self.boxes[i], self.names, self.dev) for i in ri]
        real = [to_tensor(self.photos[i]).to(self.dev) for i in pi]
        real_t = [det_targets(self.photo_boxes[i], self.names, self.dev) for i in pi]
        xi, theta = self.s.task_xi, [p.detach().clone() for p in self.params]
        with torch.no_grad():
            y = gen(x)
        g = torch.autograd.grad(self._loss(list(y), syn_t), self.params, allow_unused=True)
        inner = [t - xi * (gi if gi is not None else 0) for t, gi in zip(theta, g)]
        self._set(inner)
        loss_real = self._loss(real, real_t)
        v = torch.autograd.grad(loss_real, self.params, allow_unused=True)
        v = [vi if vi is not None else torch.zeros_like(t) for vi, t in zip(v, theta)]
        eps = 0.01 / max(float(torch.sqrt(sum((vi ** 2).sum() for vi in v))), 1e-12)
        gp = list(gen.parameters())
        grads = []
        for sign in (1.0, -1.0):
            self._set([t + sign * eps * vi for t, vi in zip(theta, v)])
            grads.append(torch.autograd.grad(self._loss(list(gen(x)), syn_t), gp, allow_unused=True))
        with torch.no_grad():
            for p, a, b in zip(gp, *grads):
                if a is None or b is None:
                    continue
                term = -xi * (a - b) / (2 * eps) * self.s.w_task
                p.grad = term if p.grad is None else p.grad + term
        self._set(inner)                       # the detector keeps its step on the refined renders (joint training)
        return f" real-loss {loss_real.item():.3f}"


class LearnedTask(Learned):
    description = ("the learned refiner plus the detector's term: a detector step on refined renders must lower "
                   "its loss on the exposed photos (DetectorGAN's unrolled objective, DARTS finite differences; "
                   "benchmark/refine_task.py)")

    def fit(self, ctx: dict) -> dict:
        def make_task(renders):
            return DetectorTerm(renders, ctx["boxes"], ctx["photos"], ctx["photo_boxes"], ctx["names"],
                                ctx["settings"], ctx["device"])
        return super().fit({**ctx, "make_task": make_task})


if "learned-task" not in REFINERS:
    REFINERS.register("learned-task", LearnedTask)
