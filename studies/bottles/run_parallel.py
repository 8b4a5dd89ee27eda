"""The bottles study's benchmark cells as parallel processes, for a machine with many cores or a GPU.

Same cells and settings as run_regimes.sh (Faster R-CNN from the ImageNet start and yolov8n from the yaml,
15 epochs at 320 px, regimes synthetic / real / finetune, seeds 0..SEEDS-1) over the sets that run_regimes.sh
rendered. One `benchmark run` process per (detector, seed, set) - its synthetic cell, then its finetune cell -
and one per (detector, seed) for the real regime, JOBS at a time, all writing cells into one run dir (each
cell's results file is written last, so a killed job is simply redone by the next call). A last sequential
pass (every cell already done, so it trains nothing) writes run.json whole and the report; `--no-final` leaves
that to a later call of this script, e.g. on another machine after copying the run dir.

  python studies/bottles/run_parallel.py --sets runs/study-bottles-r2/sets --out runs/study-bottles-r3/benchmark \
      --jobs 12 --threads 1
Each job's log: OUT/logs/<detector>-<seed>-<set>.log.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETS = ["baseline", "aligned", "filtered", "on-surface", "aligned-mix"]


def common(a: argparse.Namespace) -> list[str]:
    real = Path(a.real)
    return ["--real", str(real / "annotations_coco.json"), "--images", str(real / "images"),
            "--split", str(real / "split.json"), "--category", "bottle", "--init", "imagenet",
            "--epochs", str(a.epochs), "--imgsz", "320", "--metadata", "area_frac,cy", "--out", a.out]


def jobs(a: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(log name, benchmark arguments) per job: Faster R-CNN first, the real regime first within a seed."""
    out = []
    for det in a.detectors.split(","):
        for seed in range(a.seeds):
            pin = ["--detectors", det, "--seeds", f"{seed},"]
            if not a.no_real:
                out.append((f"{det}-{seed}-real", [*pin, "--regimes", "real"]))
            out += [(f"{det}-{seed}-{n}", [*pin, "--variants", f"{n}={Path(a.sets) / n}",
                                           "--regimes", "synthetic,finetune", "--no-real-baseline"])
                    for n in a.names.split(",")]
    return out


def run_job(a: argparse.Namespace, name: str, args: list[str]) -> tuple[str, int, float]:
    t0 = time.monotonic()
    log = Path(a.out) / "logs" / f"{name}.log"
    env = {**os.environ, "SYNTHGAP_THREADS": str(a.threads),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "w") as fh:
        rc = subprocess.call([sys.executable, "-m", "benchmark", "run", *common(a), *args, "--no-report"],
                             stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    dt = time.monotonic() - t0
    print(f"{'ok' if rc == 0 else f'FAILED rc={rc}'} {name} {dt:.0f} s", flush=True)
    return name, rc, dt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", default=str(ROOT.parent / "shared" / "realsets" / "bottles"))
    p.add_argument("--sets", default=str(ROOT / "runs" / "study-bottles-r2" / "sets"))
    p.add_argument("--names", default=",".join(SETS))
    p.add_argument("--out", required=True)
    p.add_argument("--detectors", default="frcnn,yolo")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="SYNTHGAP_THREADS per job")
    p.add_argument("--no-final", action="store_true", help="skip the last pass (run.json + report)")
    p.add_argument("--no-real", action="store_true", help="no real-regime jobs (the photos alone)")
    a = p.parse_args()
    (Path(a.out) / "logs").mkdir(parents=True, exist_ok=True)
    todo = jobs(a)
    t0 = time.monotonic()
    with ThreadPoolExecutor(a.jobs) as pool:
        done = list(pool.map(lambda j: run_job(a, *j), todo))
    failed = [n for n, rc, _ in done if rc]
    print(f"{len(todo) - len(failed)} of {len(todo)} jobs ok in {time.monotonic() - t0:.0f} s wall"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    if failed or a.no_final:
        return 1 if failed else 0
    names = a.names.split(",")
    final = [sys.executable, "-m", "benchmark", "run", *common(a), "--detectors", a.detectors,
             "--seeds", str(a.seeds), "--regimes", "synthetic,finetune" + ("" if a.no_real else ",real"),
             "--variants", *[f"{n}={Path(a.sets) / n}" for n in names]]
    return subprocess.call(final, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


if __name__ == "__main__":
    sys.exit(main())
