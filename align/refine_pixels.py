"""The non-learned refiners: what a render's pixels become under colour transfer or Fourier domain adaptation.

Both are cheap, strong baselines of the sim-to-real literature, and both leave the geometry where it was (they
change colour statistics and low spatial frequencies only), so boxes and masks stay exact:

- `colour` (Reinhard et al. 2001, "Color transfer between images"): in the decorrelated l-alpha-beta space
  (RGB -> LMS -> log10 -> l-alpha-beta), each channel of the render is shifted and scaled to the mean and
  standard deviation of the exposed photos' pixels pooled over every photo (the target look, one set of six
  numbers), then converted back. Pooled rather than per-photo statistics: one photo's colour cast is not the
  real set's look.
- `fda` (Yang & Soatto 2020, "FDA: Fourier Domain Adaptation"): the centred low-frequency square of the
  render's amplitude spectrum (half-width `beta` x the shorter side, beta = 0.01 as in the paper's best single
  model, at least one frequency) is replaced by that of one exposed photo resized to the render's size; the
  render's phase is kept, so edges and layout stay. The photo is drawn per image from the exposed bank by
  (seed, image id): reproducible and independent of order.

`photo_bank` is the one place photos are read for refinement: the *exposed* photos only (the split's test photos
are never opened), each resized so its longer side is the renders' longer side (the scale the renders have),
kept in memory as uint8 arrays.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FDA_BETA = 0.01
_RGB2LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
_LMS2LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])


def photo_bank(cs, exposed: list[int], long_side: int) -> list[np.ndarray]:
    """uint8 (h, w, 3) arrays of the exposed photos of CocoSet `cs` (in `exposed` order), resized so the longer
    side is `long_side` (module docstring). Only these files are opened."""
    from PIL import Image
    by_id = {int(im["id"]): im for im in cs.images}
    out = []
    for i in exposed:
        with Image.open(cs.image_path(by_id[int(i)])) as im:
            im = im.convert("RGB")
            s = long_side / max(im.size)
            out.append(np.asarray(im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))),
                                            Image.BICUBIC), dtype=np.uint8))
    return out


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    lms = np.clip(rgb.reshape(-1, 3).astype(np.float64) / 255.0 @ _RGB2LMS.T, 1e-4, None)
    return np.log10(lms) @ _LMS2LAB.T


def _from_lab(lab: np.ndarray, shape: tuple) -> np.ndarray:
    lms = 10.0 ** (lab @ np.linalg.inv(_LMS2LAB).T)
    rgb = lms @ np.linalg.inv(_RGB2LMS).T
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8).reshape(shape)


def colour_stats(photos: list[np.ndarray]) -> dict:
    """{"mean": [3], "std": [3]}: the l-alpha-beta statistics of every exposed pixel, pooled."""
    lab = np.concatenate([_to_lab(p) for p in photos])
    return {"mean": lab.mean(0).tolist(), "std": lab.std(0).tolist()}


def colour_transfer(rgb: np.ndarray, stats: dict) -> np.ndarray:
    """The render `rgb` (uint8 HxWx3) with its l-alpha-beta mean and sd moved to `stats` (module docstring)."""
    lab = _to_lab(rgb)
    mu, sd = lab.mean(0), lab.std(0)
    out = (lab - mu) / np.maximum(sd, 1e-6) * np.asarray(stats["std"]) + np.asarray(stats["mean"])
    return _from_lab(out, rgb.shape)


def fda(rgb: np.ndarray, photo: np.ndarray, beta: float = FDA_BETA) -> np.ndarray:
    """The render `rgb` with the low-frequency amplitude of `photo` (resized to its size; module docstring)."""
    from PIL import Image
    h, w = rgb.shape[:2]
    tgt = np.asarray(Image.fromarray(photo).resize((w, h), Image.BICUBIC), dtype=np.float64)
    src = rgb.astype(np.float64)
    fs, ft = np.fft.fftshift(np.fft.fft2(src, axes=(0, 1)), axes=(0, 1)), \
        np.fft.fftshift(np.fft.fft2(tgt, axes=(0, 1)), axes=(0, 1))
    amp, pha = np.abs(fs), np.angle(fs)
    b = max(1, int(np.floor(min(h, w) * beta)))
    cy, cx = h // 2, w // 2
    amp[cy - b:cy + b + 1, cx - b:cx + b + 1] = np.abs(ft)[cy - b:cy + b + 1, cx - b:cx + b + 1]
    out = np.fft.ifft2(np.fft.ifftshift(amp * np.exp(1j * pha), axes=(0, 1)), axes=(0, 1)).real
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pick_photo(n: int, seed: int, image_id: int) -> int:
    """The bank index FDA uses for one image: fixed by (seed, image id)."""
    return int(np.random.default_rng([int(seed), int(image_id)]).integers(0, n))


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
