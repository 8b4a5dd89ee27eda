"""The CUT refiner (`synthgap refine train --method cut`): contrastive unpaired translation (Park et al. 2020),
one-sided, from renders toward the exposed photos; issue 24's stronger option, meant for a GPU.

Choices, and why:
- **Generator** `CutGenerator`: CUT's ResNet generator: a 7x7 conv, two stride-2 3x3 convs (c, 2c, 4c channels),
  `blocks` residual blocks at a quarter of the resolution, two bilinear x2 upsamplings each followed by a 3x3 conv
  (not transposed convs: no checkerboard, and an edge stays where it was), a 7x7 conv and tanh; instance norm
  and reflection padding as in CUT. Unlike the learned refiner (align/refine_net.py) the output is not a bounded
  residual: the network may redraw the image, which is what makes it stronger and riskier. An image whose sides
  are not multiples of 4 is reflection-padded and cropped back, so a refined image has its render's size.
- **PatchNCE** (the content term): the generator's own encoder maps the render x and its translation G(x); at
  `NCE_PATCHES` random locations of each of five layers (the pixels, the three encoder convs, the middle
  residual block) a two-layer MLP head projects and L2-normalises the features, and InfoNCE (temperature
  `NCE_TAU`) makes each location of G(x) pick the same location of x among the other sampled locations of the
  same image. The location stays the content: no pixel loss ties the look to the render.
- **Identity PatchNCE**: the same loss between an exposed photo and G(photo), so G leaves what already looks
  like a photo alone (CUT's default, lambda_NCE 1 for both).
- **Discriminator**: the PatchGAN of align/refine_net.py with the least-squares loss, and DiffAugment on both
  real and translated crops, which CUT does not use: with 10-50 photos a discriminator memorises them without it.
- Loss of G and the heads: LSGAN + `NCE_WEIGHT` * (PatchNCE + identity PatchNCE) / 2; Adam (lr 2e-4, betas
  0.5/0.999), one discriminator step per generator step, random `crop` px crops (CUT trains at 256 px on a
  GPU; `--crop 128` keeps a 2-core CPU step under a second at the default width).
- `base`: as for the learned refiner, the renders are colour-transferred to the photos first when base is
  "colour", so CUT learns what colour statistics leave.
- Width: `channels` (c) and `blocks` of the shared RefinerSettings (16 and 4 by default, for a CPU; CUT's own are
  64 and 9).
Boxes stay exact only if the translation keeps every edge: align/refine.py's geometry check refuses a refined set
whose objects moved, as it does for every refiner.

Determinism and resume as the learned refiner's (shared crops, augmentation and checkpoint code): each step
draws its crops from np.random.default_rng([seed, step]), its patch locations and augmentation from torch
generators seeded by (seed, step); the checkpoint keeps the generator, heads, discriminator and optimisers.
"""
from __future__ import annotations

import numpy as np

NCE_PATCHES, NCE_TAU, NCE_WEIGHT, HEAD_DIM = 256, 0.07, 1.0, 256


