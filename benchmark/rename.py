"""`rename_variant(run_dir, old, new)`: a variant of a benchmark run dir renamed in place, its trained cells kept.

Cells are named by their variant (`<variant>__<detector>__seed<s>[__<regime>]`, benchmark/run.py), so a rename
moves results/<cell>.json (with its "variant", "dataset_dir", "predictions", "weights" and "start" rewritten),
predictions/<cell>.json, cells/<cell>/, metadata/<variant>.json and the variant's entry in run.json (the YOLO
exports in data/ are left: a new cell exports its train set again). A rerun then finds every cell done under the new name; the report's interval cache is keyed by the
prediction files' names, so those intervals are computed again. `synthgap run` uses it to resume run folders
of an earlier set naming (synthgap/recommend.py).
"""
from __future__ import annotations

import os
from pathlib import Path

from core.errors import UserError
from core.io import atomic_write_json, read_json


def _move(a: Path, b: Path) -> None:
    if a.exists() and not b.exists():
        b.parent.mkdir(parents=True, exist_ok=True)
        os.rename(a, b)


def rename_variant(run_dir: str | os.PathLike, old: str, new: str, dataset_dir: str | None = None) -> int:
    """Rename variant `old` to `new` in the benchmark run dir (module docstring); `dataset_dir`: its new path in
    run.json and the records. -> the number of cells renamed."""
    run_dir = Path(run_dir)
    if any(run_dir.glob(f"results/{new}__*.json")) or (run_dir / "metadata" / f"{new}.json").exists():
        raise UserError(f"{run_dir}: variant {new!r} already has results; cannot rename {old!r} to it")
    subs = [(f"{d}/{old}__", f"{d}/{new}__") for d in ("cells", "predictions")]
    n = 0
    for path in sorted((run_dir / "results").glob(f"{old}__*.json")):
        cell = path.stem
        to = new + cell[len(old):]
        rec = read_json(path, "results record")
        rec["variant"] = new
        if dataset_dir:
            rec["dataset_dir"] = dataset_dir
        for key in ("predictions", "weights", "start"):
            if isinstance(rec.get(key), str):
                for a, b in subs:
                    rec[key] = rec[key].replace(a, b)
        _move(run_dir / "predictions" / f"{cell}.json", run_dir / "predictions" / f"{to}.json")
        _move(run_dir / "cells" / cell, run_dir / "cells" / to)
        atomic_write_json(run_dir / "results" / f"{to}.json", rec)
        path.unlink()
        n += 1
    meta = run_dir / "metadata" / f"{old}.json"
    if meta.exists():
        atomic_write_json(run_dir / "metadata" / f"{new}.json", {**read_json(meta), "variant": new})
        meta.unlink()
    run = read_json(run_dir / "run.json", "run settings")
    if old in run.get("variants", {}):
        path = run["variants"].pop(old)
        run["variants"][new] = dataset_dir or path
        atomic_write_json(run_dir / "run.json", run)
    return n
