"""The realism metrics' registry: whole-image distances between a set's features and the real exposed photos'.

A metric is a class registered in `REALISM_METRICS` under the name it has in the zoo (`synthgap zoo`'s
distances.json and ranking, the quality score's weights, `align compare --realism`, a run's distances.json
`realism.metrics`):

    class MeanGap:
        description = "distance between the feature means"
        def distance(self, real, synth) -> float: ...     # (n, d) and (m, d) feature arrays; lower = closer

    REALISM_METRICS.register("mean-gap", MeanGap)        # from any module: no project file edited

`realism(real_cs, ids, synth_cs)` (here, on two CocoSets' images) computes every registered metric on the same
features (align/features.py) and records them under "metrics"; the quality score (align/quality.py) ranks and weights whatever metrics a zoo table holds,
so a new metric needs nothing else. Built-ins: kid (KID's unbiased estimate), fid, 1-precision and 1-recall (KNN
precision / recall as distances; align/feature_filter.py).
"""
from __future__ import annotations

import numpy as np

from align.realism import fid, kid, mmd2_unbiased
from core.registry import Registry


class Kid:
    description = "kernel inception distance: unbiased MMD^2, cubic polynomial kernel (align/realism.py)"

    def distance(self, real: np.ndarray, synth: np.ndarray) -> float:
        return mmd2_unbiased(np.asarray(real, np.float64), np.asarray(synth, np.float64))


class Fid:
    description = "Frechet distance of Gaussians fitted to the features (biased at small n: equal sizes only)"

    def distance(self, real: np.ndarray, synth: np.ndarray) -> float:
        return fid(real, synth)


class OneMinusPrecision:
    description = "1 - KNN precision: the share of the set's images outside the photos' feature manifold"

    def distance(self, real: np.ndarray, synth: np.ndarray) -> float:
        from align.feature_filter import precision_recall
        return 1.0 - precision_recall(real, synth)["precision"]


class OneMinusRecall:
    description = "1 - KNN recall: the share of the photos outside the set's feature manifold"

    def distance(self, real: np.ndarray, synth: np.ndarray) -> float:
        from align.feature_filter import precision_recall
        return 1.0 - precision_recall(real, synth)["recall"]


REALISM_METRICS: Registry[type] = Registry("realism metric", "realism metrics")
REALISM_METRICS.register("kid", Kid)
REALISM_METRICS.register("fid", Fid)
REALISM_METRICS.register("1-precision", OneMinusPrecision)
REALISM_METRICS.register("1-recall", OneMinusRecall)


def all_metrics(real: np.ndarray, synth: np.ndarray, known: dict[str, float] | None = None) -> dict[str, float]:
    """Every registered metric between the two feature sets, in registration order; those in `known` (already
    computed by the caller on the same features) are taken from it."""
    known = known or {}
    return {name: float(known[name]) if name in known else float(REALISM_METRICS.get(name)().distance(real, synth))
            for name in REALISM_METRICS.names()}


def realism(real_cs, real_ids: list[int] | None, synth_cs, synth_ids: list[int] | None = None,
            B: int = 200) -> dict:
    """KID (with its standard error, align/realism.py), FID and KNN precision / recall (align/feature_filter.py)
    between two CocoSets' images (features cached per image set), and under "metrics" every registered realism
    metric (the zoo's names). Fewer than 2 images on a side is a UserError (KID and the KNN radii need two), so a
    caller can leave an empty set out with a note."""
    from align.features import EXTRACTOR, coco_features
    from core.errors import UserError
    for cs, ids in ((real_cs, real_ids), (synth_cs, synth_ids)):
        n = len(cs.images) if ids is None else len(set(ids) & {int(im["id"]) for im in cs.images})
        if n < 2:
            raise UserError(f"{cs.json_path}: {n} image(s): realism needs at least 2 images on each side")
    from align.feature_filter import precision_recall
    fr, fs = coco_features(real_cs, real_ids), coco_features(synth_cs, synth_ids)
    k, pr = kid(fr, fs, B=B), precision_recall(fr, fs)   # each once; the registry's built-ins reuse them
    metrics = all_metrics(fr, fs, {"kid": k["kid"], "1-precision": 1.0 - pr["precision"],
                                   "1-recall": 1.0 - pr["recall"]})
    return {**k, "fid": metrics["fid"], "precision": pr["precision"], "recall": pr["recall"], "extractor": EXTRACTOR,
            "metrics": metrics}
