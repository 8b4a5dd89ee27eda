#!/usr/bin/env bash
# Bottles variant zoo (issue 13): the round-2 grid (grid.yaml, 12 configs), the run's sets at 90 images (so the
# filtered sets keep >= 60), every zoo set cut to 60 images, 2 single configs, random-grid, aligned-joint; Faster
# R-CNN (ImageNet MobileNetV2 start, best epoch on the exposed photos) 6 epochs x 3 seeds per set, scored on the 59
# test photos. Sized to fit one 3-hour session on 2 cores beside its other work. Results: $OUT/zoo/zoo.md; summary in RESULTS.md ("Zoo").
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
exec bin/synthgap zoo --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total 90 --zoo-images 60 --probe-n 8 --singles 2 \
    --variants baseline,filtered,on-surface,aligned-photo,feature-filtered \
    --detectors frcnn --epochs 6 --seeds 3 --no-real-baseline --out "${OUT:-runs/study-bottles-zoo}" "$@"
