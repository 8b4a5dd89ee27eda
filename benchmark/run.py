"""The variant matrix: every detector x variant x seed trained, scored on the real test split, recorded.

RUN_DIR layout:
  run.json                       the settings (a rerun must use the same real set / split / category / imgsz / epochs)
  data/<variant>/                YOLO exports (train sets; `real-exposed` = val; `real-test` = test images)
  metadata/<variant>.json        D_B of the variant to the real exposed split per metadata + histogram samples
  cells/<variant>__<det>__seed<s>/  detector work dirs (weights)
  predictions/<cell>.json        COCO detections on the real test images (real category ids)
  results/<cell>.json            the results record (docs/design.md §6), written last: a cell with one is done

Backends (RunSpec.backend): "local" trains one cell after another in this process; "ray" runs each cell as a
Ray task (`run_cell_task`, which writes the cell's results file itself) on `ray_address` or a local instance,
at most `workers` in flight, a fine-tuning cell once its synthetic cell's results file exists, each cell tried
1 + `retries` times (`_run_ray`). The records are the same either way (paths absolute with ray).
"""
from __future__ import annotations

import os
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
DISTANCE_METADATA = ["area_frac", "aspect", "cx", "cy", "sharpness", "brightness", "contrast", "entropy"]
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
    metadata: list[str] = field(default_factory=lambda: list(DISTANCE_METADATA))
    yolo_model: str = "yolov8n.yaml"
    regimes: list[str] = field(default_factory=lambda: ["synthetic", "real"])   # benchmark/regimes.py
    init: str = "auto"                     # start weights (Faster R-CNN: auto|imagenet|coco|scratch|PATH)
    yolo_weights: str | None = None        # a local Ultralytics checkpoint to start YOLO from
    mixed_share: float = 0.5               # regime mixed: share of real photos per epoch
    finetune_epochs: int | None = None     # regime finetune: epochs (default: epochs)
    mean_metadata: list[str] | None = None  # what "mean D_B" averages (default: align's fit metadata)
    real_table: str | None = None          # the real exposed boxes' saved MetadataTable to compare against (e.g.
                                           # the run's, with predicted depth) instead of measuring the photos
    accept_changed: bool = False           # real COCO / split / photos edited in place: supersede, start over
    backend: str = "local"                 # local: one cell after another here; ray: cells as Ray tasks
    ray_address: str | None = None         # ray: the cluster (None: $SYNTHGAP_RAY_ADDRESS, else a local instance)
    workers: int = 2                       # ray: most cells in flight
    threads: int | None = None             # ray: CPUs each cell asks for and trains with (None: cores / workers
                                           # on a local instance, 1 on a cluster)
    retries: int = 2                       # ray: a failed cell (crash, lost node) is tried 1 + retries times


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
    if yolo_weights is not None:
        from core.checkpoint import check_ultralytics
        check_ultralytics(yolo_weights, "--yolo-weights")
    if (finetune_epochs or 1) < 1:
        raise UserError(f"--finetune-epochs must be >= 1, got {finetune_epochs}")
    if not 0 < mixed_share < 1:
        raise UserError(f"--mixed-share must be between 0 and 1, got {mixed_share}")


def check_device(device: str | None) -> None:
    """--device: empty (the GPU when present), cpu, mps where present, or a CUDA device that exists (cuda,
    cuda:N or N)."""
    if not device or device == "cpu":
        return
    import torch
    m = re.fullmatch(r"(?:cuda(?::(\d+))?|(\d+))", device)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if m and int(m.group(1) or m.group(2) or 0) < n:
        return
    if device == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return
    raise UserError(f"--device {device}: no such device here ({n} CUDA device(s); use cpu"
                    f"{', 0' if n else ''} or leave it out)")


GPU_DEVICE = re.compile(r"cuda(?::\d+)?|\d+")      # a --device that names a CUDA GPU


def _ray_address(spec: RunSpec) -> str | None:
    return spec.ray_address if spec.ray_address is not None else os.environ.get("SYNTHGAP_RAY_ADDRESS")


