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

import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synthgap.util import Progress, UserError, atomic_write_json, read_json

from benchmark import convert

BASELINE = "real"
DETECTORS = ("yolo", "frcnn")
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


def cell_name(variant: str, detector: str, seed: int) -> str:
    return f"{variant}__{detector}__seed{seed}"


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
    bad = [d for d in spec.detectors if d not in DETECTORS]
    if bad or not spec.detectors:
        raise UserError(f"--detectors: unknown {bad or 'none given'} (choose from {', '.join(DETECTORS)})")
    if spec.epochs < 1 or spec.imgsz < 32 or not spec.seeds:
        raise UserError("--epochs must be >= 1, --imgsz >= 32 and at least one seed")
    if not names and not spec.real_baseline:
        raise UserError("nothing to run: no --variants and the real baseline is off")


def _settings(spec: RunSpec) -> dict:
    return {"real_json": str(Path(spec.real_json).resolve()), "split": str(Path(spec.split).resolve()),
            "category": spec.category, "imgsz": spec.imgsz, "epochs": spec.epochs}


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
        d["detectors"] = [x for x in DETECTORS if x in set(old.get("detectors", [])) | set(spec.detectors)]
        d["real_baseline"] = bool(old.get("real_baseline")) or spec.real_baseline
    atomic_write_json(path, d)


# ---------------------------------------------------------------------------------------------------- D_B
def db_to_real(variant: convert.CocoSet, variant_ids: list[int] | None, real: convert.CocoSet, exposed: list[int],
               category: str | None, metadata: list[str]) -> dict:
    """D_B per metadata of a variant to the real exposed split (align package) + histogram samples.

    -> {"db": {name: D_B}, "hist": {name: {"real": [...], "synth": [...]}}, "error": None | "why not"}."""
    try:
        from align.distances import compare_tables
        from align.metadata import compute_metadata
    except ImportError as e:
        return {"db": {}, "hist": {}, "error": f"align package not available ({e})"}
    sidecar = variant.json_path.parent / "sidecar.json"
    real_t = compute_metadata(real.json_path, real.images_dir, category=category, image_ids=exposed,
                              dataset="real-exposed")
    syn_t = compute_metadata(variant.json_path, variant.images_dir, category=category, image_ids=variant_ids,
                             sidecar=sidecar if sidecar.exists() else None, dataset=variant.json_path.parent.name)
    res = compare_tables(real_t, syn_t, metadata=metadata, level="bbox")
    db = {m: (None if r.db is None else float(r.db)) for m, r in res.items()}
    hist, error = {}, None
    try:
        hist = {m: {"real": _column(real_t, m), "synth": _column(syn_t, m)} for m in res}
    except (AttributeError, KeyError, TypeError) as e:  # D_B stays; the report just has no histograms
        error = f"histogram values not readable from the metadata table ({e})"
    return {"db": db, "hist": hist, "error": None, "hist_error": error}


