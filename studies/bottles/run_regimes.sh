#!/usr/bin/env bash
# The bottles study, second round (the benchmark that can see): ../shared/realsets/bottles (30 exposed / 59
# test), the same 12-config grid and 150 images per set at 240x320 as the first round, now trained with
# Faster R-CNN from the ImageNet MobileNetV2 start (15 epochs at 320 px) in three regimes: synthetic (each set
# alone), real (the 30 exposed photos alone), finetune (each set's synthetic model fine-tuned on the photos).
# Seeds: SEEDS (default 3). Run once with SEEDS=1 to get every regime for seed 0 first; rerun with SEEDS=3 to
# add seeds 1 and 2 (finished cells are skipped). Results: $OUT/report.md; summary in studies/bottles/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total 150 --probe-n 12 \
    --detectors "${DETECTORS:-frcnn}" --init imagenet --regimes synthetic,real,finetune --epochs 15 \
    --seeds "${SEEDS:-3}" --imgsz 320 --out "${OUT:-runs/study-bottles-r2}" "$@"
