#!/usr/bin/env bash
# The first real study: ../shared/realsets/bottles (30 exposed / 59 test), Sweet Home 3D bottle models.
# Scaled to a 2-core CPU: 150 images per set at 240x320, yolov8n 25 epochs at 320 px, 2 seeds.
# Rerun to resume. Results: runs/study-bottles/report.md; summary committed as studies/bottles/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL=../shared/realsets/bottles
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total 150 --probe-n 12 \
    --detectors yolo --epochs 25 --seeds 2 --imgsz 320 --out "${OUT:-runs/study-bottles}" "$@"
