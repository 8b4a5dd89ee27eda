"""Per-object measurements from rendered maps (numpy only: used inside Blender and by tests in the main env).

- COCO RLE (uncompressed, column-major, pycocotools' layout) and the bbox of a mask's bounds
- sidecar values: depth median/min under the mask, visible pixels, occlusion indicator a·d², and the
  background similarity: cosine similarity between the colour histogram of the object's boundary pixels
  (mask minus its 3x3 erosion) and that of the adjacent background ring (3x3 dilation minus the mask,
  pixels of no other annotated object), 4x4x4 RGB bins. 1 = the object's outline blends into the background.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE of a boolean HxW mask: {"size": [h, w], "counts": [zeros, ones, zeros, ...]}."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return {"size": [int(h), int(w)], "counts": [int(r) for r in runs]}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    h, w = rle["size"]
    flat = np.zeros(h * w, dtype=bool)
    pos, val = 0, False
    for r in rle["counts"]:
        if val:
            flat[pos:pos + r] = True
        pos += r
        val = not val
    return flat.reshape((w, h)).T


def mask_bbox(mask: np.ndarray) -> list[float]:
    """[x, y, w, h] of the mask's pixel bounds (what pycocotools' toBbox returns for its RLE)."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def _shift_or(mask: np.ndarray) -> np.ndarray:
    """3x3 dilation (8-neighbourhood) of a boolean mask."""
    p = np.pad(mask, 1)
    out = np.zeros_like(mask)
    h, w = mask.shape
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out |= p[dy:dy + h, dx:dx + w]
    return out


def dilate3(mask: np.ndarray) -> np.ndarray:
    return _shift_or(mask.astype(bool))


def erode3(mask: np.ndarray) -> np.ndarray:
    return ~_shift_or(~mask.astype(bool))


def colour_hist(pixels: np.ndarray, bins: int = 4) -> np.ndarray:
    q = np.clip((pixels.astype(np.int64) * bins) // 256, 0, bins - 1)
    idx = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    return np.bincount(idx, minlength=bins ** 3).astype(np.float64)


def bg_similarity(rgb: np.ndarray, mask: np.ndarray, other_objects: np.ndarray | None = None) -> float:
    """Cosine between boundary-pixel and adjacent-background colour histograms.

    The ring is the 3x3 dilation of the mask minus the mask, without the pixels of other objects; when other
    objects cover the whole ring (a cup standing on a table, surrounded by it), the whole ring is used, since
    that is what the object is seen against. NaN only when the object has no neighbour pixel at all."""
    mask = mask.astype(bool)
    boundary = mask & ~erode3(mask)
    ring = dilate3(mask) & ~mask
    if other_objects is not None:
        free = ring & ~other_objects.astype(bool)
        if free.any():
            ring = free
    if not boundary.any() or not ring.any():
        return float("nan")
    a, b = colour_hist(rgb[boundary]), colour_hist(rgb[ring])
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def object_stats(rgb: np.ndarray, distance: np.ndarray, mask: np.ndarray, other_objects: np.ndarray) -> dict[str, float]:
    d = distance[mask]
    d = d[np.isfinite(d)]
    visible = int(mask.sum())
    med = float(np.median(d)) if d.size else float("nan")
    return {"depth_median": med, "depth_min": float(d.min()) if d.size else float("nan"),
            "visible_px": visible, "occlusion_ad2": float(visible * med * med),
            "bg_similarity": bg_similarity(rgb, mask, other_objects)}


def kelvin_to_rgb(k: float) -> tuple[float, float, float]:
    """Approximate black-body colour (Tanner Helland's fit), channels in [0, 1]."""
    t = k / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    return tuple(min(max(c, 0.0), 255.0) / 255.0 for c in (r, g, b))  # type: ignore[return-value]
