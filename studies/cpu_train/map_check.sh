#!/usr/bin/env bash
# Issue 26: do the Faster R-CNN CPU training options keep mAP? The own-object study's recommended set
# (runs/own-flask/run/sets/aligned-component: 120 renders of a wine bottle as class `flask`; make it with
# studies/own_objects/own_objects.sh) trained with each option set, 3 seeds, 15 epochs, best epoch on the 30
# exposed photos, scored on the 59 test photos only. Each option set is its own benchmark dir (resumable).
# usage: studies/cpu_train/map_check.sh [NAME ...]   (default: every option set below)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/own-flask/run}
OUT=${OUT:-runs/cpu-train-map}
SEEDS=${SEEDS:-0,1,2}
declare -A OPTS=(
  [fp32]="--frcnn-precision fp32 --frcnn-memory-format nchw"
  [bf16-cl]="--frcnn-precision bf16 --frcnn-memory-format channels-last"
  [bf16-cl-freeze14]="--frcnn-precision bf16 --frcnn-memory-format channels-last --frcnn-freeze 14"
)
NAMES=("$@"); [ ${#NAMES[@]} -gt 0 ] || NAMES=(fp32 bf16-cl bf16-cl-freeze14)
REAL=${REAL:-runs/own-flask/photos/data.yaml}
for name in "${NAMES[@]}"; do
  t0=$(date +%s)
  # shellcheck disable=SC2086
  bin/synthgap benchmark run --variants aligned-component="$RUN/sets/aligned-component" --real "$REAL" \
    --split runs/own-flask/split.json --category flask --detectors frcnn --regimes synthetic --epochs 15 \
    --seeds "$SEEDS" ${OPTS[$name]} --out "$OUT/$name"
  echo "[cpu_train] $name: $(( $(date +%s) - t0 )) s"
done
.venv/bin/python - "$OUT" "${NAMES[@]}" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
for name in sys.argv[2:]:
    rs = [json.loads(p.read_text()) for p in sorted((out / name / "results").glob("aligned-component__frcnn__seed*.json"))]
    maps = [r["test"]["map"] for r in rs]
    ips = [r["n_train_images"] / statistics.median(r["epoch_s"][1:] or r["epoch_s"]) for r in rs]
    print(f"{name}: test mAP50-95 " + " ".join(f"{m:.3f}" for m in maps) + f" (mean {statistics.mean(maps):.3f}"
          + (f", sd {statistics.stdev(maps):.3f}" if len(maps) > 1 else "") + f"); train images/s "
          + " ".join(f"{v:.2f}" for v in ips) + f"; training {rs[0].get('training')}")
PY
