#!/usr/bin/env bash
# Bottles variant zoo (issue 13), at the scale one 3-hour session on 2 cores allowed beside its other work: the
# round-2 grid (grid.yaml, 12 configs, 8 probe images each, grown to 32 where a plan needed it), the run's sets at
# 90 images (baseline, filtered, feature-filtered, aligned-feature-filtered, aligned; component selector only), every zoo set cut to 24
# images; random-grid, aligned-joint and 6 single configs (those whose grown probes hold 24 images come from the
# probes, the rest rendered); Faster R-CNN (ImageNet MobileNetV2 start, best epoch on the exposed photos) 8 epochs
# x 3 seeds per set, scored on the 59 test photos. Results: $OUT/zoo/zoo.md; summary in RESULTS.md ("Zoo").
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
exec bin/synthgap zoo --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total 90 --zoo-images 24 --probe-n 8 --singles 6 \
    --variants baseline,filtered,feature-filtered,aligned-feature-filtered --selectors component \
    --detectors frcnn --epochs 8 --seeds 3 --no-real-baseline --out "${OUT:-runs/study-bottles-zoo}" "$@"
