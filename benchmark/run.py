"""The variant matrix: every detector x variant x seed trained, scored on the real test split, recorded.

RUN_DIR layout:
  run.json                       the settings (a rerun must use the same real set / split / category / imgsz / epochs)
  data/<variant>/                YOLO exports (train sets; `real-exposed` = val; `real-test` = test images)
  metadata/<variant>.json        D_B of the variant to the real exposed split per metadata + histogram samples
  cells/<variant>__<det>__seed<s>/  detector work dirs (weights)
  predictions/<cell>.json        COCO detections on the real test images (real category ids)
  results/<cell>.json            the results record (docs/design.md §6), written last: a cell with one is done
"""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.coco import CocoSet, Split, load_coco, load_split
from core.errors import UserError
from core.io import atomic_write_json, check_out_dir, read_json
from core.progress import Progress

from benchmark.detectors import DETECTORS, CellContext, TrainSet, TrainSettings

BASELINE = "real"
DEFAULT_METADATA = ["area_frac", "aspect", "cx", "cy", "sharpness", "brightness", "contrast", "entropy"]
HIST_SAMPLES = 2000


@dataclass
class RunSpec:
    variants: list[tuple[str, str]]        # (name, dataset dir or COCO json)
    real_json: str
    images_dir: str
    split: str
    out: str
    detectors: list[str] = field(default_factory=lambda: ["yolo", "frcnn"])
    epochs: int = 30
    seeds: list[int] = field(default_factory=lambda: [0])
    imgsz: int = 320
    category: str | None = None
    real_baseline: bool = True
    patience: int = 20
    device: str | None = None
    batch: int = 8
    metadata: list[str] = field(default_factory=lambda: list(DEFAULT_METADATA))
    yolo_model: str = "yolov8n.yaml"
    regimes: list[str] = field(default_factory=lambda: ["synthetic", "real"])   # benchmark/regimes.py
    init: str = "auto"                     # start weights (Faster R-CNN: auto|imagenet|coco|scratch|PATH)
    yolo_weights: str | None = None        # a local Ultralytics checkpoint to start YOLO from
    mixed_share: float = 0.5               # regime mixed: share of real photos per epoch
    finetune_epochs: int | None = None     # regime finetune: epochs (default: epochs)
    mean_metadata: list[str] | None = None  # what "mean D_B" averages (default: align's fit metadata)
    real_table: str | None = None          # the real exposed boxes' saved MetadataTable to compare against (e.g.
                                           # the run's, with predicted depth) instead of measuring the photos


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


def check_training(init: str, yolo_weights: str | None, mixed_share: float, finetune_epochs: int | None) -> None:
    """The start-weight and regime options (shared by `benchmark run` and `synthgap run`)."""
    from benchmark.frcnn_init import check_init
    check_init(init)
    if yolo_weights is not None and not Path(yolo_weights).is_file():
        raise UserError(f"{yolo_weights}: --yolo-weights: file not found (a local Ultralytics .pt; "
                        "nothing is downloaded)")
    if (finetune_epochs or 1) < 1:
        raise UserError(f"--finetune-epochs must be >= 1, got {finetune_epochs}")
    if not 0 < mixed_share < 1:
        raise UserError(f"--mixed-share must be between 0 and 1, got {mixed_share}")


def _check_spec(spec: RunSpec) -> None:
    names = [n for n, _ in spec.variants]
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", n) or "__" in n:
            raise UserError(f"--variants: name {n!r} must be letters, digits, '.', '_' or '-' (no '__')")
    if len(set(names)) != len(names):
        raise UserError(f"--variants: duplicate names in {names}")
    if spec.real_baseline and BASELINE in names:
        raise UserError(f"--variants: {BASELINE!r} is the real-data baseline's name; rename the variant "
                        "or pass --no-real-baseline")
    from benchmark.regimes import REGIMES
    DETECTORS.check(spec.detectors)
    REGIMES.check(spec.regimes)
    check_training(spec.init, spec.yolo_weights, spec.mixed_share, spec.finetune_epochs)
    unknown = sorted(set(spec.mean_metadata or ()) - set(spec.metadata))
    if unknown:
        raise UserError(f"--mean-metadata: {', '.join(unknown)} not among the D_B table's metadata "
                        f"({', '.join(spec.metadata)}; add it with --metadata)")
    if spec.epochs < 1 or spec.imgsz < 32 or not spec.seeds:
        raise UserError("--epochs must be >= 1, --imgsz >= 32 and at least one seed")
    if not names and "real" not in regimes_of(spec):
        raise UserError("nothing to run: no --variants and no real regime")


