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

from studies.bottles.composite_cutouts import task_twin


def main(run: Path, real_json: Path, images: Path, split: Path, category: str, weights: list[float]) -> None:
    cutouts = json.loads((run / "sets" / "task-composite" / "coco_annotations.json").read_text())[
        "info"]["composite"]["bg_cutouts"]
    for w in weights:
        out = task_twin(run, real_json, images, split, category, run / "sets" / f"task-composite-spread{w:g}",
                        cutouts, w_spread=w)
        rec = json.loads((out / "coco_annotations.json").read_text())["info"]["composite"]
        print(f"{out}: placement mean {rec['placement_mean']} sd {rec['placement_sd']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5],
         [float(w) for w in sys.argv[6:]])
