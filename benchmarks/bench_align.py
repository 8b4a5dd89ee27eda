"""Metadata-extraction speed of align.compute_metadata for BENCHMARKS.md.

Generates N textured 640x480 JPEGs (noise + gradients + a few rectangles, 3 boxes each, like a render), runs
compute_metadata over them twice (the first run warms the page cache and imports; the second is timed) and
prints images/s, s/image and the share of the render cost of the same image (RENDER_S_PER_IMAGE, measured for
640x480 renders on this CPU; goal < 5 %). With --real it also times the real bottles set (exposed split,
1280-px-long images).

usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_align.py [--n 200] [--boxes 3] [--real]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RENDER_S_PER_IMAGE = 3.2   # synthgap render, 640x480, this CPU (issue statement)


def make_set(root: Path, n: int, boxes: int, seed: int = 0) -> Path:
    import cv2

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    W, H = 640, 480
    yy, xx = np.mgrid[0:H, 0:W]
    images, anns = [], []
    aid = 0
    for i in range(1, n + 1):
        base = (xx * rng.uniform(0.1, 0.3) + yy * rng.uniform(0.1, 0.3))[..., None] + rng.uniform(0, 80, 3)
        img = np.clip(base + rng.normal(0, 12, (H, W, 3)), 0, 255).astype(np.uint8)
        for _ in range(boxes):
            w, h = int(rng.integers(20, 200)), int(rng.integers(20, 200))
            x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
            img[y:y + h, x:x + w] = np.clip(img[y:y + h, x:x + w] * 0.5 + rng.uniform(0, 128, 3), 0, 255)
            aid += 1
            anns.append({"id": aid, "image_id": i, "category_id": 1, "bbox": [x, y, w, h], "area": w * h,
                         "iscrowd": 0})
        fn = f"images/{i:06d}.jpg"
        cv2.imwrite(str(root / fn), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": i, "file_name": fn, "width": W, "height": H})
    (root / "coco_annotations.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "bottle"}]}))
    return root


def timed(fn, repeat: int = 2) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--boxes", type=int, default=3)
    ap.add_argument("--real", action="store_true", help="also time the real bottles exposed split")
    args = ap.parse_args()
    from align.metadata import compute_metadata, metadata_for_dir

    import cv2
    tmp = Path(tempfile.mkdtemp(prefix="bench_align_"))
    try:
        make_set(tmp / "set", args.n, args.boxes)
        s, t = timed(lambda: metadata_for_dir(tmp / "set"))
        per = s / args.n
        print(f"cpu cores: {os.cpu_count()}  opencv threads: {cv2.getNumThreads()}  numpy {np.__version__}")
        print(f"640x480 JPEG, {args.boxes} boxes/image, {args.n} images: {args.n / s:.1f} images/s "
              f"({per * 1000:.1f} ms/image; {t.n('bbox')} box rows) = {100 * per / RENDER_S_PER_IMAGE:.2f} % of "
              f"rendering the image ({RENDER_S_PER_IMAGE} s/img); goal < 5 %")
        if args.real:
            real = REPO.parent / "shared" / "realsets" / "bottles"
            ids = json.loads((real / "split.json").read_text())["exposed"]
            s, t = timed(lambda: compute_metadata(real / "annotations_coco.json", real / "images",
                                                  category="bottle", image_ids=ids))
            print(f"real bottles exposed ({t.n('image')} images, long side 1280 px, {t.n('bbox')} boxes): "
                  f"{t.n('image') / s:.1f} images/s ({1000 * s / t.n('image'):.1f} ms/image)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
