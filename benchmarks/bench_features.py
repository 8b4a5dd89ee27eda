"""Feature extraction throughput: box crops per second through the ImageNet MobileNetV2 at 224 px (align/features.py).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_features.py [--set runs/study-bottles-r2/sets/aligned]
        [--max 400] [--threads 2] [--rounds 3]

Crops every box of a dataset dir (up to --max), each round into an empty feature cache (so nothing is read
back), and prints crops per second per round and the median; the model is loaded once before timing.
Goal (issue 12): >= 40 crops/s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default=str(REPO / "runs" / "study-bottles-r2" / "sets" / "aligned"))
    ap.add_argument("--max", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.environ["SYNTHGAP_THREADS"] = str(a.threads)
    from align import features
    from core.coco import load_coco
    cs = load_coco(a.set)
    cs.annotations = cs.annotations[:a.max]
    features._model()
    rates = []
    for r in range(a.rounds):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["SYNTHGAP_CACHE"] = cache
            t0 = time.perf_counter()
            feats, ids = features.crop_features(cs)
            dt = time.perf_counter() - t0
        rates.append(len(ids) / dt)
        print(f"round {r + 1}: {len(ids)} crops in {dt:.1f} s = {rates[-1]:.1f} crops/s", flush=True)
    print(f"median {statistics.median(rates):.1f} crops/s ({a.threads} threads, 224 px, {features.EXTRACTOR})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