def _settings(spec: RunSpec) -> dict:
    return {"real_json": str(Path(spec.real_json).resolve()), "split": str(Path(spec.split).resolve()),
            "category": spec.category, "imgsz": spec.imgsz, "epochs": spec.epochs, "init": spec.init,
            "yolo_weights": spec.yolo_weights, "mixed_share": spec.mixed_share,
            "finetune_epochs": spec.finetune_epochs}


def _write_run_json(spec: RunSpec, out: Path) -> None:
    path = out / "run.json"
    d = asdict(spec)
    d["variants"] = {n: str(Path(p).resolve()) for n, p in spec.variants}
    d["settings"] = _settings(spec)
    for key in ("real_json", "images_dir", "split"):
        d[key] = str(Path(d[key]).resolve())
    if path.exists():
        old = read_json(path, "run settings")
        if old.get("settings") != d["settings"]:
            diff = {k: (old.get("settings", {}).get(k), v) for k, v in d["settings"].items()
                    if old.get("settings", {}).get(k) != v}
            raise UserError(f"{path}: this run dir was made with other settings {diff} (old, new); "
                            "use another --out")
        for n, p in old.get("variants", {}).items():
            if n in d["variants"] and d["variants"][n] != p:
                raise UserError(f"{path}: variant {n!r} was {p}, now {d['variants'][n]}; use another name")
            d["variants"].setdefault(n, p)
        d["seeds"] = sorted(set(old.get("seeds", [])) | set(spec.seeds))
        d["detectors"] = list(dict.fromkeys([*old.get("detectors", []), *spec.detectors]))
        d["real_baseline"] = bool(old.get("real_baseline")) or spec.real_baseline
        d["regimes"] = list(dict.fromkeys([*old.get("regimes", ["synthetic", "real"]), *spec.regimes]))
    atomic_write_json(path, d)


# ---------------------------------------------------------------------------------------------------- D_B
def db_to_real(variant: CocoSet, variant_ids: list[int] | None, real: CocoSet, exposed: list[int],
               category: str | None, metadata: list[str], real_table: str | None = None) -> dict:
    """D_B per metadata of a variant to the real exposed split (its saved table `real_table` when given) +
    histogram samples, from the one metadata cache (align.metadata.compute_metadata).
    -> {"db": {name: D_B}, "hist": {name: {"real", "synth"}}}."""
    from align.distances import compare_tables
    from align.metadata import compute_metadata
    sidecar = variant.json_path.parent / "sidecar.json"
    real_side = real.json_path.parent / "sidecar.json"   # a synthetic stand-in target has one (as in the run)
    if real_table:
        from align.metadata import MetadataTable
        real_t = MetadataTable.load(real_table)
    else:
        real_t = compute_metadata(real.json_path, real.images_dir, category=category, image_ids=exposed,
                                  sidecar=real_side if real_side.exists() else None, dataset="real-exposed")
    syn_t = compute_metadata(variant.json_path, variant.images_dir, category=category, image_ids=variant_ids,
                             sidecar=sidecar if sidecar.exists() else None, dataset=variant.json_path.parent.name)
    res = compare_tables(real_t, syn_t, metadata=metadata, level="bbox")
    return {"db": {m: (None if r.db is None else float(r.db)) for m, r in res.items()},
            "hist": {m: {"real": _column(real_t, m), "synth": _column(syn_t, m)} for m in res}}


