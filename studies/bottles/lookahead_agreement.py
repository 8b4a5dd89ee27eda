"""Does the lookahead's signal grow with its steps? (issue 25: at 3 SGD steps the two exposed halves agree at
Spearman 0.35-0.48 over the 12 probed configs.)

For a finished task-aware round run (RUN/rounds/r1/lookahead.json names round 0's cell checkpoint), each probed
config's value (synthgap/lookahead.values_record: STEPS plain SGD steps on its probe renders, the drop of the
detector's loss on half A of the exposed photos, the same on half B) for each STEPS given, written to
RUN/lookahead-agreement/steps<N>.json (kept: a rerun resumes), then per STEPS the agreement of the halves
(Spearman's rho with its p over the configs) and the seconds it took. Only exposed photos are read. Usage:
    PYTHONPATH=. .venv/bin/python studies/bottles/lookahead_agreement.py RUN REAL_JSON IMAGES SPLIT CATEGORY 3 10 30
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace


def main(run: Path, real_json: Path, images: Path, split: Path, category: str, steps: list[int]) -> None:
    from scipy.stats import spearmanr

    from align.api import load_probes
    from synthgap.lookahead import values_record
    weights = Path(json.loads((run / "rounds" / "r1" / "lookahead.json").read_text())["weights"])
    key = json.loads((run / "run.json").read_text())["key"]
    opts = SimpleNamespace(real_json=real_json, images=images, split=split, category=category, out=run,
                           seed=int(key["seed"]), imgsz=320)
    probes = load_probes(run / "probes", category=category)
    out = run / "lookahead-agreement"
    out.mkdir(exist_ok=True)
    print("| steps | configs | Spearman A vs B | p | s |\n|---|---|---|---|---|")
    for n in steps:
        rec = values_record(opts, weights, probes, out / f"steps{n}.json", n)
        va = [v["value_a"] for v in rec["configs"].values()]
        vb = [v["value_b"] for v in rec["configs"].values()]
        r = spearmanr(va, vb)
        print(f"| {n} | {len(va)} | {r.statistic:+.2f} | {r.pvalue:.3f} | {rec.get('seconds', 0):.0f} |", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5],
         [int(s) for s in sys.argv[6:]])
