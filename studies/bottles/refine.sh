#!/usr/bin/env bash
# Issue 24 on bottles: the aligned set against its refined copies (learned refiner, FDA, colour transfer), Faster
# R-CNN from the ImageNet start, 15 epochs, 150 renders per set, synthetic-only and real-only cells.
# SEEDS=1 first (the quick study), then SEEDS=3 adds seeds 1-2 (resumes). Rerun to resume.
# SETS=refined,aligned-fda,aligned-colour builds only those refined sets (default: all of them, `--refine`; the
# learned refiner with the detector's term takes about 4 min on 2 cores at the default 1500 steps; it took an hour
# under the old detector defaults). aligned-cut (CUT) is by name only: SETS=aligned-cut BENCH=aligned-cut.
# SPLIT= another split of the same photos (refine_few.sh: 10 exposed photos).
# KID to the exposed and test photos: studies/bottles/refine_kid.py (RESULTS.md "Refinement").
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL=../shared/realsets/bottles
ALL_REFINED=--refine
[ -z "${SETS:-}" ] || ALL_REFINED=
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" \
    --split "${SPLIT:-$REAL/split.json}" --category bottle --grid studies/bottles/grid.yaml --total 150 --probe-n 12 \
    --variants "baseline${SETS:+,$SETS}" $ALL_REFINED \
    --bench-variants "${BENCH:-aligned,refined,refined-task,aligned-fda,aligned-colour}" \
    --detectors frcnn --epochs 15 --seeds "${SEEDS:-1}" --regimes "${REGIMES:-synthetic,real}" \
    --out "${OUT:-runs/refine-bottles}" "$@"
