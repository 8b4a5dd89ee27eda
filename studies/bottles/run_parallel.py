"""The bottles study's benchmark cells in parallel, for a machine with many cores or a GPU (or a Ray cluster).

Same cells and settings as run_regimes.sh (Faster R-CNN from the ImageNet start and yolov8n from the yaml,
15 epochs at 320 px, regimes synthetic / real / finetune, seeds 0..SEEDS-1) over the sets that run_regimes.sh
rendered. A thin caller of the product's Ray backend: one `synthgap benchmark run --backend ray --workers JOBS
--threads THREADS` (every cell a Ray task on a local Ray instance, or on `--ray-address`; a fine-tuning cell
after its synthetic cell; finished cells kept, so a rerun resumes), then the report (`--no-final`: leave the
report to a later `synthgap benchmark report OUT`, e.g. on another machine after copying the run dir).
Without --device the cells share whatever GPU the node has (Ray reserves none); `--device 0` gives each cell
one GPU of its own.

  python studies/bottles/run_parallel.py --sets runs/study-bottles-r2/sets --out runs/study-bottles-r3/benchmark \
      --jobs 12 --threads 1
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETS = ["baseline", "aligned", "filtered", "on-surface", "aligned-mix"]


def command(a: argparse.Namespace) -> list[str]:
    real = Path(a.real)
    regimes = "synthetic,finetune" + ("" if a.no_real else ",real")
    return [sys.executable, "-m", "benchmark", "run", "--real", str(real / "annotations_coco.json"),
            "--images", str(real / "images"), "--split", str(real / "split.json"), "--category", "bottle",
            "--init", "imagenet", "--epochs", str(a.epochs), "--imgsz", "320", "--metadata", "area_frac,cy",
            "--detectors", a.detectors, "--seeds", str(a.seeds), "--regimes", regimes,
            *(["--no-real-baseline"] if a.no_real else []),
            "--variants", *[f"{n}={Path(a.sets) / n}" for n in a.names.split(",")],
            "--backend", "ray", "--workers", str(a.jobs), "--threads", str(a.threads),
            *(["--ray-address", a.ray_address] if a.ray_address else []),
            *(["--device", a.device] if a.device else []),
            *(["--no-report"] if a.no_final else []), "--out", a.out]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", default=str(ROOT.parent / "shared" / "realsets" / "bottles"))
    p.add_argument("--sets", default=str(ROOT / "runs" / "study-bottles-r2" / "sets"))
    p.add_argument("--names", default=",".join(SETS))
    p.add_argument("--out", required=True)
    p.add_argument("--detectors", default="frcnn,yolo")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--jobs", type=int, default=2, help="cells in flight (--workers)")
    p.add_argument("--threads", type=int, default=1, help="CPUs per cell (--threads)")
    p.add_argument("--ray-address", default=None, help="a Ray cluster (default: a local Ray instance)")
    p.add_argument("--device", default=None, help="--device of the cells (default: the GPU when present, shared)")
    p.add_argument("--no-final", action="store_true", help="skip the report")
    p.add_argument("--no-real", action="store_true", help="no real-regime cells (the photos alone)")
    a = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.call(command(a), cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
