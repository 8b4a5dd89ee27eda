#!/usr/bin/env bash
# Probe adequacy on bottles (issue 15): the framing run's fit and 12-image probes, selected again with probe
# growth on (the defaults: grow while a plan's predicted-D_B 95 % interval is wider than 0.15, up to 48 images per
# chosen config), then the aligned sets rendered and their realised D_B set beside the prediction in the report.
# Reuses runs/study-bottles-framing (hard links; that folder is not changed). Results: $OUT/report.md
# ("Predicted from the probes vs realised"); summary in studies/bottles/RESULTS.md ("Probe adequacy").
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC="${SRC:-runs/study-bottles-framing}"
OUT="${OUT:-runs/study-bottles-probes}"
mkdir -p "$OUT/sets"
for f in real_metadata.json fit.json; do [ -e "$OUT/$f" ] || cp "$SRC/$f" "$OUT/$f"; done
[ -e "$OUT/probes" ] || cp -al "$SRC/probes" "$OUT/probes"
[ -e "$OUT/sets/baseline" ] || cp -al "$SRC/sets/baseline" "$OUT/sets/baseline"
OUT="$OUT" exec studies/bottles/run_framing.sh "$@"