def _check_backend(spec: RunSpec) -> None:
    """--backend, --workers, --threads, --retries and --device. On a Ray cluster a GPU --device names the
    nodes' GPUs, not this machine's: the run checks that a node has one once it has joined."""
    if spec.backend not in ("local", "ray"):
        raise UserError(f"--backend must be 'local' or 'ray', got {spec.backend!r}")
    for name, v, lo in (("--workers", spec.workers, 1), ("--threads", spec.threads, 1), ("--retries", spec.retries, 0)):
        if v is not None and v < lo:
            raise UserError(f"{name} must be >= {lo} (got {v})")
    if not (spec.backend == "ray" and _ray_address(spec) and GPU_DEVICE.fullmatch(spec.device or "")):
        check_device(spec.device)


def check_yolo_model(name: str) -> None:
    """--yolo-model: a local Ultralytics model yaml, or one Ultralytics ships (yolov8n.yaml: the yolov8 family at
    scale n); never a .pt (weights go to --yolo-weights) and never downloaded."""
    import importlib.util
    p = Path(name)
    if p.suffix not in (".yaml", ".yml"):
        raise UserError(f"--yolo-model {name}: must be a model yaml (start weights go to --yolo-weights)")
    if p.is_file():
        return
    spec = importlib.util.find_spec("ultralytics")
    root = Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models" if spec else None
    family = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", p.stem) + p.suffix
    if root is None or not (list(root.rglob(p.name)) or list(root.rglob(family))):
        raise UserError(f"--yolo-model {name}: neither a file nor a model yaml Ultralytics ships (e.g. yolov8n.yaml)")


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
    if spec.patience < 0 or spec.batch < 1:
        raise UserError(f"--patience must be >= 0 and --batch >= 1, got {spec.patience} and {spec.batch}")
    _check_backend(spec)
    if "yolo" in spec.detectors:
        check_yolo_model(spec.yolo_model)
    if not names and "real" not in regimes_of(spec):
        raise UserError("nothing to run: no --variants and no real regime")


def _settings(spec: RunSpec) -> dict:
    return {"real_json": str(Path(spec.real_json).resolve()), "split": str(Path(spec.split).resolve()),
            "category": spec.category, "imgsz": spec.imgsz, "epochs": spec.epochs, "init": spec.init,
            "yolo_weights": spec.yolo_weights, "mixed_share": spec.mixed_share,
            "finetune_epochs": spec.finetune_epochs}


PINNED = {"real_content": "the real COCO json was edited", "split_content": "the split was edited",
          "images_content": "real image files were replaced, added or removed"}


def _pins(spec: RunSpec, real: CocoSet) -> dict:
    """The real inputs by content (bytes of the COCO and the split, names and bytes of every real image)."""
    from core.io import content_fingerprint, file_sha
    return {"real_content": file_sha(real.json_path), "split_content": file_sha(spec.split),
            "images_content": content_fingerprint([real.image_path(im) for im in real.images], real.images_dir)}


def _check_pins(spec: RunSpec, out: Path, old: dict, pins: dict) -> dict:
    """Finished cells were trained and scored on the pinned inputs: other content is refused (or, with
    accept_changed, everything made from them moves to OUT/superseded/<time>/). -> the old record to merge."""
    changed = [k for k in pins if k in old.get("pins", {}) and old["pins"][k] != pins[k]]
    if not changed:
        return old
    why = "; ".join(PINNED[k] for k in changed)
    if not spec.accept_changed:
        raise UserError(f"{out / 'run.json'}: {why} since this run dir was started, and its finished cells used "
                        "the old ones; use another --out, or --accept-changed-inputs to start over in this one")
    from core.io import supersede
    from core.progress import log
    log(f"--accept-changed-inputs: {why}; " + supersede(out))
    return {}


