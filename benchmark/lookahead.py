"""One-step lookahead: what each probed render config is worth to a trained Faster R-CNN (issue 25, task-aware
generation; DetectorGAN's unrolled real loss, seed 003, mapped onto the renderer's configs).

For a detector with weights theta (a benchmark cell's checkpoint) and a config c with probe renders:
    theta_c  = theta after `steps` plain SGD steps (learning rate `lr`, no momentum, batches of BATCH probe
               renders of c drawn by (seed, c), the cell's own augmentation off)
    value(c) = L_A(theta) - L_A(theta_c)         (> 0: training on c lowers the loss on the photos)
L_A is the detector's training loss (RPN objectness and box, box-head class and box terms, summed) on half A of
the exposed photos; the same difference on half B, which the steps never see either, is reported beside it
(`value_b`) so a reader can tell signal from noise (their rank correlation over the configs, `agreement`).
theta_c is computed, never differentiated through: the unrolled objective without second derivatives
(torchvision's roi_align has no double backward), as DARTS' first-order approximation. Every loss is taken
with torch seeded by (seed, half), so the RPN's and box head's samplers draw alike before and after the steps
and the difference is the weights', not the sampler's. The batch norm of the ImageNet backbone is frozen in
these models, so train mode (needed for the losses) changes no statistic. Only exposed photos are read (the
caller passes them); cost per config: `steps` forward/backward passes of BATCH renders plus one forward pass
over half A and one over half B.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BATCH = 2


@dataclass
class Halves:
    """The exposed photos split in two by a seeded draw (image ids), A drives the values, B checks them."""
    a: list[int]
    b: list[int]

    @classmethod
    def draw(cls, image_ids: list[int], seed: int) -> "Halves":
        ids = [int(i) for i in np.random.default_rng([seed, 31]).permutation(sorted(int(i) for i in image_ids))]
        k = max(1, len(ids) // 2)
        return cls(sorted(ids[:k]), sorted(ids[k:]) or sorted(ids[:k]))


def _batch(samples: list, dev) -> tuple[list, list]:
    """(images in [0, 1], targets) of Faster R-CNN samples on `dev`."""
    return ([s.image.to(dev).float() / 255.0 for s in samples],
            [{"boxes": s.boxes.to(dev), "labels": s.labels.to(dev)} for s in samples])


def _loss(model, samples: list, seed: int, dev) -> float:
    """The summed training loss of `samples` (no gradient), torch seeded by `seed` (module docstring)."""
    import torch
    torch.manual_seed(seed)
    model.train()
    total = 0.0
    with torch.no_grad():
        for k in range(0, len(samples), 4):
            chunk = samples[k:k + 4]
            total += float(sum(model(*_batch(chunk, dev)).values())) * len(chunk)
    return total / max(1, len(samples))


def _steps(model, renders: list, steps: int, lr: float, seed: int, dev) -> None:
    import torch
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.0)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        pick = rng.choice(len(renders), BATCH, replace=len(renders) < BATCH)
        loss = sum(model(*_batch([renders[i] for i in pick], dev)).values())
        opt.zero_grad()
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()


def config_values(weights: Path, renders: dict[str, list], photos: dict[int, object], halves: Halves, steps: int = 3,
                  lr: float = 0.005, seed: int = 0, imgsz: int = 320, progress=None) -> dict:
    """{"configs": {c: {"value_a", "value_b", "loss_a", "loss_b"}}, "before": {"a", "b"}, "agreement"} for the
    cell checkpoint `weights`, each config's probe renders (`renders`: c -> frcnn Samples with boxes) and the
    exposed photos (`photos`: image id -> Sample) split by `halves` (module docstring)."""
    import torch

    from benchmark.frcnn_init import checkpoint_model
    dev = torch.device("cpu")
    model, _ = checkpoint_model(Path(weights), imgsz, "--lookahead")
    model.to(dev)
    theta = {k: v.detach().clone() for k, v in model.state_dict().items()}
    a, b = [photos[i] for i in halves.a], [photos[i] for i in halves.b]
    base = {"a": _loss(model, a, seed * 1000 + 1, dev), "b": _loss(model, b, seed * 1000 + 2, dev)}
    out = {}
    for k, (name, samples) in enumerate(sorted(renders.items())):
        model.load_state_dict(theta)
        _steps(model, samples, steps, lr, seed * 1000 + 3 + k, dev)
        la, lb = _loss(model, a, seed * 1000 + 1, dev), _loss(model, b, seed * 1000 + 2, dev)
        out[name] = {"value_a": base["a"] - la, "value_b": base["b"] - lb, "loss_a": la, "loss_b": lb,
                     "renders": len(samples)}
        if progress is not None:
            progress(name, out[name])
    return {"configs": out, "before": base, "agreement": agreement(out), "steps": steps, "lr": lr,
            "halves": {"a": halves.a, "b": halves.b}}


def checkpoint_names(weights: Path) -> list[str]:
    """The class names a benchmark cell's Faster R-CNN checkpoint was trained on."""
    from benchmark.frcnn_init import _read_checkpoint
    return list(_read_checkpoint(Path(weights), "--lookahead").get("names") or [])


def agreement(values: dict[str, dict]) -> float | None:
    """Spearman's rho of the configs' values on half A against half B (None for fewer than 3 configs)."""
    if len(values) < 3:
        return None
    from scipy.stats import spearmanr
    va = [v["value_a"] for v in values.values()]
    vb = [v["value_b"] for v in values.values()]
    rho = spearmanr(va, vb).statistic
    return None if not np.isfinite(rho) else float(rho)
