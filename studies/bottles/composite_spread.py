"""The spread term's weight (issue 25): twins of a run's task-composite set at other --task-composite-w-spread.

RUN/sets/task-composite-spread<W> for each W: the run's task-composite recipe (its info.composite: sprites,
plates, bounds, total, seed, steps, w_real, blend, bg_cutouts) with w_spread = W, so the sets differ only in the
weight. A sensitivity figure of the placements' drift against the weight, not a choice of the default (the test
photos score the sets). Usage:
    PYTHONPATH=. .venv/bin/python studies/bottles/composite_spread.py RUN REAL_JSON IMAGES SPLIT CATEGORY W [W...]
then `bin/synthgap benchmark run ... --variants task-composite-spread<W>=RUN/sets/task-composite-spread<W>`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from align.composite import Bounds
from benchmark.api import task_composite


def main(run: Path, real_json: Path, images: Path, split: Path, category: str, weights: list[float]) -> None:
    t = json.loads((run / "sets" / "task-composite" / "coco_annotations.json").read_text())["info"]["composite"]
    b, s = t["bounds"], t["settings"]
    bounds = Bounds(tuple(b["size"]), tuple(b["cx"]), tuple(b["cy"]), b["counts"], b["max_deg"])
    for w in weights:
        out = run / "sets" / f"task-composite-spread{w:g}"
        task_composite([Path(p) for p in t["source"]], Path(t["plates"]), real_json, images, split, bounds,
                       t["total"], out, seed=s["seed"], steps=s["steps"], w_real=s["w_real"], w_spread=w,
                       cutouts=t["bg_cutouts"], blend_px=t["blend_px"], category=category)
        rec = json.loads((out / "coco_annotations.json").read_text())["info"]["composite"]
        print(f"{out}: placement mean {rec['placement_mean']} sd {rec['placement_sd']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5],
         [float(w) for w in sys.argv[6:]])
