#!/usr/bin/env bash
# Bottles with framing (issue 15): the round-2 grid plus camera.target_u / target_v (grid-framing.yaml, 24
# configs), fit -> probes -> both selectors -> aligned, aligned-mix and the baseline, then D_B (with KID) to the
# 30 exposed photos; no detectors (--no-benchmark). Compare D_B cy with round 2 (grid.yaml, no framing).
# Results: $OUT/report.md; summary in studies/bottles/RESULTS.md ("Framing").
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid-framing.yaml --total 150 --probe-n 12 --variants baseline \
    --no-benchmark --out "${OUT:-runs/study-bottles-framing}" "$@"
