#!/usr/bin/env bash
# Bottles and cups in one run, each class aligned to its own exposed boxes (issue 23 part 3; RESULTS.md
# "Two classes"). The shared split exposes one cup box, so this study uses a stratified split of the same
# photos (split-classes.json: 27 bottles + 8 cups exposed, 70 + 12 test). Resumable: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=../shared/realsets/bottles
OUT=${OUT:-runs/classes-bottles}
bin/synthgap run --real $B/annotations_coco.json --images $B/images --split studies/bottles/split-classes.json \
  --category bottle,cup --grid studies/bottles/grid-classes.yaml --out "$OUT" \
  --total 120 --probe-n 10 --probe-max 20 --variants baseline --epochs 15 "$@"
