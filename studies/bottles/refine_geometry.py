"""The refine geometry check on real renders: the share of boxes kept in place (align/refine.py's rule) by each
refined copy of the aligned set, and by two refiners that do move objects (a 4 px shift, a 1.1x scale about the
image centre), on the same boxes.

    PYTHONPATH=. .venv/bin/python studies/bottles/refine_geometry.py runs/refine-bottles/sets
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _scaled(rgb: np.ndarray, f: float = 1.1) -> np.ndarray:
    from PIL import Image
    h, w = rgb.shape[:2]
    big = np.asarray(Image.fromarray(rgb).resize((int(w * f), int(h * f))))
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y:y + h, x:x + w]


def main(sets: Path) -> int:
    from align.refine import _grad, box_geometry
    from align.refine_pixels import read_rgb
    from core.coco import load_coco
    src = load_coco(sets / "aligned" / "coco_annotations.json", sets / "aligned")
    by_img = src.annotations_by_image()
    changes = {name: (lambda im, rgb, d=sets / name: read_rgb(d / im["file_name"]))
               for name in ("refined", "refined-task", "aligned-fda", "aligned-colour") if (sets / name).is_dir()}
    changes["shift 4 px"] = lambda im, rgb: np.roll(rgb, (4, 4), axis=(0, 1))
    changes["scale 1.1x"] = lambda im, rgb: _scaled(rgb)
    print("| copy | boxes | kept in place |\n|---|---|---|")
    for name, change in changes.items():
        kept = []
        for im in src.images:
            rgb = read_rgb(src.image_path(im))
            gs, gd = _grad(rgb), _grad(change(im, rgb))
            kept += [r[0] for r in (box_geometry(gs, gd, a["bbox"]) for a in by_img[int(im["id"])]) if r]
        print(f"| {name} | {len(kept)} | {np.mean(kept):.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/refine-bottles/sets")))
