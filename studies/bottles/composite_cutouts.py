"""The bg_cutouts twins of a run's composite sets (studies/bottles/composites.sh, step 2).

RUN/sets/random-composite-cutouts and RUN/sets/task-composite-cutouts: the same recipe as the run's
random-composite and task-composite (their info.composite: source set, plates, bounds, total, seed, blend and
the synthesizer's settings) with bg_cutouts on, so the pair differs only in the cutouts. Usage:
    PYTHONPATH=. .venv/bin/python studies/bottles/composite_cutouts.py RUN REAL_JSON IMAGES SPLIT CATEGORY
(the run's --real, --images, --split and --category: task-composite reads the exposed photos again).
`task_twin` is also composite_spread.py's (twins at other spread weights).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from align.composite import Bounds, random_composite
from benchmark.api import task_composite


def _recipe(run: Path, name: str) -> dict:
    return json.loads((run / "sets" / name / "coco_annotations.json").read_text())["info"]["composite"]


def task_twin(run: Path, real_json: Path, images: Path, split: Path, category: str, out: Path, cutouts: bool,
              w_spread: float | None = None) -> Path:
    """RUN's task-composite rebuilt at `out` with `cutouts` and, when given, another `w_spread` (a recipe made
    before the spread term has none: 0)."""
    t = _recipe(run, "task-composite")
    s = t["settings"]
    return task_composite([Path(p) for p in t["source"]], Path(t["plates"]), real_json, images, split,
                          Bounds.from_record(t["bounds"]), t["total"], out, seed=s["seed"], steps=s["steps"],
                          w_real=s["w_real"], w_spread=s.get("w_spread", 0.0) if w_spread is None else w_spread,
                          cutouts=cutouts, blend_px=t["blend_px"], category=category)


def main(run: Path, real_json: Path, images: Path, split: Path, category: str) -> None:
    r = _recipe(run, "random-composite")
    random_composite([Path(p) for p in r["source"]], Path(r["plates"]), Bounds.from_record(r["bounds"]), r["total"],
                     run / "sets" / "random-composite-cutouts", seed=r["seed"], cutouts=True, blend_px=r["blend_px"])
    task_twin(run, real_json, images, split, category, run / "sets" / "task-composite-cutouts", cutouts=True)
    print("wrote", run / "sets" / "random-composite-cutouts", run / "sets" / "task-composite-cutouts")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5])