def _write_run_json(spec: RunSpec, out: Path, real: CocoSet) -> None:
    path = out / "run.json"
    d = asdict(spec)
    d["variants"] = {n: str(Path(p).resolve()) for n, p in spec.variants}
    d["settings"] = _settings(spec)
    d["pins"] = _pins(spec, real)
    for key in ("real_json", "images_dir", "split"):
        d[key] = str(Path(d[key]).resolve())
    old = _check_pins(spec, out, read_json(path, "run settings"), d["pins"]) if path.exists() else {}
    if old:
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


def _context(spec: RunSpec, real: CocoSet, split: Split, names: list[str]) -> CellContext:
    return CellContext(real, split, names, {n: i for n, i in real.name_to_id().items() if n in names},
                       real.subset(split.exposed, names), Path(spec.out))


def run_matrix(spec: RunSpec) -> list[Path]:
    """Train and score every (regime, variant, detector, seed) cell that has no results file yet. -> results.
    backend local: one cell after another in this process; ray: the cells as Ray tasks (_run_ray)."""
    _check_spec(spec)
    real, split, names, sets = _load_inputs(spec)
    out = Path(spec.out)
    _write_run_json(spec, out, real)
    _metadata(spec, out, real, split, sets)
    cells = _cells(spec, list(sets))
    todo = [c for c in cells if not (out / "results" / f"{c.name}.json").exists()]
    if len(todo) < len(cells):
        print(f"benchmark: {len(cells) - len(todo)} of {len(cells)} cells already have results (skipped)",
              flush=True)
    with Progress(len(cells), "benchmark cells", initial=len(cells) - len(todo), interval=1.0) as bar:
        if spec.backend == "ray" and todo:
            _run_ray(spec, todo, len(cells), bar)
        elif todo:
            ctx = _context(spec, real, split, names)
            detectors = {d: DETECTORS.get(d)(_settings_for(spec)) for d in spec.detectors}
            for cell in todo:
                record = _run_cell(spec, ctx, cell, sets, detectors[cell.detector])
                atomic_write_json(out / "results" / f"{cell.name}.json", record)
                bar.update(1, postfix=f"{cell.name} test mAP {record['test']['map']:.3f}")
    return sorted((out / "results").glob("*.json"))


# ---------------------------------------------------------------------------------------------------- Ray
class BenchmarkIncomplete(UserError):
    """Some cells failed after their retries (ray backend); the others' results are on disk, a rerun resumes."""


def run_cell_task(spec: RunSpec, cell: Cell, classes: dict, env_extra: dict[str, str]) -> dict:
    """Body of one Ray task (main environment, any node): train and score one cell and write its results file
    (atomically, by the task: a finished cell is kept whatever becomes of the driver). `classes` = the
    detector's and the regime's registered classes, so a user's registration travels with the task (pickled by
    reference: their module must import on the node, or by value from a script's __main__)."""
    import socket

    from benchmark.regimes import REGIMES
    os.environ.update(env_extra)
    DETECTORS.register(cell.detector, classes["detector"], replace=True)
    REGIMES.register(cell.regime, classes["regime"], replace=True)
    path = Path(spec.out) / "results" / f"{cell.name}.json"
    if path.exists():                    # finished meanwhile (another driver): never trained twice
        return {"skipped": True}
    real = load_coco(spec.real_json, spec.images_dir)
    split = load_split(spec.split, real)
    ctx = _context(spec, real, split, real.class_names(spec.category))
    sets = {n: load_coco(p) for n, p in spec.variants if n == cell.variant}
    record = _run_cell(spec, ctx, cell, sets, DETECTORS.get(cell.detector)(_settings_for(spec)))
    atomic_write_json(path, record)
    return {"skipped": False, "map": record["test"]["map"], "host": socket.gethostname()}


def _absolute(spec: RunSpec, device: str | None) -> RunSpec:
    """The spec a task gets: every path absolute (a task runs on any node, in any folder) and the device."""
    from dataclasses import replace
    ab = os.path.abspath

    def maybe(p: str | None) -> str | None:
        return ab(p) if p and Path(p).exists() else p
    return replace(spec, variants=[(n, ab(p)) for n, p in spec.variants], real_json=ab(spec.real_json),
                   images_dir=ab(spec.images_dir), split=ab(spec.split), out=ab(spec.out),
                   real_table=maybe(spec.real_table), yolo_weights=maybe(spec.yolo_weights), init=maybe(spec.init),
                   device=device)


