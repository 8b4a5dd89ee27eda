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
1 + `retries` times (benchmark/run_ray.py). The records are the same either way (paths absolute with ray).
A cell itself (name, training, scoring, record): benchmark/cells.py; the RunSpec record: benchmark/spec.py.
"""
from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

from core.coco import CocoSet, Split, load_coco, load_split
from core.errors import UserError
from core.io import atomic_write_json, check_out_dir, read_json
from core.progress import Progress

from benchmark.cells import cell_context, cells_of, make_detector, regimes_of, run_cell
from benchmark.detectors import DETECTORS
from benchmark.spec import RunSpec
from benchmark.run_ray import GPU_DEVICE, ray_address, run_ray

BASELINE = "real"
HIST_SAMPLES = 2000


def check_training(init: str, detector_params: dict[str, dict], detectors: list[str],
                   regime_params: dict[str, dict], regimes: list[str]) -> None:
    """The start-weight, detector and regime options (shared by `benchmark run` and `synthgap run`)."""
    from benchmark.detectors import check_detector_params
    from benchmark.frcnn_init import check_init
    from benchmark.regimes import REGIMES
    from core.params import check_registry
    check_init(init)
    check_detector_params(detector_params, detectors)
    check_registry(REGIMES, regime_params, regimes)


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






def _check_backend(spec: RunSpec) -> None:
    """--backend, --workers, --threads, --retries and --device. On a Ray cluster a GPU --device names the
    nodes' GPUs, not this machine's: the run checks that a node has one once it has joined."""
    if spec.backend not in ("local", "ray"):
        raise UserError(f"--backend must be 'local' or 'ray', got {spec.backend!r}")
    for name, v, lo in (("--workers", spec.workers, 1), ("--threads", spec.threads, 1), ("--retries", spec.retries, 0)):
        if v is not None and v < lo:
            raise UserError(f"{name} must be >= {lo} (got {v})")
    if not (spec.backend == "ray" and ray_address(spec) and GPU_DEVICE.fullmatch(spec.device or "")):
        check_device(spec.device)


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
    check_training(spec.init, spec.detector_params, spec.detectors, spec.regime_params, spec.regimes)
    unknown = sorted(set(spec.mean_metadata or ()) - set(spec.metadata))
    if unknown:
        raise UserError(f"--mean-metadata: {', '.join(unknown)} not among the D_B table's metadata "
                        f"({', '.join(spec.metadata)}; add it with --metadata)")
    if spec.epochs < 1 or spec.imgsz < 32 or not spec.seeds:
        raise UserError("--epochs must be >= 1, --imgsz >= 32 and at least one seed")
    if spec.patience < 0 or spec.batch < 1:
        raise UserError(f"--patience must be >= 0 and --batch >= 1, got {spec.patience} and {spec.batch}")
    _check_backend(spec)
    if not names and "real" not in regimes_of(spec):
        raise UserError("nothing to run: no --variants and no real regime")


def _settings(spec: RunSpec) -> dict:
    return {"real_json": str(Path(spec.real_json).resolve()), "split": str(Path(spec.split).resolve()),
            "category": spec.category, "imgsz": spec.imgsz, "epochs": spec.epochs, "init": spec.init,
            "detector_params": spec.detector_params, "regime_params": spec.regime_params}


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


def _upgraded(settings: dict) -> dict:
    """The settings of a run dir made before detectors and regimes had their own options: its yolo_weights is
    yolo's, its mixed_share (when not the default 0.5) mixed's, its finetune_epochs finetune's."""
    s = dict(settings)
    if "yolo_weights" in s:
        weights = s.pop("yolo_weights")
        s.setdefault("detector_params", {"yolo": {"weights": weights}} if weights else {})
    if "mixed_share" in s or "finetune_epochs" in s:
        share, epochs = s.pop("mixed_share", 0.5), s.pop("finetune_epochs", None)
        s.setdefault("regime_params", {**({"mixed": {"share": share}} if share != 0.5 else {}),
                                       **({"finetune": {"epochs": epochs}} if epochs is not None else {})})
    return s


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
        old["settings"] = _upgraded(old.get("settings", {}))
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
    """D_B per metadata of a variant to the real exposed split (its saved table `real_table` when given; with
    several classes the classes' mean, align.distances.compare_by_class) + histogram samples (pooled), from the
    one metadata cache (align.metadata.compute_metadata).
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
    if _several(category):                                 # several classes: each class against its own boxes
        from align.distances import compare_by_class
        db = compare_by_class(real_t, syn_t, metadata, str(category).split(","))
    else:
        db = {m: (None if r.db is None else float(r.db))
              for m, r in compare_tables(real_t, syn_t, metadata=metadata, level="bbox").items()}
    return {"db": db, "hist": {m: {"real": _column(real_t, m), "synth": _column(syn_t, m)} for m in metadata}}


def _several(category: str | None) -> bool:
    """A category filter naming several classes (`a,b`, as core.coco keeps it)."""
    return category is not None and "," in str(category)


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
    by_class = _several(spec.category)
    for n, cs, ids in todo:
        mpath = out / "metadata" / f"{n}.json"
        if not mpath.exists() or by_class and not read_json(mpath).get("by_class"):   # pooled before: redo
            atomic_write_json(mpath, {"variant": n, "by_class": by_class, **db_to_real(
                cs, ids, real, split.exposed, spec.category, spec.metadata, spec.real_table)})


def run_matrix(spec: RunSpec) -> list[Path]:
    """Train and score every (regime, variant, detector, seed) cell that has no results file yet. -> results.
    backend local: one cell after another in this process; ray: the cells as Ray tasks (_run_ray)."""
    _check_spec(spec)
    real, split, names, sets = _load_inputs(spec)
    out = Path(spec.out)
    _write_run_json(spec, out, real)
    _metadata(spec, out, real, split, sets)
    cells = cells_of(spec, list(sets))
    todo = [c for c in cells if not (out / "results" / f"{c.name}.json").exists()]
    if len(todo) < len(cells):
        print(f"benchmark: {len(cells) - len(todo)} of {len(cells)} cells already have results (skipped)",
              flush=True)
    with Progress(len(cells), "benchmark cells", initial=len(cells) - len(todo), interval=1.0) as bar:
        if spec.backend == "ray" and todo:
            run_ray(spec, todo, len(cells), bar)
        elif todo:
            ctx = cell_context(spec, real, split, names)
            detectors = {d: make_detector(spec, d) for d in spec.detectors}
            for cell in todo:
                record = run_cell(spec, ctx, cell, sets, detectors[cell.detector])
                atomic_write_json(out / "results" / f"{cell.name}.json", record)
                bar.update(1, postfix=f"{cell.name} test mAP {record['test']['map']:.3f}")
    return sorted((out / "results").glob("*.json"))










