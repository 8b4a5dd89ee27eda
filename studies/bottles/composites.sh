#!/usr/bin/env bash
# Issue 25 part 2 on bottles: seed 000's task-aware compositing against cut-paste-learn, each with and without
# bg_cutouts, at equal count (--total), beside the aligned set they cut their objects from. Faster R-CNN from the
# ImageNet start, 15 epochs, regimes synthetic and mixed. SEEDS=1 first (the quick study); rerun to resume.
# 1. the run: probes, fit, the aligned set, RUN/plates, random-composite and task-composite (no cutouts);
# 2. the bg_cutouts twins of both, from the same sprites, plates, bounds and seed (composite_cutouts.py);
# 3. one benchmark over the five sets (RUN/benchmark-composites). Paired differences: studies/bottles/paired.py.
# SPLIT= another split of the same photos (composites_few.sh: 10 exposed photos).
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL=../shared/realsets/bottles
OUT=${OUT:-runs/composite-bottles}
SPLIT=${SPLIT:-$REAL/split.json}
ARGS=(--real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$SPLIT" --category bottle)
bin/synthgap run "${ARGS[@]}" --grid studies/bottles/grid.yaml --total "${TOTAL:-120}" --probe-n 12 \
    --variants random-composite,task-composite --no-benchmark --out "$OUT" "$@"
PYTHONPATH=. .venv/bin/python studies/bottles/composite_cutouts.py "$OUT" "$REAL/annotations_coco.json" "$REAL/images" \
    "$SPLIT" bottle
S=$OUT/sets
bin/synthgap benchmark run "${ARGS[@]}" --variants aligned="$S/aligned" random-composite="$S/random-composite" \
    random-composite-cutouts="$S/random-composite-cutouts" task-composite="$S/task-composite" \
    task-composite-cutouts="$S/task-composite-cutouts" --detectors frcnn --epochs 15 --seeds "${SEEDS:-1}" \
    --regimes "${REGIMES:-synthetic,mixed}" --out "$OUT/benchmark-composites"
