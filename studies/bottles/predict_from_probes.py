"""What `synthgap run --predict` learns on bottles, for every render-only metadata at once: the models of
align/predict_metadata.py trained on a run's probe renders (its probes/<config>/ dirs), the cross-validated R²
table, the predictions for the exposed photos' boxes, and each rendered set's D_B to those predictions.

    PYTHONPATH=. .venv/bin/python studies/bottles/predict_from_probes.py [--run runs/study-bottles-zoo]

Only the exposed photos are read (split.json's `exposed`). Numbers: studies/bottles/RESULTS.md, "feature-space sets
beside aligned".
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
METADATA = "depth,visible_px,occlusion_ad2,bg_similarity,camera_elevation_deg,camera_distance"


def main() -> int:
    from align.api import compare_tables, compute_metadata, learn_from_dirs, metadata_for_dir, predict_real, r2_table
    from core.coco import load_coco, load_split
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=str(REPO / "runs" / "study-bottles-zoo"))
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "realsets" / "bottles"))
    ap.add_argument("--metadata", default=METADATA)
    a = ap.parse_args()
    run, R, wanted = Path(a.run), Path(a.real), a.metadata.split(",")
    dirs = sorted(d for d in (run / "probes").iterdir() if (d / "DONE").exists())
    models = learn_from_dirs(dirs, wanted, category="bottle")
    real = load_coco(R / "annotations_coco.json", R / "images", category="bottle")
    ids = list(load_split(R / "split.json", real).exposed)
    measured = compute_metadata(real.json_path, real.images_dir, category="bottle", image_ids=ids,
                                dataset="real-exposed")
    table, done, check = predict_real(real, ids, measured, models)
    print(f"{len(dirs)} probe dirs of {run}")
    print("\n".join(r2_table(models, check)))
    for m in done:
        v = table.values(m)
        print(f"{m} predicted for the photos: mean {np.nanmean(v):.3f} sd {np.nanstd(v):.3f}, "
              f"range of the probes [{models[m].lo:.3f}, {models[m].hi:.3f}]")
    for s in sorted(d for d in (run / "sets").iterdir() if (d / "DONE").exists()):
        res = compare_tables(table, metadata_for_dir(s, category="bottle"), metadata=done, level="bbox")
        print(f"D_B to the predictions, {s.name}: " + ", ".join(
            f"{m} {r.db:.3f}" for m, r in res.items() if r.db is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
