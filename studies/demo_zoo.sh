#!/usr/bin/env bash
# The variant zoo on the demo's stand-in target (issue 13's second target): the demo's run (no photo sets, no
# benchmark), then `synthgap zoo` at the demo's scale (48 images per set, yolov8n from scratch, 60 epochs at
# 128 px, 3 seeds), scored with the bottles zoo's weights too (--transfer). Results: runs/demo-zoo/zoo/zoo.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/demo-zoo}"
COMMON=(--total 64 --probe-n 12 --min-px 10 --variants baseline,filtered,on-surface,aligned-feature-filtered)
bin/synthgap demo --out "$OUT" --no-benchmark "${COMMON[@]}"
exec bin/synthgap zoo --real "$OUT/target/coco_annotations.json" --images "$OUT/target" \
    --split "$OUT/target_split.json" --grid synthgap/defaults/demo_grid.yaml --category bottle --out "$OUT" \
    "${COMMON[@]}" --detectors yolo --epochs 60 --imgsz 128 --seeds "${SEEDS:-3}" --zoo-images 48 --singles 3 \
    --no-real-baseline --transfer "${TRANSFER:-runs/study-bottles-zoo/zoo}" "$@"
