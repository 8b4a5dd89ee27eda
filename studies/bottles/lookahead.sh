#!/usr/bin/env bash
# Issue 25 on bottles: one task-aware top-down round (--rounds 1 --lookahead 3) on top of the composites study's
# run (studies/bottles/composites.sh: its probes, fit and recommended set are reused; nothing is rendered again
# but the round's increments). Round 0 = the recommended set trained here (RUN/benchmark, synthetic regime), the
# round adds --increment images re-weighted by the lookahead, the control adds as many of the round-0 plan.
# Faster R-CNN ImageNet start, 15 epochs, SEEDS=1 first. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL=../shared/realsets/bottles
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total "${TOTAL:-120}" --probe-n 12 \
    --variants random-composite,task-composite --bench-variants aligned --regimes synthetic --no-real-baseline \
    --detectors frcnn --epochs 15 --seeds "${SEEDS:-1}" --rounds 1 --increment "${INCREMENT:-60}" \
    --lookahead "${STEPS:-3}" --out "${OUT:-runs/composite-bottles}" "$@"
