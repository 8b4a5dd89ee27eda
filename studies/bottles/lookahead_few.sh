#!/usr/bin/env bash
# Issue 25 on the 10-photo bottles split (split10.sh): lookahead.sh's task-aware round with everything fitted to,
# selected on and stopped early on 10 exposed photos (the same 59 test photos score). The probes are those of the
# 30-photo run (SRC, hard-linked: they depend on the grid and seeds, not on the photos), so nothing is rendered
# again but the sets and the round's increments. No composites. SEEDS=1 first. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL=../shared/realsets/bottles
SRC=${SRC:-runs/composite-bottles}
OUT=${OUT:-runs/composite-bottles-10photos}
bash studies/bottles/split10.sh "$OUT" "$SRC"
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$OUT/split10.json" \
    --category bottle --grid studies/bottles/grid.yaml --total "${TOTAL:-120}" --probe-n 12 --variants baseline \
    --bench-variants aligned --regimes synthetic --no-real-baseline --detectors frcnn --epochs 15 \
    --seeds "${SEEDS:-1}" --rounds 1 --increment "${INCREMENT:-60}" --lookahead "${STEPS:-3}" --out "$OUT" "$@"
