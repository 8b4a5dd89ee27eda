"""The learned refiner: a small residual image-to-image network trained from renders toward the exposed photos.

Choices, and why (issue 24; seed 002 saw a GAN turn objects into other shapes below ~385 real photos, and we
have 10-50):
- **Generator** `ResidualRefiner` (SimGAN, Shrivastava et al. 2017): y = clamp(x + bound * tanh(r(x)), 0, 1),
  r = a 3x3 conv head, `blocks` residual blocks of two 3x3 convs at full resolution, a 1x1 tail initialised to
  zero (the untrained refiner is the identity). Fully convolutional, so it trains on crops and refines whole
  images of any size; the residual is bounded (`bound`, default 0.2 of the pixel range), so it can change
  colour, tone, noise and blur but cannot move an object or draw a new one. No normalisation layers: an image's
  refinement does not depend on its batch.
- **Discriminator** `PatchDiscriminator` (pix2pix's PatchGAN, shallow: three 4x4 convs, receptive field 22 px)
  with the least-squares GAN loss, trained on random `crop` px crops; both real and refined crops pass through
  the same differentiable augmentation (DiffAugment, Zhao et al. 2020: brightness, contrast, translation,
  cutout), which keeps a discriminator from memorising 30 photos.
- **MMD term**: unbiased MMD^2 (the KID kernel of align/realism.py) between frozen ImageNet MobileNetV2
  features of the refined crops and a fixed bank of the exposed photos' crop features: it pulls the look toward
  the photos' feature statistics, the figure the report reads (KID), with a gradient that needs no adversary.
- **Masked content loss** (the renderer's exact masks): L1 between refined and render, weighted `w_object`
  inside the objects' masks and `w_background` outside: the objects keep their shape and colour identity, the
  background may move further toward the photos.
- Loss of the generator: adv + w_mmd * MMD^2 + content; of the discriminator: LSGAN. Adam (lr 2e-4, betas
  0.5/0.999) for both, one discriminator step per generator step.
CUT (patch-wise contrastive, unbounded ResNet generator) is the stronger option on a GPU: align/refine_cut.py,
which shares this module's crops, DiffAugment, discriminator and checkpoints.

Determinism and resume: every step draws its crops from np.random.default_rng([seed, step]) and its
augmentation from a torch.Generator seeded by (seed, step); a checkpoint (models, optimisers, step) is written
atomically every `ckpt_every` steps, so a killed training resumes where it stopped and ends with the same
weights as an uninterrupted one (on the CPU, same thread count). On a GPU the result is not bit-reproducible.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.io import atomic_write_bytes


@dataclass(frozen=True)
class RefinerSettings:
    steps: int = 1500
    crop: int = 64
    batch: int = 8
    channels: int = 16
    blocks: int = 4
    bound: float = 0.2
    w_mmd: float = 1.0
    w_object: float = 5.0
    w_background: float = 0.5
    lr: float = 2e-4
    bank: int = 256              # exposed-photo crops in the MMD bank
    ckpt_every: int = 250
    seed: int = 0
    base: str = "colour"         # the residual is learned on top of: "colour" (Reinhard transfer first) or "none"
    w_task: float = 1.0          # learned-task only (benchmark/refine_task.py): weight of the detector's term,
    task_every: int = 10         # taken every this many steps,
    task_xi: float = 0.01        # the detector's inner SGD step,
    task_detector: str = ""      # its start: a benchmark cell's best.pt ("" = the ImageNet start)

    def record(self) -> dict:
        return asdict(self)


def _nets(s: RefinerSettings):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.a, self.b = nn.Conv2d(c, c, 3, padding=1, padding_mode="replicate"), \
                nn.Conv2d(c, c, 3, padding=1, padding_mode="replicate")

        def forward(self, x):
            return x + self.b(torch.nn.functional.leaky_relu(self.a(x), 0.2))

    class ResidualRefiner(nn.Module):
        def __init__(self, c, blocks, bound):
            super().__init__()
            self.bound = bound
            self.head = nn.Conv2d(3, c, 3, padding=1, padding_mode="replicate")
            self.body = nn.Sequential(*[Block(c) for _ in range(blocks)])
            self.tail = nn.Conv2d(c, 3, 1)
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

        def forward(self, x):
            r = self.tail(torch.nn.functional.leaky_relu(self.body(torch.nn.functional.leaky_relu(
                self.head(x), 0.2)), 0.2))
            return (x + self.bound * torch.tanh(r)).clamp(0.0, 1.0)

    disc = nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
                         nn.LeakyReLU(0.2), nn.Conv2d(64, 1, 4, 1, 1))
    return ResidualRefiner(s.channels, s.blocks, s.bound), disc


def build_generator(s: RefinerSettings):
    return _nets(s)[0]


def diff_augment(x, gen):
    """DiffAugment (colour, translation, cutout) with one draw per image from the CPU torch.Generator `gen`
    (the draws are made on the CPU, so a step's augmentation is the same on any device)."""
    import torch
    n, _, h, w = x.shape
    r = lambda *shape: torch.rand(*shape, generator=gen)                          # noqa: E731
    bright, contrast = r(n, 1, 1, 1).to(x.device), r(n, 1, 1, 1).to(x.device)
    x = x + (bright - 0.5) * 0.4                                                   # brightness
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - m) * (contrast + 0.5) + m                                             # contrast
    sy, sx = (r(2) * 0.25 * torch.tensor([h, w])).long().tolist()                 # translation (wrapped)
    x = torch.roll(x, shifts=(sy, sx), dims=(2, 3))
    cy, cx = int(r(1) * h), int(r(1) * w)                                          # cutout, half-size
    keep = torch.ones(1, 1, h, w, device=x.device)
    keep[..., max(0, cy - h // 4):cy + h // 4, max(0, cx - w // 4):cx + w // 4] = 0
    return x * keep


class FrozenFeatures:
    """Frozen ImageNet MobileNetV2 (align/features.py's weights), eager, so the gradient reaches the pixels."""

    def __init__(self):
        import torch
        from align.features import _MEAN, _STD, _imagenet_mobilenet
        self.net = _imagenet_mobilenet()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.mean, self.std = torch.tensor(_MEAN).view(1, 3, 1, 1), torch.tensor(_STD).view(1, 3, 1, 1)

    def __call__(self, x):
        return self.net((x - self.mean.to(x.device)) / self.std.to(x.device)).mean(dim=(2, 3))


def mmd2(x, y):
    """Unbiased MMD^2 with the KID cubic kernel (align/realism.py), differentiable (torch)."""
    d = x.shape[1]
    kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
    n, m = len(x), len(y)
    return ((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean())


def _crops(images: list[np.ndarray], masks: list[np.ndarray] | None, n: int, size: int, rng):
    """n random size x size crops (float32 NCHW in [0, 1]) and their mask crops (or None)."""
    xs, ms = [], []
    for _ in range(n):
        k = int(rng.integers(0, len(images)))
        im = images[k]
        h, w = im.shape[:2]
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        xs.append(im[y:y + size, x:x + size])
        if masks is not None:
            ms.append(masks[k][y:y + size, x:x + size])
    x = np.stack(xs).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return x, (np.stack(ms).astype(np.float32)[:, None] if masks is not None else None)


def adversarial_step(disc, opt_d, real, fake, tg):
    """One LSGAN discriminator step on DiffAugmented real and (detached) generated crops -> (its loss, the
    generator's adversarial loss on `fake` against the updated discriminator, to add to the generator's)."""
    d_real, d_fake = disc(diff_augment(real, tg)), disc(diff_augment(fake.detach(), tg))
    loss_d = ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d, ((disc(diff_augment(fake, tg)) - 1) ** 2).mean()


def torch_bytes(obj) -> bytes:
    """`obj` as torch.save writes it (what atomic_write_bytes then stores)."""
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_checkpoint(ckpt: Path, step: int, s: RefinerSettings, parts: dict, task_state=None) -> None:
    """Write what _resume reads back: the step, the settings, every part's state_dict (nets and optimisers by
    key) and the task's state, atomically."""
    atomic_write_bytes(ckpt, torch_bytes({"step": step, "settings": s.record(),
                                          **{k: v.state_dict() for k, v in parts.items()}, "task": task_state}))


def _resume(ckpt: Path, s: RefinerSettings, parts: dict, task) -> int:
    """Load a checkpoint of the same settings into `parts` (nets and optimisers by key) -> its step, else 0."""
    from core.checkpoint import load_weights
    if not ckpt.exists():
        return 0
    st = load_weights(ckpt, "refiner checkpoint")
    if st.get("settings") != s.record():
        return 0
    for k, v in parts.items():
        v.load_state_dict(st[k])
    if task is not None and st.get("task") is not None:
        task.load(st["task"])
    return int(st["step"])


def train_refiner(renders: list[np.ndarray], masks: list[np.ndarray], photos: list[np.ndarray],
                  s: RefinerSettings, ckpt: Path, device: str = "cpu", progress=None, task=None) -> dict:
    """Train (or resume from `ckpt`) and -> the generator's state_dict. `renders`/`masks`: uint8 HxWx3 renders
    and their boolean object masks; `photos`: the exposed photo bank (refine_pixels.photo_bank), each at least
    `s.crop` px on both sides. `progress(step, total, postfix)` is called after each step. `task` (the detector's
    term, benchmark/refine_task.py): an object with `every`, `__call__(step, generator) -> str` that adds its
    gradient to the generator's before the step, and `state()` / `load(state)` kept in the checkpoint."""
    import torch
    torch.manual_seed(s.seed)
    gen_net, disc = _nets(s)
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=s.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=s.lr, betas=(0.5, 0.999))
    parts = {"g": gen_net, "d": disc, "opt_g": opt_g, "opt_d": opt_d}
    start = _resume(ckpt, s, parts, task)
    gen_net.to(device)
    disc.to(device)
    feats = FrozenFeatures()
    feats.net.to(device)
    with torch.no_grad():
        bank_x, _ = _crops(photos, None, s.bank, s.crop, np.random.default_rng([s.seed, 10 ** 9]))
        bank = torch.cat([feats(torch.from_numpy(bank_x[i:i + 64]).to(device)) for i in range(0, s.bank, 64)])
    for step in range(start, s.steps):
        rng, tg = np.random.default_rng([s.seed, step]), torch.Generator().manual_seed(s.seed * 1_000_003 + step)
        x, m = _crops(renders, masks, s.batch, s.crop, rng)
        real, _ = _crops(photos, None, s.batch, s.crop, rng)
        x, m, real = (torch.from_numpy(a).to(device) for a in (x, m, real))
        pick = torch.from_numpy(rng.choice(s.bank, size=min(s.bank, 4 * s.batch), replace=False)).to(device)
        y = gen_net(x)
        loss_d, adv = adversarial_step(disc, opt_d, real, y, tg)
        # generator: fool the discriminator, match the photos' features, keep the content under the masks
        mm = mmd2(feats(y), bank[pick])
        w = s.w_object * m + s.w_background * (1 - m)
        content = (w * (y - x).abs()).mean()
        loss_g = adv + s.w_mmd * mm + content
        opt_g.zero_grad()
        loss_g.backward()
        note = task(step, gen_net) if task is not None and step % task.every == 0 else ""
        opt_g.step()
        done = step + 1
        if done % s.ckpt_every == 0 or done == s.steps:
            save_checkpoint(ckpt, done, s, parts, task.state() if task is not None else None)
        if progress is not None:
            progress(done, s.steps, f"d {loss_d.item():.3f} adv {adv.item():.3f} mmd {mm.item():.4f} "
                                    f"content {content.item():.4f}{note}")
    return {k: v.cpu() for k, v in gen_net.state_dict().items()}


def refine_image(net, rgb: np.ndarray, device: str = "cpu") -> np.ndarray:
    """uint8 HxWx3 -> the generator's refined uint8 image (whole image; the network is fully convolutional)."""
    import torch
    with torch.no_grad():
        x = torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255.0).to(device)
        y = net(x)[0].cpu().numpy().transpose(1, 2, 0)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
