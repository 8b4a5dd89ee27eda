#!/usr/bin/env bash
# Feature-space sets beside aligned on bottles (issue 12's "must show"), on the zoo's run (studies/bottles/zoo.sh:
# round-2 grid, 90 images per set, component selector): the opt-in feature-filtered (the baseline minus its least
# photo-like images), aligned-feature-filtered (the aligned set minus its least photo-like images) and
# shape-aligned (the aligned plan without the meshes that stand out; the aligned set itself when none does) sets
# are added to the run, and Faster R-CNN (ImageNet start, 15 epochs, best epoch on the exposed photos) is trained
# on aligned and the feature-space sets, SEEDS seeds (default 3; rerun to resume or add seeds), scored on the 59
# test photos. KID and D_B to the exposed photos: $OUT/report.md; mAP with intervals: $OUT/benchmark/report.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total 90 --probe-n 8 --selectors component \
    --variants baseline,filtered,feature-filtered,aligned-feature-filtered,shape-aligned \
    --bench-variants "${BENCH:-aligned,feature-filtered,aligned-feature-filtered}" \
    --detectors frcnn --epochs 15 --seeds "${SEEDS:-3}" --no-real-baseline --out "${OUT:-runs/study-bottles-zoo}" "$@"