def _check_feasible(ray, threads: int, gpus: int, spec: RunSpec) -> None:
    """A task no node can hold would wait forever: refuse it at once."""
    from core.raycluster import largest_node
    big = largest_node(ray)
    if big["CPU"] < threads:
        raise UserError(f"--threads {threads}: no node of the Ray cluster has that many CPUs (largest: "
                        f"{big['CPU']:g})")
    if gpus and big["GPU"] < gpus:
        raise UserError(f"--device {spec.device}: no node of the Ray cluster has a GPU (use cpu or leave it out)")


def _run_ray(spec: RunSpec, todo: list[Cell], n_cells: int, bar: Progress) -> None:
    """The cells as Ray tasks, at most spec.workers in flight, each asking spec.threads CPUs (and one GPU when
    --device names one: it trains on the GPU Ray assigns it); a cell whose regime `needs` another starts once
    that cell's results file exists. Each cell is tried 1 + spec.retries times (core.raycluster.run_tasks:
    Ray's own max_retries=0, so a crashed worker and a lost node are retried, on any node, by the same loop as
    the render backend's); the retried cells are reported, the failed ones raised after the rest has run."""
    from benchmark.regimes import REGIMES
    from core.raycluster import forwarded_env, run_tasks, start_ray
    address, results = _ray_address(spec), Path(spec.out) / "results"
    threads = spec.threads or (1 if address else max(1, (os.cpu_count() or 1) // spec.workers))
    gpus = 1 if GPU_DEVICE.fullmatch(spec.device or "") else 0
    prior = {c.name: cell_name(c.variant, c.detector, c.seed, REGIMES.get(c.regime).needs)
             for c in todo if REGIMES.get(c.regime).needs}

    def ready(cell: Cell, run) -> bool | str:
        p = prior.get(cell.name)
        if p is None or (results / f"{p}.json").exists():
            return True
        return f"its {REGIMES.get(cell.regime).needs} cell {p} failed" if p in run.failures else False

    def done(cell: Cell, r: dict) -> None:
        bar.update(1, postfix=cell.name + ("" if r["skipped"] else f" test mAP {r['map']:.3f} ({r['host']})"))

    ray, started = start_ray(address, spec.workers, threads, "benchmark backend 'ray'")
    try:
        _check_feasible(ray, threads, gpus, spec)
        task = ray.remote(run_cell_task).options(num_cpus=threads, num_gpus=gpus, max_retries=0,
                                                 retry_exceptions=False)
        tspec = _absolute(spec, "cuda:0" if gpus else spec.device)
        env = {**forwarded_env(), "SYNTHGAP_THREADS": str(threads)}
        classes = {(c.detector, c.regime): {"detector": DETECTORS.get(c.detector), "regime": REGIMES.get(c.regime)}
                   for c in todo}
        run = run_tasks(ray, lambda c: task.remote(tspec, c, classes[c.detector, c.regime], env), todo,
                        spec.workers, spec.retries, key=lambda c: c.name, ready=ready, done=done)
    finally:
        if started:
            ray.shutdown()
    ok = run.retried_ok()
    if ok:
        first = next(iter(ok.items()))
        print(f"benchmark: {len(ok)} cell(s) finished after a retry ({first[0]}: {first[1]})", flush=True)
    if run.failures:
        lines = "; ".join(f"{name}: {why}" for name, (_, why) in sorted(run.failures.items()))
        raise BenchmarkIncomplete(f"{spec.out}: {len(run.failures)} of {n_cells} cells failed after {spec.retries} "
                                  f"retries ({n_cells - len(run.failures)} have results); rerun the same command "
                                  f"to retry them. {lines}")
