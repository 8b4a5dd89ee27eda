"""Memory over a long render: resident set size (RSS) of the `synthgap render` driver and of its render workers.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_rss.py [--n 1000] [--workers 2] [--recycle-after 200]
        [--resolution 64 48] [--samples 1] [--json rss.json] [--keep DIR]

Renders N scenes of a small two-class config (the manifest's meshes) with `synthgap render` and reads /proc
every 0.5 s (Linux only):
- driver: the RSS of the `synthgap render` process;
- worker: the RSS of each render worker's process tree (the render environment's python with Blender in it),
  one tree per direct child of the driver; a worker is replaced after --recycle-after scenes.
Prints one row per tenth of the run (scenes done = image files written; the driver's RSS and the largest
worker's at that moment) and the figures BENCHMARKS.md records: the driver's RSS after the first tenth, at its
peak and at the end of rendering (the merge of the shard files comes after the last image and is part of the
peak), the workers' peak in each tenth, and the worker processes started. "Bounded" means the peak of the last
tenths is no higher than that of the first ones, up to noise: no growth with the scene count.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2 ** 20
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0


def children() -> dict[int, list[int]]:
    """ppid -> [pid] over every process of this machine."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def tree_rss(pid: int, kids: dict[int, list[int]]) -> float:
    return rss_mb(pid) + sum(tree_rss(c, kids) for c in kids.get(pid, []))


def config(w: int, h: int, samples: int) -> dict:
    return {"resolution": [w, h], "samples": samples, "objects_per_scene": [1, 3], "classes": ["bottle", "cup"],
            "distractors": [0, 1], "camera": {"distance": [0.8, 1.6], "elevation_deg": [15, 50]}, "seed": 5}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--recycle-after", type=int, default=200)
    ap.add_argument("--resolution", type=int, nargs=2, default=[64, 48])
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", default=None, help="render into this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    import yaml
    tmp = Path(tempfile.mkdtemp(prefix="bench_rss_"))
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config(*args.resolution, args.samples)))
    out = Path(args.keep) if args.keep else tmp / "out"
    cmd = [sys.executable, "-m", "synthgap", "render", "--quiet", "--config", str(cfg), "--n", str(args.n),
           "--out", str(out), "--workers", str(args.workers), "--recycle-after", str(args.recycle_after)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    samples, workers_seen = [], set()
    while proc.poll() is None:
        kids = children()
        workers = kids.get(proc.pid, [])
        workers_seen.update(workers)
        done = sum(1 for _ in (out / "images").glob("*")) if (out / "images").is_dir() else 0
        samples.append({"t": round(time.time() - t0, 1), "done": done, "driver": round(rss_mb(proc.pid), 1),
                        "worker": round(max([tree_rss(w, kids) for w in workers] or [0.0]), 1)})
        time.sleep(0.5)
    if proc.returncode != 0:
        print(f"synthgap render failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    res = summarize(samples, args, time.time() - t0, len(workers_seen))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": res, "samples": samples}, indent=1))
    return 0


def summarize(samples: list[dict], args, wall: float, n_workers: int) -> dict:
    tenth = max(1, args.n // 10)
    rows = []
    for k in range(10):
        lo, hi = k * tenth, (k + 1) * tenth if k < 9 else args.n + 1
        part = [s for s in samples if lo <= s["done"] < hi]
        if part:
            rows.append({"scenes": f"{lo}-{min(hi, args.n)}", "driver_max": max(s["driver"] for s in part),
                         "worker_max": max(s["worker"] for s in part)})
    rendering = [s for s in samples if s["done"] < args.n] or samples
    first = [s for s in samples if s["done"] >= tenth] or samples
    res = {"n": args.n, "workers": args.workers, "recycle_after": args.recycle_after,
           "resolution": args.resolution, "samples": args.samples, "wall_s": round(wall, 1),
           "worker_processes_started": n_workers,
           "driver_after_first_tenth_mb": first[0]["driver"], "driver_end_of_render_mb": rendering[-1]["driver"],
           "driver_peak_mb": max(s["driver"] for s in samples), "tenths": rows}
    print(f"{args.n} scenes, {args.workers} workers, recycle after {args.recycle_after}: {wall:.0f} s, "
          f"{n_workers} worker processes")
    print("| scenes | driver RSS max (MB) | largest worker RSS max (MB) |\n|---|---|---|")
    for r in rows:
        print(f"| {r['scenes']} | {r['driver_max']:.0f} | {r['worker_max']:.0f} |")
    print(f"driver: {res['driver_after_first_tenth_mb']:.0f} MB after the first tenth, "
          f"{res['driver_end_of_render_mb']:.0f} MB at the last image, peak {res['driver_peak_mb']:.0f} MB (merge "
          "included)")
    return res


if __name__ == "__main__":
    sys.exit(main())
