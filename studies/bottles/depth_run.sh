#!/usr/bin/env bash
# Bottles aligned on *predicted* depth (issue 12): `synthgap run --predict depth` learns depth from the probe
# renders' box crops, predicts it for the 35 boxes of the 30 exposed photos, and fits / selects on area_frac, cy and
# the predicted depth. Same grid, probe size, set size and seed as the zoo run (studies/bottles/zoo.sh), so the
# zoo run's probes and baseline are the same renders: when $FROM holds them they are hard-linked in, not rendered
# again. Faster R-CNN (ImageNet start, 15 epochs, SEEDS seeds) on the aligned set; compare with
# runs/study-bottles-zoo (aligned on area_frac, cy). Results: $OUT/report.md, $OUT/benchmark/report.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
OUT="${OUT:-runs/study-bottles-depth}"
FROM="${FROM:-runs/study-bottles-zoo}"
if [ -d "$FROM/probes" ] && [ ! -e "$OUT/probes" ]; then
    mkdir -p "$OUT/sets" && cp -al "$FROM/probes" "$OUT/probes" && cp -al "$FROM/sets/baseline" "$OUT/sets/baseline"
fi
exec bin/synthgap run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$REAL/split.json" \
    --category bottle --grid studies/bottles/grid.yaml --total 90 --probe-n 8 --selectors component \
    --predict depth --variants baseline --bench-variants aligned \
    --detectors frcnn --epochs 15 --seeds "${SEEDS:-3}" --no-real-baseline --out "$OUT" "$@"
