"""Metadata predicted from features (thesis §4.6.2, T5.8/T5.9): the renderer knows, per object, metadata that
photos lack (depth, visible pixels, occlusion, background similarity, the camera's elevation); learn each from
the object's crop features on synthetic data and predict it for the real boxes.

Model per metadata: standardised features -> ridge regression with the penalty chosen by efficient leave-one-out
(scikit-learn RidgeCV, alphas 10^-2 .. 10^4). Quality: the cross-validated R² (K = 5 folds, shuffled, seed 0)
on the synthetic boxes. A metadata whose R² is below MIN_R2, or learnt from fewer than MIN_BOXES boxes (a
5-fold R² on a handful of boxes says nothing), is *not predictable* from these features: it is reported with
its R² and left out of the predictions, never silently filled in. Predictions are clipped to the range of the
synthetic training values: a linear model extrapolates freely (a negative depth), and a value the renders
never showed is one no grid config could be chosen for anyway.

`predict_table(real_table, real_feats, real_ann_ids, models)` returns the real MetadataTable with each
predictable metadata filled on its bbox rows (the columns keep their names, so D_B, the GMM fit and the
selectors use them like measured ones) and records which columns are predictions in the result. A metadata
asked for is a prediction or missing, never a measured value kept: on a synthetic stand-in target (which has
them measured) the pipeline then runs as on photos, and `agreement` scores the prediction against the
measurement (R² on the real boxes), the one check that does not rest on the synthetic training boxes.

`learn_from_dirs(dirs, metadata)` trains the models on finished synthetic dataset dirs (their sidecar holds the
targets), `predict_real(real_cs, image_ids, real_table, models)` applies them: `synthgap align predict` uses
one set, `synthgap run --predict` every probe render of the grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_R2 = 0.3
MIN_BOXES = 30
FOLDS = 5
SIDECAR_TARGETS = ("depth", "visible_px", "occlusion_ad2", "bg_similarity", "camera_elevation_deg",
                   "camera_distance")


@dataclass
class MetadataModel:
    metadata: str
    r2: float                  # cross-validated R² on the synthetic boxes
    r2_sd: float               # its sd over the folds
    n: int                     # synthetic boxes trained on
    predictable: bool          # r2 >= MIN_R2 and n >= MIN_BOXES
    model: object = None       # the fitted scikit-learn pipeline (all boxes), None when not predictable
    lo: float = float("nan")   # range of the synthetic training values: predictions are clipped to it
    hi: float = float("nan")

    def predict(self, feats: np.ndarray) -> np.ndarray:
        return np.clip(self.model.predict(np.asarray(feats, float)), self.lo, self.hi)

    def record(self) -> dict:
        """What a run keeps of the model (RUN/predict.json), read back by `from_record` for the reports."""
        return {"r2": self.r2, "r2_sd": self.r2_sd, "n": self.n, "predictable": self.predictable}

    @classmethod
    def from_record(cls, metadata: str, rec: dict) -> "MetadataModel":
        return cls(metadata, rec["r2"], rec["r2_sd"], rec["n"], rec["predictable"])


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
        good = float(r2.mean()) >= MIN_R2 and len(yy) >= MIN_BOXES
        out[m] = MetadataModel(m, float(r2.mean()), float(r2.std()), int(len(yy)), good,
                               pipe.fit(X, yy) if good else None, float(yy.min()), float(yy.max()))
    return out


def predict_table(real_table, real_feats: np.ndarray, real_ann_ids: list[int],
                  models: dict[str, MetadataModel]):
    """(a copy of the real MetadataTable in which every metadata of `models` is a prediction on the bbox rows,
    by annotation id, or missing (NaN on every row) where it is not predictable - a measured value is never
    kept beside predicted ones; the list of predicted columns)."""
    from align.metadata import MetadataTable
    data = {k: v.copy() for k, v in real_table.data.items()}
    n = len(data["level"])
    row_of = _rows_by_ann(real_table)
    rows = np.array([row_of[int(a)] for a in real_ann_ids], dtype=int)
    done = []
    for m, mm in models.items():
        col = np.full(n, np.nan)
        if mm.predictable:
            col[rows] = mm.predict(real_feats)
            done.append(m)
        data[m] = col
    return MetadataTable(real_table.dataset, data), done


def _rows_by_ann(table) -> dict[int, int]:
    """annotation id -> its row in a MetadataTable (bbox rows; image rows have no annotation id)."""
    return {int(a): i for i, a in enumerate(table.data["ann_id"]) if np.isfinite(a)}


def learn_from_dirs(dirs: list, metadata: list[str], category: str | None = None,
                    extractor: str | None = None) -> dict[str, MetadataModel]:
    """Box-crop features (align.features, cached per dir) and the sidecar metadata of every box of the finished
    synthetic dataset dirs, pooled -> fit_models."""
    from align.features import crop_features
    from align.metadata import metadata_for_dir
    from core.coco import load_coco
    feats, targets = [], {m: [] for m in metadata}
    for d in dirs:
        t = metadata_for_dir(d, category=category)
        f, ann_ids = crop_features(load_coco(d, category=category), extractor=extractor)
        row = _rows_by_ann(t)
        feats.append(f)
        for m in metadata:
            col = t.data.get(m)
            targets[m] += [float(col[row[a]]) if col is not None and a in row else np.nan for a in ann_ids]
    return fit_models(np.concatenate(feats) if feats else np.zeros((0, 1)), targets)


def predict_real(real_cs, image_ids: list[int] | None, real_table, models: dict[str, MetadataModel],
                 extractor: str | None = None):
    """(the real table with the predictable metadata filled, the predicted columns, {metadata: R² of the
    prediction against the measured values} where the real table had measured ones)."""
    from align.features import crop_features
    feats, ids = crop_features(real_cs, image_ids, extractor=extractor)
    table, done = predict_table(real_table, feats, ids, models)
    return table, done, agreement(real_table, table, done)


def agreement(measured, predicted, columns: list[str]) -> dict[str, float]:
    """R² of each predicted column against the measured one on the boxes that have both (>= 3)."""
    out = {}
    for m in columns:
        if m not in measured.data:
            continue
        y, p = np.asarray(measured.data[m], float), np.asarray(predicted.data[m], float)
        ok = np.isfinite(y) & np.isfinite(p) & (np.asarray(measured.data["level"]) == "bbox")
        if ok.sum() >= 3 and np.var(y[ok]) > 0:
            out[m] = float(1 - np.mean((y[ok] - p[ok]) ** 2) / np.var(y[ok]))
    return out


def r2_table(models: dict[str, MetadataModel], check: dict[str, float] | None = None) -> list[str]:
    """Markdown rows: metadata | boxes | cross-validated R² ± sd | used (| R² against the real boxes' measured
    values, when `check` has any)."""
    check = check or {}
    extra = (" R² against the measured real values |", "---|") if check else ("", "")
    rows = ["| metadata | synthetic boxes | cross-validated R² | predicted for the photos |" + extra[0],
            "|---|---|---|---|" + extra[1]]
    for m, mm in models.items():
        r2 = "n/a" if not np.isfinite(mm.r2) else f"{mm.r2:.3f} ± {mm.r2_sd:.3f}"
        used = "yes" if mm.predictable else f"no (R² < {MIN_R2})" if mm.n >= MIN_BOXES else f"no (< {MIN_BOXES} boxes)"
        rows.append(f"| {m} | {mm.n} | {r2} | {used} |" + (f" {check[m]:.3f} |" if m in check else
                                                           " - |" if check else ""))
    return rows