def _column(table, name: str) -> list[float]:
    """bbox-level values of one metadata column, NaNs dropped, subsampled to HIST_SAMPLES."""
    import numpy as np
    if hasattr(table, "values") and callable(table.values):
        vals = table.values(name, level="bbox")
    else:
        vals = table.column(name, level="bbox")
    arr = np.asarray(vals, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size > HIST_SAMPLES:
        arr = np.random.default_rng(0).choice(arr, HIST_SAMPLES, replace=False)
    return [round(float(v), 6) for v in arr]


# ---------------------------------------------------------------------------------------------------- cells
@dataclass
class _Ctx:
    spec: RunSpec
    out: Path
    real: convert.CocoSet
    split: dict
    names: list[str]
    real_ids: dict
    val_dir: Path
    test_gt: dict
    val_gt: dict


def _train_set(ctx: _Ctx, variant: str, src: str) -> tuple[convert.CocoSet, list[int] | None]:
    if variant == BASELINE:
        return ctx.real, ctx.split["exposed"]
    return convert.load_coco_set(src), None


def _run_yolo(ctx: _Ctx, variant: str, src: str, seed: int, cell_dir: Path) -> dict:
    from benchmark import yolo
    cs, ids = _train_set(ctx, variant, src)
    train_dir = ctx.val_dir if variant == BASELINE else convert.export_yolo(cs, ctx.out / "data" / variant,
                                                                               ctx.names, ids)
    data_yaml = convert.write_data_yaml(cell_dir / "data.yaml", train_dir, ctx.val_dir, ctx.names)
    n_train = len(list((train_dir / "images").iterdir()))
    tr = yolo.train_yolo(data_yaml, cell_dir, epochs=ctx.spec.epochs, imgsz=ctx.spec.imgsz, seed=seed,
                         device=ctx.spec.device, patience=ctx.spec.patience, batch=min(ctx.spec.batch * 2, 16),
                         model_yaml=ctx.spec.yolo_model, progress_desc=f"{variant} yolo seed{seed}")
    def imgs(ids: list[int]) -> list[tuple[int, Path]]:
        keep = set(ids)
        return [(im["id"], ctx.real.image_path(im)) for im in ctx.real.coco["images"] if im["id"] in keep]

    val_dets = yolo.predict_yolo(tr.weights, imgs(ctx.split["exposed"]), ctx.names, ctx.real_ids,
                                 imgsz=ctx.spec.imgsz, device=ctx.spec.device)
    test_dets = yolo.predict_yolo(tr.weights, imgs(ctx.split["test"]), ctx.names, ctx.real_ids,
                                  imgsz=ctx.spec.imgsz, device=ctx.spec.device)
    from benchmark.evaluate import score_faster
    val = score_faster(ctx.val_gt, val_dets)
    val.update(best_epoch=tr.best_epoch, ultralytics=tr.val_native)
    return {"init": "scratch", "model": ctx.spec.yolo_model, "train_s": round(tr.train_s, 2),
            "best_epoch": tr.best_epoch, "epochs_run": tr.epochs_run, "n_train_images": n_train,
            "epoch_s": tr.epoch_s,
            "val": val, "test_dets": test_dets, "weights": str(tr.weights)}


def _samples(cs: convert.CocoSet, ids: list[int] | None, names: list[str], imgsz: int):
    from benchmark.frcnn import load_samples
    sub = convert.subset(cs.coco, ids, names)
    cat_name = {c["id"]: c["name"] for c in sub["categories"]}
    by_img: dict[int, list] = {}
    for a in sub["annotations"]:
        if not a.get("iscrowd", 0):
            by_img.setdefault(a["image_id"], []).append((names.index(cat_name[a["category_id"]]), a["bbox"]))
    items = [(im["id"], cs.image_path(im), by_img.get(im["id"], [])) for im in sub["images"]]
    return load_samples(items, imgsz)


def _run_frcnn(ctx: _Ctx, variant: str, src: str, seed: int, cell_dir: Path, cache: dict) -> dict:
    from benchmark import frcnn
    from benchmark.evaluate import score_faster
    sz = ctx.spec.imgsz
    if "val" not in cache:
        cache["val"] = _samples(ctx.real, ctx.split["exposed"], ctx.names, sz)
        cache["test"] = _samples(ctx.real, ctx.split["test"], ctx.names, sz)
    if cache.get("train_name") != variant:
        cs, ids = _train_set(ctx, variant, src)
        cache["train"], cache["train_name"] = _samples(cs, ids, ctx.names, sz), variant
    cell_dir.mkdir(parents=True, exist_ok=True)
    res = frcnn.train_frcnn(cache["train"], cache["val"], ctx.val_gt, ctx.names, ctx.real_ids,
                            epochs=ctx.spec.epochs, imgsz=sz, seed=seed, device=ctx.spec.device,
                            patience=ctx.spec.patience, batch=max(1, ctx.spec.batch // 2),
                            progress_desc=f"{variant} frcnn seed{seed}", checkpoint=cell_dir / "best.pt")
    dev = next(res.model.parameters()).device
    test_dets = frcnn.predict_samples(res.model, cache["test"], ctx.names, ctx.real_ids, dev)
    val = dict(res.val)
    val["best_epoch"] = res.best_epoch
    return {"init": res.init, "model": "fasterrcnn_mobilenet_v2_fpn", "train_s": round(res.train_s, 2),
            "best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "n_train_images": len(cache["train"]),
            "epoch_s": res.epoch_train_s,
            "val": val, "test_dets": test_dets, "weights": str(cell_dir / "best.pt")}


def run_matrix(spec: RunSpec) -> list[Path]:
    """Train and score every (variant, detector, seed) cell that has no results file yet. -> results paths."""
    _check_spec(spec)
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    real = convert.load_coco_set(spec.real_json, spec.images_dir)
    split = convert.load_split(spec.split)
    names = convert.class_names(real.coco, spec.category)
    variants = ([(BASELINE, str(Path(spec.real_json).resolve()))] if spec.real_baseline else []) + \
        [(n, str(Path(p).resolve())) for n, p in spec.variants]
    sets = {}
    for n, p in variants:  # validate every input before training anything
        if n != BASELINE:
            if Path(p).is_dir() and (Path(p) / "coco_annotations.json").exists() and not (Path(p) / "DONE").exists():
                raise UserError(f"{p}: dataset directory has no DONE marker (incomplete render)")
            sets[n] = convert.load_coco_set(p)
            if not convert.subset(sets[n].coco, None, names)["annotations"]:
                raise UserError(f"{sets[n].json_path}: no annotations of the classes {names}")
    _write_run_json(spec, out)
    val_dir = convert.export_yolo(real, out / "data" / "real-exposed", names, split["exposed"])
    ctx = _Ctx(spec, out, real, split, names, convert.name_to_real_id(real.coco), val_dir,
               convert.subset(real.coco, split["test"], names), convert.subset(real.coco, split["exposed"], names))

    # D_B of each variant to the real exposed split (once per variant)
    # (cached in metadata/ only when computed, so a rerun after the align package lands fills it in)
    db_errors: dict[str, str] = {}
    for n, p in variants:
        mpath = out / "metadata" / f"{n}.json"
        if not mpath.exists():
            if n == BASELINE:
                d = db_to_real(real, split["exposed"], real, split["exposed"], spec.category, spec.metadata)
            else:
                d = db_to_real(sets[n], None, real, split["exposed"], spec.category, spec.metadata)
            if d["error"]:
                db_errors[n] = d["error"]
            else:
                atomic_write_json(mpath, {"variant": n, **d})
    if db_errors:
        print(f"benchmark: D_B not computed ({next(iter(db_errors.values()))}); records get db_error",
              flush=True)

    cells = [(n, p, det, s) for n, p in variants for det in spec.detectors for s in spec.seeds]
    todo = [c for c in cells if not (out / "results" / f"{cell_name(c[0], c[2], c[3])}.json").exists()]
    if len(todo) < len(cells):
        print(f"benchmark: {len(cells) - len(todo)} of {len(cells)} cells already have results (skipped)",
              flush=True)
    from benchmark.yolo import versions
    vers = versions()
    frcnn_cache: dict = {}
    with Progress(len(cells), "benchmark cells", initial=len(cells) - len(todo), interval=1.0) as bar:
        for n, p, det, seed in todo:
            name = cell_name(n, det, seed)
            cell_dir = out / "cells" / name
            shutil.rmtree(cell_dir, ignore_errors=True)   # a killed cell restarts from scratch
            cell_dir.mkdir(parents=True)
            t0 = time.monotonic()
            r = (_run_yolo(ctx, n, p, seed, cell_dir) if det == "yolo"
                 else _run_frcnn(ctx, n, p, seed, cell_dir, frcnn_cache))
            from benchmark.evaluate import score_faster
            test_dets = r.pop("test_dets")
            pred_path = out / "predictions" / f"{name}.json"
            atomic_write_json(pred_path, test_dets, indent=None)
            mpath = out / "metadata" / f"{n}.json"
            meta = read_json(mpath) if mpath.exists() else {"db": {}, "error": db_errors.get(n)}
            record = {"variant": n, "dataset_dir": p if n != BASELINE else str(real.json_path.parent),
                      "detector": det, "seed": seed, "epochs": spec.epochs, "imgsz": spec.imgsz,
                      "category": spec.category, "classes": names, **r,
                      "test": score_faster(ctx.test_gt, test_dets),
                      "db_to_real": meta.get("db", {}), "db_error": meta.get("error"),
                      "val_split": "real exposed", "n_val_images": len(split["exposed"]),
                      "n_test_images": len(split["test"]), "predictions": str(pred_path.relative_to(out)),
                      "cell_s": round(time.monotonic() - t0, 2), "versions": vers}
            if n == BASELINE:
                record["note"] = ("real-data baseline: trained on the real exposed images and validated on the "
                                  "same images (no held-out real val set)")
            atomic_write_json(out / "results" / f"{name}.json", record)
            bar.update(1, postfix=f"{name} test mAP {record['test']['map']:.3f}")
    return sorted((out / "results").glob("*.json"))
