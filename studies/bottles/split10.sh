#!/usr/bin/env bash
# OUT/split10.json: bottles with 10 real photos instead of 30, the split rule's first 10 exposed photos (a subset of
# the 30: `synthgap split --exposed 10` orders by the same SHA-1 of file names) and the same 59 test photos.
# With a second argument SRC (a 30-photo run dir), SRC/probes is hard-linked into OUT/probes: probes depend on the
# grid and seeds, not on the photos (when SRC has none, the run renders its own).
# Used by few_photos.sh, lookahead_few.sh and refine_few.sh. Usage: studies/bottles/split10.sh OUT [SRC]
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL="${REAL:-../shared/realsets/bottles}"
OUT="$1"
SRC="${2:-}"
mkdir -p "$OUT"
if [ -n "$SRC" ] && [ -d "$SRC/probes" ] && [ ! -d "$OUT/probes" ]; then cp -al "$SRC/probes" "$OUT/probes"; fi
[ -f "$OUT/split10.json" ] && exit 0
bin/synthgap split "$REAL/annotations_coco.json" --category bottle --exposed 10 --out "$OUT/split10-pool.json"
.venv/bin/python - "$OUT/split10-pool.json" "$REAL/split.json" "$OUT/split10.json" <<'PY'
import json, sys
ten, full = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert set(ten["exposed"]) <= set(full["exposed"]), "the 10 photos must be among the 30 exposed ones"
json.dump({"exposed": ten["exposed"], "test": full["test"],
           "rule": "the first 10 of the 30 exposed photos by sha1(file_name); test = the 59 test photos"},
          open(sys.argv[3], "w"), indent=1)
PY
