#!/usr/bin/env bash
# Issue 24 on the 10-photo bottles split (split10.sh): refine.sh with the aligned set fitted to, the refiners
# trained on and early stopping on 10 exposed photos only (the same 59 test photos score). The probes are those of
# the 30-photo run (SRC, hard-linked: they depend on the grid and seeds, not on the photos). Same variables as
# refine.sh (SEEDS, REGIMES, SETS, BENCH). Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${SRC:-runs/refine-bottles}
export OUT=${OUT:-runs/refine-bottles-10photos}
bash studies/bottles/split10.sh "$OUT" "$SRC"
SPLIT="$OUT/split10.json" exec bash studies/bottles/refine.sh "$@"
