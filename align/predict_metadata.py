"""Metadata predicted from features (thesis §4.6.2, T5.8/T5.9): the renderer knows, per object, metadata that
photos lack (depth, visible pixels, occlusion, background similarity, the camera's elevation); learn each from
the object's crop features on synthetic data and predict it for the real boxes.

Model per metadata: standardised features -> ridge regression with the penalty chosen by efficient leave-one-out
(scikit-learn RidgeCV, alphas 10^-2 .. 10^4). Quality: the cross-validated R² (K = 5 folds, shuffled, seed 0)
on the synthetic boxes. A metadata whose R² is below MIN_R2 is *not predictable* from these features: it is
reported with its R² and left out of the predictions, never silently filled in.

`predict_table(real_table, real_feats, real_ann_ids, models)` returns the real MetadataTable with each
predictable metadata filled on its bbox rows (the columns keep their names, so D_B, the GMM fit and the
selectors use them like measured ones) and records which columns are predictions in the result.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_R2 = 0.3
FOLDS = 5
SIDECAR_TARGETS = ("depth", "visible_px", "occlusion_ad2", "bg_similarity", "camera_elevation_deg",
                   "camera_distance")


@dataclass
class MetadataModel:
    metadata: str
    r2: float                  # cross-validated R² on the synthetic boxes
    r2_sd: float               # its sd over the folds
    n: int                     # synthetic boxes trained on
    predictable: bool          # r2 >= MIN_R2
    model: object = None       # the fitted scikit-learn pipeline (all boxes), None when not predictable


def fit_models(feats: np.ndarray, targets: dict[str, np.ndarray], seed: int = 0) -> dict[str, MetadataModel]:
    """One ridge model per metadata (module docstring); rows with a non-finite target are left out."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    out = {}
    for m, y in targets.items():
        y = np.asarray(y, float)
        ok = np.isfinite(y)
        X, yy = np.asarray(feats, float)[ok], y[ok]
        if len(yy) < 2 * FOLDS or np.std(yy) == 0:
            out[m] = MetadataModel(m, float("nan"), float("nan"), int(len(yy)), False)
            continue
        pipe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        cv = KFold(FOLDS, shuffle=True, random_state=seed)
        r2 = cross_val_score(pipe, X, yy, cv=cv, scoring="r2")
        good = float(r2.mean()) >= MIN_R2
        out[m] = MetadataModel(m, float(r2.mean()), float(r2.std()), int(len(yy)), good,
                               pipe.fit(X, yy) if good else None)
    return out


def predict_table(real_table, real_feats: np.ndarray, real_ann_ids: list[int],
                  models: dict[str, MetadataModel]):
    """(a copy of the real MetadataTable with each predictable metadata filled on its bbox rows by annotation id,
    the list of predicted columns)."""
    from align.metadata import MetadataTable
    data = {k: v.copy() for k, v in real_table.data.items()}
    n = len(data["level"])
    row_of = {int(a): i for i, a in enumerate(data["ann_id"]) if np.isfinite(a)}
    rows = np.array([row_of[int(a)] for a in real_ann_ids], dtype=int)
    done = []
    for m, mm in models.items():
        if not mm.predictable:
            continue
        col = data.get(m, np.full(n, np.nan)).astype(float)
        col[rows] = mm.model.predict(np.asarray(real_feats, float))
        data[m] = col
        done.append(m)
    return MetadataTable(real_table.dataset, data), done


def r2_table(models: dict[str, MetadataModel]) -> list[str]:
    """Markdown rows: metadata | boxes | cross-validated R² ± sd | used."""
    rows = ["| metadata | synthetic boxes | cross-validated R² | predicted for the photos |", "|---|---|---|---|"]
    for m, mm in models.items():
        r2 = "n/a" if not np.isfinite(mm.r2) else f"{mm.r2:.3f} ± {mm.r2_sd:.3f}"
        rows.append(f"| {m} | {mm.n} | {r2} | {'yes' if mm.predictable else f'no (R² < {MIN_R2})'} |")
    return rows
