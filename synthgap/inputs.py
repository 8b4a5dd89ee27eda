"""The run's inputs (`synthgap run` and `synthgap zoo`): every input loaded and checked before anything is written
(`load_inputs`), pinned by content in RUN/run.json so a rerun resumes the same run and other inputs are refused
(`check_run_json`), and the renderer the stages call (`make_renderer`)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.api import UserError, atomic_write_json, load_yaml, log, read_json

from synthgap.classes import resolve_run_classes
from synthgap.options import RunOptions


def _run_key(opts: RunOptions, grid_mapping: dict[str, Any], exposed_files: list[Path]) -> dict:
    """What the stages' outputs depend on, the real inputs pinned by content (the COCO's and the split's bytes,
    the exposed images' names and bytes), not by path: the same photos copied elsewhere, or with new mtimes,
    still resume."""
    from core.api import content_fingerprint, file_sha
    return {"real_content": file_sha(opts.real_json), "split_content": file_sha(opts.split),
            "exposed_content": content_fingerprint(exposed_files, Path(opts.images)),
            "category": opts.category, "grid": grid_mapping, "total": opts.total, "probe_n": opts.probe_n,
            "probe_ci": opts.probe_ci, "probe_max": opts.probe_cap,
            "metadata": opts.metadata, "predict": opts.predict, "mode": opts.mode, "kmax": opts.kmax, "min_px": opts.min_px,
            "variant_params": opts.variant_params, "selector_params": opts.selector_params, "seed": opts.seed}


# keys added to run.json after runs were made: a folder started before them resumes when the option has its
# default value (the outputs then do not depend on it)
LATER_KEYS = {"probe_ci": lambda o: RunOptions.probe_ci, "probe_max": lambda o: 4 * o.probe_n,
              "predict": lambda o: None, "variant_params": lambda o: {},
              "selector_params": lambda o: {}}

CHANGED = {"real_content": "the real COCO json was edited since", "split_content": "the split was edited since",
           "exposed_content": "exposed image files were replaced, added or removed since"}


def check_run_json(opts: RunOptions, grid_mapping: dict[str, Any], exposed_files: list[Path]) -> None:
    """RUN/run.json pins what the stages' outputs depend on, so a rerun resumes the same run and a rerun with
    other inputs is refused instead of mixing two runs in one folder."""
    key, path = _run_key(opts, grid_mapping, exposed_files), opts.out / "run.json"
    if path.exists():
        old = read_json(path, "run record").get("key", {})
        diff = sorted(k for k in key if k in old and old[k] != key[k] or k not in old and not (
            k in CHANGED or k in LATER_KEYS and key[k] == LATER_KEYS[k](opts)))
        why = "; ".join(CHANGED.get(k, f"other {k}") for k in diff)
        if diff and not (opts.accept_changed and set(diff) <= set(CHANGED)):
            hint = (" (or add --accept-changed-inputs to take the fixed files as the new inputs)"
                    if set(diff) <= set(CHANGED) else "")
            raise UserError(f"{path}: this run folder was started with other inputs ({why}); rerun with the "
                            f"original inputs and options to resume{hint}, or choose a new --out to start over")
        if not diff:
            return
        from core.api import supersede
        log(f"--accept-changed-inputs: {why}; " + supersede(opts.out, FROM_REAL))
    atomic_write_json(path, {"key": key, "started": time.strftime("%Y-%m-%d %H:%M:%S")})


# what a run computed from the real inputs (everything but the probe renders, which depend on the grid only)
FROM_REAL = ("real_metadata.json", "real_metadata_pred.json", "predict.json", "fit.json", "plan*.yaml", "sets",
             "distances.json", "benchmark", "shapes.json", "recommended.json", "report.md", "report.html",
             "report_files")


def make_renderer(opts: RunOptions):
    def render(what: Any, n: int | None, out: Path, seed: int) -> Path:
        from render.api import render_dataset
        kw = {"ray_address": opts.ray_address} if opts.backend == "ray" and opts.ray_address else {}
        return render_dataset(what, n, out, workers=opts.workers, seed=seed, backend=opts.backend,
                              device=opts.render_device, **kw)
    return render


def grid_category(grid_mapping: dict, opts: RunOptions) -> str | None:
    """--category not given: the class the grid names (`classes: [x]`) when it names one class the real COCO
    labels (a run aligns the photos' boxes of the class its renders show, not every labelled class); None (all)
    otherwise."""
    from core.api import load_coco
    classes = grid_mapping.get("classes")
    if not isinstance(classes, list) or len(classes) != 1:
        return None
    names = set(load_coco(opts.real_json, opts.images, check_files=False).categories.values())
    if str(classes[0]) not in names:
        return None
    log(f"--category not given: aligning and benchmarking {classes[0]!r}, the one class {opts.grid} renders")
    return str(classes[0])


def load_inputs(opts: RunOptions) -> tuple[dict, list, list[Path]]:
    """Every input checked before anything is written: the out folder, the grid, the real COCO, images, split,
    category, metadata names. -> (grid mapping, configs, the exposed image files)."""
    from core.api import check_decodes, check_not_input, check_out_dir, load_coco, load_split
    from render.api import expand_grid
    check_out_dir(opts.out)
    check_not_input(opts.out, [(f, Path(p)) for f, p in (("--real", opts.real_json), ("--images", opts.images),
                               ("--split", opts.split), ("--grid", opts.grid), ("--zoo", opts.zoo)) if p])
    grid_mapping = load_yaml(opts.grid, "grid YAML")
    if not isinstance(grid_mapping, dict):
        raise UserError(f"{opts.grid}: key '<top>': a grid must be a mapping")
    configs = expand_grid(opts.grid)
    if not Path(opts.real_json).is_file():
        raise UserError(f"{opts.real_json}: --real COCO json not found")
    if not Path(opts.images).is_dir():
        raise UserError(f"{opts.images}: --images folder not found")
    if opts.category is None:
        opts.category = grid_category(grid_mapping, opts)
    real = load_coco(opts.real_json, opts.images, category=opts.category)
    resolve_run_classes(opts, real)    # `all` / a,b -> the class names (real keeps every category's name)
    split = load_split(opts.split, real)
    check_decodes(real)                # a truncated photo is refused here, not after an hour of renders
    if not any(a["image_id"] in set(split.exposed) for a in real.annotations):
        raise UserError(f"{opts.split}: key 'exposed': no annotation of {opts.category or 'any category'} on "
                        f"the exposed images of {opts.real_json}")
    from align.api import SIDECAR_COLUMNS, check_names
    check_names(opts.metadata or [])
    lacking = [m for m in opts.metadata or [] if m in SIDECAR_COLUMNS and m not in (opts.predict or [])]
    if lacking and not (Path(opts.real_json).parent / "sidecar.json").exists():
        raise UserError(f"--metadata: {', '.join(lacking)} is known only to the renderer and {opts.real_json} has "
                        "no sidecar.json: predict it from the photos with --predict")
    exposed = set(split.exposed)
    return grid_mapping, configs, [real.image_path(im) for im in real.images if im["id"] in exposed]
