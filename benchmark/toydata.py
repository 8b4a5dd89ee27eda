"""Tiny generated detection sets (coloured rectangles on noise) for tests and speed benchmarks.

`make_toy_set(out, n, ...)` writes a dataset directory in the layout of docs/design.md §2 (coco_annotations.json,
images/NNNNNN.jpg, DONE; no sidecar). Class k is drawn as a rectangle of a fixed colour and aspect, so a
detector can learn it in a few epochs; `category_offset` shifts the COCO ids so id mapping by name is exercised.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

from core.io import atomic_write_json, atomic_write_text

COLOURS = [(220, 40, 40), (40, 90, 220), (40, 200, 60)]
ASPECTS = [2.2, 0.8, 1.4]  # h / w per class: "bottles" are tall


def make_toy_set(out: str | os.PathLike, n: int, *, size: tuple[int, int] = (96, 72), names=("bottle", "cup"),
                 seed: int = 0, category_offset: int = 0, max_objects: int = 2, shift: float = 0.0) -> Path:
    """`shift` moves the object size distribution (0 = like the reference, 1 = much smaller boxes)."""
    import numpy as np
    from PIL import Image, ImageDraw
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    W, H = size
    cats = [{"id": i + 1 + category_offset, "name": nm} for i, nm in enumerate(names)]
    images, anns = [], []
    for i in range(1, n + 1):
        bg = nrng.integers(90, 170, size=(H, W, 3), dtype=np.uint8)
        img = Image.fromarray(bg)
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randint(1, max_objects)):
            k = rng.randrange(len(names))
            h = rng.uniform(0.35, 0.7) * H * (1.0 - 0.6 * shift)
            w = min(h / ASPECTS[k % len(ASPECTS)], 0.6 * W)
            x = rng.uniform(0, W - w)
            y = rng.uniform(0, H - h)
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=COLOURS[k % len(COLOURS)])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cats[k]["id"],
                         "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                         "area": round(w * h, 2), "iscrowd": 0})
        fn = f"images/{i:06d}.jpg"
        img.save(out / fn, quality=95)
        images.append({"id": i, "file_name": fn, "width": W, "height": H})
    atomic_write_json(out / "coco_annotations.json", {"images": images, "annotations": anns, "categories": cats,
                                                      "info": {"seed": seed, "generator": "benchmark.toydata"}})
    atomic_write_text(out / "DONE", "")
    return out


def make_toy_split(out: str | os.PathLike, n: int, n_exposed: int) -> Path:
    out = Path(out)
    atomic_write_json(out, {"exposed": list(range(1, n_exposed + 1)), "test": list(range(n_exposed + 1, n + 1))})
    return out
