"""Paired bootstrap differences of mAP50-95 between any two sets of a benchmark run, beyond the report's own
pairs (which are against `baseline` and the real photos only): both sets' cells rescored on the same resampled
test images, seeds averaged (benchmark/intervals.py, cached in RUN/intervals.json).

    PYTHONPATH=. .venv/bin/python studies/bottles/paired.py runs/study-bottles-zoo/benchmark \
        aligned-feature-filtered:aligned feature-filtered:aligned [--detector frcnn] [--group alone] [--B 300]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    from benchmark.intervals import Intervals
    from benchmark.summary import load_run, summarize
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("pairs", nargs="+", help="FIRST:SECOND set names (difference = FIRST - SECOND)")
    ap.add_argument("--detector", default="frcnn")
    ap.add_argument("--group", default="alone")
    ap.add_argument("--B", type=int, default=300)
    a = ap.parse_args()
    data = load_run(Path(a.run))
    summary = summarize(data)
    iv = Intervals(Path(a.run), data["run"], a.B)
    for pair in a.pairs:
        first, second = pair.split(":")
        cells = [summary[v].groups[a.group][a.detector].cells for v in (first, second)]
        r = iv.pair(*cells)
        print(f"{first} - {second} ({a.detector}, {a.group}): {r['diff']:+.4f} "
              f"[{r['ci'][0]:+.4f}, {r['ci'][1]:+.4f}], ratio {r['ratio']:.2f}, {r['B']} draws")
    iv.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
