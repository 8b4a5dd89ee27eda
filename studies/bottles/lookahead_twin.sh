#!/usr/bin/env bash
# Issue 25: the failure-only twin of studies/bottles/lookahead.sh's task-aware round, to isolate what the lookahead
# adds. The twin is the same run (a hard-linked copy of SRC: probes, fit, sets, round 0's cells, the round's
# failure analysis and its one-shot control are shared, not redone) with `--lookahead 0`: round 1's increment is
# the failure plan itself. Only that increment is rendered and its set trained (seeds as SEEDS).
# Then RUN_PAIRS = a benchmark dir holding both rounds' cells (the twin's round1 as `round1-failures`) for
#   PYTHONPATH=. .venv/bin/python studies/bottles/paired.py "$OUT/pairs" round1:round1-failures \
#       round1-failures:oneshot1 round1:oneshot1
# Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${SRC:-runs/composite-bottles}
OUT=${OUT:-runs/composite-bottles-failonly}
if [ ! -d "$OUT" ]; then
    cp -al "$SRC" "$OUT.tmp"     # every later write is atomic (a new file), so the source is never changed
    rm -rf "$OUT.tmp/rounds/settings.json" "$OUT.tmp/rounds/rounds.json" "$OUT.tmp/rounds/r1/plan.yaml" \
        "$OUT.tmp/rounds/r1/plan-failures.yaml" "$OUT.tmp/rounds/r1/lookahead.json" \
        "$OUT.tmp/rounds/r1/lookahead-plan.json" "$OUT.tmp/rounds/r1/increment" "$OUT.tmp/rounds/r1/render_s.json" \
        "$OUT.tmp/sets/round1" "$OUT.tmp/benchmark/results/round1__"* "$OUT.tmp/benchmark/predictions/round1__"* \
        "$OUT.tmp/benchmark/cells/round1__"* "$OUT.tmp/benchmark/metadata/round1.json" "$OUT.tmp/pairs"
    # the benchmark pins its sets' paths: the twin's own (sed -i writes a new file, the source's stays)
    sed -i "s#$(realpath "$SRC")/sets/#$(realpath -m "$OUT")/sets/#g" "$OUT.tmp/benchmark/run.json"
    mv "$OUT.tmp" "$OUT"
fi
STEPS=0 OUT="$OUT" bash studies/bottles/lookahead.sh "$@"
PYTHONPATH=. .venv/bin/python - "$SRC/benchmark" "$OUT/benchmark" "$OUT/pairs" <<'EOF'
"""Both rounds' cells in one benchmark dir: SRC's cells as they are, the twin's round1 as round1-failures."""
import json
import shutil
import sys
from pathlib import Path

src, twin, pairs = (Path(a) for a in sys.argv[1:])
for d in ("results", "predictions"):
    (pairs / d).mkdir(parents=True, exist_ok=True)
shutil.copy(src / "run.json", pairs / "run.json")
for run, rename in ((src, None), (twin, "round1-failures")):
    for path in sorted((run / "results").glob("*.json")):
        rec = json.loads(path.read_text())
        if rename is not None and rec["variant"] != "round1":
            continue
        name = path.stem if rename is None else rename + path.stem[len("round1"):]
        rec["variant"] = rename or rec["variant"]
        pred = run / rec["predictions"]
        rec["predictions"] = f"predictions/{name}.json"
        shutil.copy(pred, pairs / rec["predictions"])
        (pairs / "results" / f"{name}.json").write_text(json.dumps(rec))
print(f"{pairs}: {len(list((pairs / 'results').glob('*.json')))} cells")
EOF