def _cut_nets(s):
    """(CutGenerator, the PatchNCE heads, one per encoder layer) for RefinerSettings `s`."""
    from torch import nn
    from torch.nn import functional as F

    def conv(ci, co, k, stride=1):
        return [nn.ReflectionPad2d(k // 2), nn.Conv2d(ci, co, k, stride), nn.InstanceNorm2d(co), nn.ReLU(True)]

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(*conv(c, c, 3), nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3),
                                      nn.InstanceNorm2d(c))

        def forward(self, x):
            return x + self.body(x)

    class CutGenerator(nn.Module):
        def __init__(self, c, blocks):
            super().__init__()
            half = max(1, blocks // 2)
            self.enc = nn.ModuleList([nn.Sequential(*conv(3, c, 7)), nn.Sequential(*conv(c, 2 * c, 3, 2)),
                                      nn.Sequential(*conv(2 * c, 4 * c, 3, 2)),
                                      nn.Sequential(*[Block(4 * c) for _ in range(half)])])
            self.dec = nn.Sequential(*[Block(4 * c) for _ in range(blocks - half)],
                                     nn.Upsample(scale_factor=2, mode="bilinear"), *conv(4 * c, 2 * c, 3),
                                     nn.Upsample(scale_factor=2, mode="bilinear"), *conv(2 * c, c, 3),
                                     nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh())
            self.layer_channels = [3, c, 2 * c, 4 * c, 4 * c]

        def encode(self, x01):
            """The five PatchNCE layers of an image batch in [0, 1]."""
            h = x01 * 2 - 1
            feats = [h]
            for layer in self.enc:
                h = layer(h)
                feats.append(h)
            return feats

        def forward(self, x01):
            hh, ww = x01.shape[2:]
            ph, pw = -hh % 4, -ww % 4
            x = F.pad(x01, (0, pw, 0, ph), mode="reflect") if ph or pw else x01
            y = (self.dec(self.encode(x)[-1]) + 1) / 2
            return y[:, :, :hh, :ww]

    gen = CutGenerator(s.channels, s.blocks)
    heads = nn.ModuleList([nn.Sequential(nn.Linear(c, HEAD_DIM), nn.ReLU(), nn.Linear(HEAD_DIM, HEAD_DIM))
                           for c in gen.layer_channels])
    return gen, heads


def build_cut_generator(s):
    return _cut_nets(s)[0]


def patch_nce(feats_q, feats_k, heads, gen):
    """Mean PatchNCE over layers: each sampled location of q must pick its own location of k (detached) among
    the image's other sampled locations. `gen`: the torch.Generator of the locations."""
    import torch
    total = 0.0
    for fq, fk, head in zip(feats_q, feats_k, heads):
        n, c, h, w = fq.shape
        p = min(NCE_PATCHES, h * w)
        idx = torch.randperm(h * w, generator=gen)[:p].to(fq.device)
        q = torch.nn.functional.normalize(head(fq.flatten(2)[:, :, idx].transpose(1, 2)), dim=-1)
        k = torch.nn.functional.normalize(head(fk.detach().flatten(2)[:, :, idx].transpose(1, 2)), dim=-1)
        logits = q @ k.transpose(1, 2) / NCE_TAU                                      # n x p x p
        target = torch.arange(p, device=fq.device).expand(n, p)
        total = total + torch.nn.functional.cross_entropy(logits.reshape(n * p, p), target.reshape(-1))
    return total / len(heads)


def train_cut(renders: list[np.ndarray], photos: list[np.ndarray], s, ckpt, device: str = "cpu",
              progress=None) -> dict:
    """Train (or resume from `ckpt`) CUT and -> the generator's state_dict (the arguments as
    refine_net.train_refiner's; CUT uses no masks)."""
    import torch

    from align.refine_net import _crops, _nets, _resume, adversarial_step, save_checkpoint
    torch.manual_seed(s.seed)
    gen_net, heads = _cut_nets(s)
    disc = _nets(s)[1]
    opt_g = torch.optim.Adam([*gen_net.parameters(), *heads.parameters()], lr=s.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=s.lr, betas=(0.5, 0.999))
    parts = {"g": gen_net, "heads": heads, "d": disc, "opt_g": opt_g, "opt_d": opt_d}
    start = _resume(ckpt, s, parts, None)
    for m in (gen_net, heads, disc):
        m.to(device)
    for step in range(start, s.steps):
        rng, tg = np.random.default_rng([s.seed, step]), torch.Generator().manual_seed(s.seed * 1_000_003 + step)
        x, _ = _crops(renders, None, s.batch, s.crop, rng)
        real, _ = _crops(photos, None, s.batch, s.crop, rng)
        x, real = torch.from_numpy(x).to(device), torch.from_numpy(real).to(device)
        y, idt = gen_net(torch.cat([x, real])).split(len(x))
        loss_d, adv = adversarial_step(disc, opt_d, real, y, tg)
        nce = patch_nce(gen_net.encode(y), gen_net.encode(x), heads, tg)
        nce_idt = patch_nce(gen_net.encode(idt), gen_net.encode(real), heads, tg)
        loss_g = adv + NCE_WEIGHT * (nce + nce_idt) / 2
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        done = step + 1
        if done % s.ckpt_every == 0 or done == s.steps:
            save_checkpoint(ckpt, done, s, parts)
        if progress is not None:
            progress(done, s.steps, f"d {loss_d.item():.3f} adv {adv.item():.3f} nce {nce.item():.3f} "
                                    f"idt {nce_idt.item():.3f}")
    return {k: v.cpu() for k, v in gen_net.state_dict().items()}
