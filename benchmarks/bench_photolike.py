"""Render cost of photo-like scenes against today's scenes, in one run, same geometry (BENCHMARKS.md "Render").

Renders --n images of the first entry of --plan (today's look: its own background) and --n of the same config
made photo-like (render.postfx.photo_like: plates of --plates behind the objects, OIDN denoising, camera
effects) at --resolution, alternating the two in rounds of --n / --rounds images so that machine load hits
both alike, and prints seconds per image of each and their ratio. Plates: `synthgap plates` (or the realism
ladder's runs/ladder/plates).

  PYTHONPATH=. .venv/bin/python benchmarks/bench_photolike.py --plan runs/study-bottles-r2/plan.yaml \
      --plates runs/ladder/plates --n 24 --resolution 320 240
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    import yaml

    from render.api import photo_like, render_dataset
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plan", required=True)
    p.add_argument("--plates", required=True)
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--resolution", type=int, nargs=2, default=[320, 240])
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    base = dict(yaml.safe_load(Path(a.plan).read_text())["entries"][0]["config"], resolution=a.resolution)
    looks = {"today": base, "photo-like": photo_like(base, Path(a.plates).resolve())}
    secs = {k: 0.0 for k in looks}
    per = max(1, a.n // a.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, cfg in looks.items():
                t0 = time.monotonic()
                plan = {"total": per, "entries": [{"config": cfg, "config_name": name, "count": per}]}
                render_dataset(plan, None, Path(tmp) / f"{name}-{r}", workers=a.workers, seed=100 + r,
                               progress=False)
                secs[name] += time.monotonic() - t0
    n = per * a.rounds
    for name in looks:
        print(f"{name:<11} {secs[name] / n:.2f} s/image ({n} images at {a.resolution[0]}x{a.resolution[1]}, "
              f"{a.workers} workers)")
    print(f"ratio photo-like / today: {secs['photo-like'] / secs['today']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
