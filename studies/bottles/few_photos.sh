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
mkdir -p "$OUT"
if [ ! -f "$OUT/split10.json" ]; then
    bin/synthgap split "$REAL/annotations_coco.json" --category bottle --exposed 10 --out "$OUT/split10-pool.json"
    .venv/bin/python - "$OUT/split10-pool.json" "$REAL/split.json" "$OUT/split10.json" <<'PY'
import json, sys
ten, full = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert set(ten["exposed"]) <= set(full["exposed"]), "the 10 photos must be among the 30 exposed ones"
json.dump({"exposed": ten["exposed"], "test": full["test"],
           "rule": "the first 10 of the 30 exposed photos by sha1(file_name); test = the 59 test photos"},
          open(sys.argv[3], "w"), indent=1)
PY
fi
exec bin/synthgap benchmark run --real "$REAL/annotations_coco.json" --images "$REAL/images" --split "$OUT/split10.json" \
    --category bottle --detectors frcnn --init imagenet --regimes synthetic,real,finetune --epochs 15 --imgsz 320 \
    --metadata area_frac,cy --seeds "${SEEDS:-1}" --out "$OUT/benchmark" \
    --variants $(for n in ${NAMES:-baseline aligned filtered on-surface aligned-mix}; do echo "$n=$SETS/$n"; done) "$@"
