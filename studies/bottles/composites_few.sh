#!/usr/bin/env bash
# Issue 25's composites on the 10-photo bottles split (split10.sh): composites.sh with the fit, the plates, the
# synthesizer's realism term and early stopping on 10 exposed photos only (the same 59 test photos score). The
# probes are those of the 30-photo run (SRC, hard-linked: they depend on the grid and seeds, not on the photos).
# Same variables as composites.sh (SEEDS, REGIMES, TOTAL). SEEDS=1 first. Rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${SRC:-runs/composite-bottles}
export OUT=${OUT:-runs/composite-bottles-10photos-composites}
bash studies/bottles/split10.sh "$OUT" "$SRC"
SPLIT="$OUT/split10.json" exec bash studies/bottles/composites.sh "$@"
