#!/usr/bin/env bash
# Bottles with 10 real photos instead of 30: the split rule's first 10 exposed photos (a subset of the 30:
# `synthgap split --exposed 10` orders by the same SHA-1 of file names), scored on the same 59 test photos.
# The sets are round 2's (rendered from the fit to the 30 photos); the 10 photos drive everything else: early
# stopping of the synthetic cells, the real cells and fine-tuning. Faster R-CNN, ImageNet start, 15 epochs.
# Results: $OUT/report.md; summary in studies/bottles/RESULTS.md ("Few photos").
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
OUT="${OUT:-runs/study-bottles-10photos}"
SETS="${SETS:-runs/study-bottles-r2/sets}"
bash studies/bottles/split10.sh "$OUT"
exec bin/synthgap benchmark run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$OUT/split10.json" \
    --category bottle --detectors frcnn --init imagenet --regimes synthetic,real,finetune --epochs 15 --imgsz 320 \
    --metadata area_frac,cy --seeds "${SEEDS:-1}" --out "$OUT/benchmark" \
    --variants $(for n in ${NAMES:-baseline aligned filtered on-surface aligned-mix}; do echo "$n=$SETS/$n"; done) "$@"
