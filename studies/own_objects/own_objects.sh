#!/usr/bin/env bash
# A user's first run with their own object and labels (issue 23's goal), timed: one mesh file (a wine bottle
# OBJ standing in for a product scan), photos labelled in YOLO form (the shared bottles set's bottle boxes,
# written as YOLO labels of the class `flask`; the cups left unlabelled, as a user labelling only their product
# would), then the README's two commands and `synthgap run`. Studies' scale (--total 120 --epochs 15); a
# private manifest ($SYNTHGAP_MANIFEST) so the clone's is untouched. Resumable: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/own-flask}
B=../shared/realsets/bottles
MESH=${MESH:-$HOME/.cache/synthgap/assets/sweethome3d/scopia/wine_bottle/wine_bottle.obj}
mkdir -p "$OUT"
export SYNTHGAP_MANIFEST="$OUT/manifest.yaml"
[ -f "$SYNTHGAP_MANIFEST" ] || cp assets_manifest.yaml "$SYNTHGAP_MANIFEST"
# the user's inputs (not timed): the mesh file and the YOLO-labelled photos
if [ ! -f "$OUT/photos/data.yaml" ]; then
  mkdir -p "$OUT/mesh" && cp "$(dirname "$MESH")"/* "$OUT/mesh/"
  .venv/bin/python - "$B" "$OUT/photos" <<'PY'
import json, shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
coco = json.loads((src / "annotations_coco.json").read_text())
bottle = next(c["id"] for c in coco["categories"] if c["name"] == "bottle")
(dst / "images").mkdir(parents=True), (dst / "labels").mkdir()
for im in coco["images"]:
    shutil.copy(src / "images" / im["file_name"], dst / "images" / Path(im["file_name"]).name)
    W, H = im["width"], im["height"]
    lines = [f"0 {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}"
             for a in coco["annotations"] if a["image_id"] == im["id"] and a["category_id"] == bottle
             for x, y, w, h in [a["bbox"]]]
    (dst / "labels" / (Path(im["file_name"]).stem + ".txt")).write_text("".join(l + "\n" for l in lines))
(dst / "data.yaml").write_text("path: .\ntrain: images\nnames: {0: flask}\n")
PY
fi
t() { local s=$(date +%s); "$@"; echo "[own_objects] $(($(date +%s) - s)) s: ${*:1:3}" | tee -a "$OUT/times.txt"; }
MESH_FILE="$OUT/mesh/$(basename "$MESH")"
grep -q 'class: flask' "$SYNTHGAP_MANIFEST" || t bin/synthgap assets add "$MESH_FILE" --class flask --height 0.30 --copy
[ -f "$OUT/split.json" ] || t bin/synthgap split "$OUT/photos/data.yaml" --exposed 30 --out "$OUT/split.json"
t bin/synthgap run --real "$OUT/photos/data.yaml" --split "$OUT/split.json" --grid studies/own_objects/grid.yaml \
  --out "$OUT/run" --total 120 --probe-n 10 --epochs 15 "$@"