def _column(table, name: str) -> list[float]:
    """bbox-level values of one metadata column, NaNs dropped, subsampled to HIST_SAMPLES."""
    import numpy as np
    arr = np.asarray(table.values(name, level="bbox"), dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size > HIST_SAMPLES:
        arr = np.random.default_rng(0).choice(arr, HIST_SAMPLES, replace=False)
    return [round(float(v), 6) for v in arr]


# ---------------------------------------------------------------------------------------------------- cells
def _load_inputs(spec: RunSpec) -> tuple[CocoSet, Split, list[str], dict[str, CocoSet]]:
    """Every input validated before anything is written or trained."""
    check_out_dir(spec.out)
    real = load_coco(spec.real_json, spec.images_dir)
    split = load_split(spec.split, real)
    names = real.class_names(spec.category)
    if not real.subset(split.exposed, names)["annotations"]:
        raise UserError(f"{spec.split}: key 'exposed': no annotation of {names} on the exposed images")
    if not real.subset(split.test, names)["annotations"]:
        raise UserError(f"{spec.split}: key 'test': no annotation of {names} on the test images")
    sets = {}
    for n, p in spec.variants:
        if Path(p).is_dir() and not (Path(p) / "DONE").exists():
            raise UserError(f"{p}: dataset directory has no DONE marker (incomplete render)")
        sets[n] = load_coco(p)
        if not sets[n].subset(None, names)["annotations"]:
            raise UserError(f"{sets[n].json_path}: no annotations of the classes {names}")
    return real, split, names, sets


def _metadata(spec: RunSpec, out: Path, real: CocoSet, split: Split, sets: dict[str, CocoSet]) -> None:
    """out/metadata/<variant>.json: D_B to the real exposed split, once per variant."""
    todo = ([(BASELINE, real, split.exposed)] if "real" in regimes_of(spec) else []) + \
        [(n, cs, None) for n, cs in sets.items()]
    for n, cs, ids in todo:
        mpath = out / "metadata" / f"{n}.json"
        if not mpath.exists():
            atomic_write_json(mpath, {"variant": n, **db_to_real(cs, ids, real, split.exposed, spec.category,
                                                                   spec.metadata, spec.real_table)})


@dataclass
class Cell:
    regime: str
    variant: str                 # the variant (or "real" for the real regime)
    detector: str
    seed: int

    @property
    def name(self) -> str:
        return cell_name(self.variant, self.detector, self.seed, self.regime)


def _cells(spec: RunSpec, variants: list[str]) -> list[Cell]:
    from benchmark.regimes import REGIMES, REAL
    out = []
    for regime in regimes_of(spec):
        for v in (variants if REGIMES.get(regime).per_variant else [REAL]):
            out += [Cell(regime, v, d, s) for d in spec.detectors for s in spec.seeds]
    return out


def _record(spec: RunSpec, ctx: CellContext, cell: Cell, dataset_dir: str, train: TrainSet, trained,
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
            "db_to_real": meta.get("db", {}), "val_split": "real exposed",
            "n_val_images": len(ctx.split.exposed), "n_test_images": len(ctx.split.test),
            "predictions": str(pred_path.relative_to(ctx.out)), "cell_s": round(time.monotonic() - t0, 2),
            "versions": versions()}


def _settings_for(spec: RunSpec) -> TrainSettings:
    return TrainSettings(epochs=spec.epochs, imgsz=spec.imgsz, device=spec.device, patience=spec.patience,
                         batch=spec.batch, init=spec.init,
                         options={"yolo_model": spec.yolo_model, "yolo_weights": spec.yolo_weights})


def _run_cell(spec: RunSpec, ctx: CellContext, cell: Cell, sets: dict[str, CocoSet], detector) -> dict:
    from benchmark.regimes import REGIMES
    regime = REGIMES.get(cell.regime)()
    prior = None
    if regime.needs:
        prior_rec = ctx.out / "results" / f"{cell_name(cell.variant, cell.detector, cell.seed, regime.needs)}.json"
        prior = read_json(prior_rec, "results record")["weights"]
    cs = sets.get(cell.variant, ctx.real)
    train = regime.train_set(cell.variant, cs, ctx, spec, prior)
    cell_dir = ctx.out / "cells" / cell.name
    shutil.rmtree(cell_dir, ignore_errors=True)   # a killed cell restarts from scratch
    cell_dir.mkdir(parents=True)
    t0 = time.monotonic()
    trained = detector.train(train, ctx, cell.seed, cell_dir)
    test_dets = detector.predict(trained, ctx, ctx.split.test)
    return _record(spec, ctx, cell, str(cs.json_path.parent), train, trained, test_dets, t0)


def run_matrix(spec: RunSpec) -> list[Path]:
    """Train and score every (regime, variant, detector, seed) cell that has no results file yet. -> results."""
    _check_spec(spec)
    real, split, names, sets = _load_inputs(spec)
    out = Path(spec.out)
    _write_run_json(spec, out)
    _metadata(spec, out, real, split, sets)
    ctx = CellContext(real, split, names, {n: i for n, i in real.name_to_id().items() if n in names},
                      real.subset(split.exposed, names), out)
    cells = _cells(spec, list(sets))
    todo = [c for c in cells if not (out / "results" / f"{c.name}.json").exists()]
    if len(todo) < len(cells):
        print(f"benchmark: {len(cells) - len(todo)} of {len(cells)} cells already have results (skipped)",
              flush=True)
    detectors = {d: DETECTORS.get(d)(_settings_for(spec)) for d in spec.detectors}
    with Progress(len(cells), "benchmark cells", initial=len(cells) - len(todo), interval=1.0) as bar:
        for cell in todo:
            record = _run_cell(spec, ctx, cell, sets, detectors[cell.detector])
            atomic_write_json(out / "results" / f"{cell.name}.json", record)
            bar.update(1, postfix=f"{cell.name} test mAP {record['test']['map']:.3f}")
    return sorted((out / "results").glob("*.json"))
