"""One benchmark cell: its name, the cells of a spec, the cell it starts from, how it is trained and scored, and
its results record (docs/design.md §6). Used by the local loop (benchmark/run.py) and the Ray tasks
(benchmark/run_ray.py) alike, so a cell is the same wherever it runs."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from core.coco import CocoSet, Split
from core.io import atomic_write_json, read_json

from benchmark.spec import RunSpec
from benchmark.detectors import CellContext, TrainSet, TrainSettings


def cell_name(variant: str, detector: str, seed: int, regime: str = "synthetic") -> str:
    """`<variant>__<detector>__seed<s>` (synthetic, and the real regime's `real__...`), else `...__<regime>`."""
    base = f"{variant}__{detector}__seed{seed}"
    return base if regime in ("synthetic", "real") else f"{base}__{regime}"


def regimes_of(spec: RunSpec) -> list[str]:
    """The spec's regimes in registry order; `real_baseline=False` drops `real`; finetune brings synthetic."""
    from benchmark.regimes import REGIMES
    want = set(spec.regimes) - ({"real"} if not spec.real_baseline else set())
    want |= {REGIMES.get(r).needs for r in want if REGIMES.get(r).needs}
    return [r for r in REGIMES.names() if r in want]


@dataclass
class Cell:
    regime: str
    variant: str                 # the variant (or "real" for the real regime)
    detector: str
    seed: int

    @property
    def name(self) -> str:
        return cell_name(self.variant, self.detector, self.seed, self.regime)


def cells_of(spec: RunSpec, variants: list[str]) -> list[Cell]:
    from benchmark.regimes import REGIMES, REAL
    out = []
    for regime in regimes_of(spec):
        applies = getattr(REGIMES.get(regime), "applies", lambda v, s: True)
        for v in (variants if REGIMES.get(regime).per_variant else [REAL]):
            out += [Cell(regime, v, d, s) for d in spec.detectors for s in spec.seeds if applies(v, spec)]
    return out


def prior_cell(spec: RunSpec, cell: Cell) -> str | None:
    """The cell whose weights `cell` starts from (its regime's `needs`, of the same variant or the regime's
    `source`), else None."""
    from benchmark.regimes import REGIMES
    regime = REGIMES.get(cell.regime)
    if not regime.needs:
        return None
    variant = regime.source(cell.variant, spec) if hasattr(regime, "source") else cell.variant
    return cell_name(variant, cell.detector, cell.seed, regime.needs)


def record(spec: RunSpec, ctx: CellContext, cell: Cell, dataset_dir: str, train: TrainSet, trained,
            test_dets: list[dict], t0: float) -> dict:
    from benchmark.evaluate import score_faster
    from benchmark.stats import bootstrap_ci
    from benchmark.yolo import versions
    pred_path = ctx.out / "predictions" / f"{cell.name}.json"
    atomic_write_json(pred_path, test_dets, indent=None)
    meta = read_json(ctx.out / "metadata" / f"{cell.variant}.json")
    gt = ctx.real.subset(ctx.split.test, ctx.names)
    return {"variant": cell.variant, "regime": cell.regime, "dataset_dir": dataset_dir, "detector": cell.detector,
            "seed": cell.seed, "epochs": train.epochs or spec.epochs, "imgsz": spec.imgsz,
            "category": spec.category, "classes": ctx.names, **trained.record(), "start": train.start,
            "train_data": [f"{cs.json_path} ({'all' if ids is None else len(ids)} images x{k})"
                           for cs, ids, k in train.parts()],
            "selection": ("best epoch by mAP on the real exposed images" if train.select_best else
                          "fixed schedule, last epoch (the real exposed images are training data)"),
            "test": score_faster(gt, test_dets), "test_ci": bootstrap_ci(gt, [test_dets], B=200),
            "test_per_class": per_class_scores(ctx, test_dets),
            "db_to_real": meta.get("db", {}), "val_split": "real exposed",
            "n_val_images": len(ctx.split.exposed), "n_test_images": len(ctx.split.test),
            "predictions": str(pred_path.relative_to(ctx.out)), "cell_s": round(time.monotonic() - t0, 2),
            "versions": versions()}


def per_class_scores(ctx: CellContext, test_dets: list[dict], B: int = 200) -> dict | None:
    """Several classes: {class: {"map", "ap50", "ci": {"map": [lo, hi], ...}, "boxes"}} on the test images (each
    class's boxes and detections alone, bootstrapped over the test images); None with one class."""
    from benchmark.evaluate import score_faster
    from benchmark.stats import bootstrap_ci
    if len(ctx.names) < 2:
        return None
    out = {}
    for name in ctx.names:
        gt = ctx.real.subset(ctx.split.test, [name])
        dets = [d for d in test_dets if d["category_id"] == ctx.real_ids[name]]
        s = score_faster(gt, dets)
        out[name] = {"map": s["map"], "ap50": s["ap50"], "boxes": len(gt["annotations"]),
                     "ci": bootstrap_ci(gt, [dets], B=B) if gt["annotations"] else None}
    return out


def settings_for(spec: RunSpec, detector: str) -> TrainSettings:
    """One detector's settings: the run's, and its own options (its Params, checked) when it declares them."""
    from benchmark.detectors import check_detector_params
    params = check_detector_params({detector: spec.detector_params.get(detector, {})}, [detector])
    return TrainSettings(epochs=spec.epochs, imgsz=spec.imgsz, device=spec.device, patience=spec.patience,
                         batch=spec.batch, init=spec.init, params=params.get(detector))


def make_regime(spec: RunSpec, name: str):
    """The registered regime `name`, its own options (its Params, checked) set as `params` when it has them."""
    from benchmark.regimes import REGIMES
    from core.params import check_registry
    regime = REGIMES.get(name)()
    params = check_registry(REGIMES, {name: spec.regime_params.get(name, {})}, [name])
    if name in params:
        regime.params = params[name]
    return regime


def make_detector(spec: RunSpec, name: str):
    """The registered detector `name`, made with its settings."""
    from benchmark.detectors import DETECTORS
    return DETECTORS.get(name)(settings_for(spec, name))


def run_cell(spec: RunSpec, ctx: CellContext, cell: Cell, sets: dict[str, CocoSet], detector) -> dict:
    regime = make_regime(spec, cell.regime)
    prior = None
    if prior_cell(spec, cell):
        prior = read_json(ctx.out / "results" / f"{prior_cell(spec, cell)}.json", "results record")["weights"]
    cs = sets.get(cell.variant, ctx.real)
    train = regime.train_set(cell.variant, cs, ctx, spec, prior)
    cell_dir = ctx.out / "cells" / cell.name
    shutil.rmtree(cell_dir, ignore_errors=True)   # a killed cell restarts from scratch
    cell_dir.mkdir(parents=True)
    t0 = time.monotonic()
    trained = detector.train(train, ctx, cell.seed, cell_dir)
    test_dets = detector.predict(trained, ctx, ctx.split.test)
    return record(spec, ctx, cell, str(cs.json_path.parent), train, trained, test_dets, t0)


def cell_context(spec: RunSpec, real: CocoSet, split: Split, names: list[str]) -> CellContext:
    return CellContext(real, split, names, {n: i for n, i in real.name_to_id().items() if n in names},
                       real.subset(split.exposed, names), Path(spec.out))
