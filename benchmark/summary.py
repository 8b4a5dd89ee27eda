"""The one summary of a benchmark run's cells, as typed records (every report reads it: the benchmark's, the run's,
the rounds', the photos curve's, the verdict).

`load_run(run_dir)` -> {"run": run.json, "results": [results/*.json], "meta": {variant: metadata/*.json}};
`summarize(data)` -> `Summary`: set name -> `SetSummary`:
- `db`: D_B per metadata to the exposed photos, `mean_db`: their mean (`mean_db()`) over the aligned metadata
  (`mean_metadata`: the one definition of "mean D_B" in every report);
- `groups`: column group -> detector -> `CellSummary`; a cell's group is `alone` for the synthetic regime and the
  real regime's `real` row, else its regime (finetune, mixed, warm, ...); `det` = the `alone` group;
- `CellSummary`: `map` and `ap50` as `MeanSd` (mean and sample sd over seeds, core.stats.mean_sd; (None, None) when
  no seed scored), `n` seeds, the start weights `init`, and the cells' names (`cells`: the keys the bootstrap
  intervals, benchmark/intervals.py, are cached under).
`Summary.cell(set, group, detector)` is the one lookup of a cell (None when the set, group or detector is absent).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from core.errors import UserError
from core.io import read_json
from core.stats import mean_sd


class MeanSd(NamedTuple):
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class CellSummary:
    """One (set, group, detector) over its seeds."""
    map: MeanSd
    ap50: MeanSd
    n: int
    init: str | None
    cells: list[str | None]

    def scored(self) -> bool:
        return self.map.mean is not None


@dataclass
class SetSummary:
    db: dict[str, float]
    mean_db: float | None
    groups: dict[str, dict[str, CellSummary]] = field(default_factory=dict)

    @property
    def det(self) -> dict[str, CellSummary]:
        """The cells trained on this set alone, per detector."""
        return self.groups.get("alone", {})


class Summary(dict):
    """set name -> SetSummary (a dict, in the order the results came)."""

    def cell(self, name: str, group: str, det: str) -> CellSummary | None:
        s = self.get(name)
        return None if s is None else s.groups.get(group, {}).get(det)

    def detectors(self) -> set[str]:
        """Every detector with a cell in any group."""
        return {d for s in self.values() for g in s.groups.values() for d in g}


def load_run(run_dir: Path) -> dict:
    run = read_json(run_dir / "run.json", "run settings")
    results = [read_json(p) for p in sorted((run_dir / "results").glob("*.json"))]
    if not results:
        raise UserError(f"{run_dir / 'results'}: no results records yet (run `synthgap benchmark run` first)")
    meta = {}
    for p in sorted((run_dir / "metadata").glob("*.json")):
        d = read_json(p)
        meta[d["variant"]] = d
    return {"run": run, "results": results, "meta": meta}


def group_of(record: dict) -> str:
    """The report's column group of a cell: `alone` (trained on the row's images alone: the synthetic regime,
    and the real regime's `real` row), else the regime (finetune, mixed, ...)."""
    regime = record.get("regime", "synthetic")
    return "alone" if regime in ("synthetic", "real") else regime


def mean_metadata(run: dict) -> list[str]:
    """The one definition of "mean D_B" (every report): the mean over the *aligned* metadata - the run's
    `mean_metadata` (the fit's, in `synthgap run`), else align's default fit metadata (area_frac, cy)."""
    from align.api import FIT_METADATA
    return list(run.get("mean_metadata") or FIT_METADATA)


def mean_db(db: dict | None, metas: list[str]) -> float | None:
    """The mean of the finite D_B over `metas` (None when there is none)."""
    from align.api import finite_mean
    return finite_mean((db or {}).get(m) for m in metas)


def summarize(data: dict) -> Summary:
    """`data` as load_run returns it (meta and run may be empty) -> the Summary (module docstring)."""
    raw: dict[str, dict[str, dict[str, dict]]] = {}
    for r in data["results"]:
        d = raw.setdefault(r["variant"], {}).setdefault(group_of(r), {}).setdefault(
            r["detector"], {"map": [], "ap50": [], "init": r.get("init"), "cells": []})
        d["map"].append(r["test"]["map"])
        d["ap50"].append(r["test"]["ap50"])
        d["cells"].append(Path(r["predictions"]).stem if r.get("predictions") else None)
    over = mean_metadata(data.get("run", {}))
    out = Summary()
    for name, groups in raw.items():
        db = (data["meta"].get(name) or {}).get("db") or {}
        out[name] = SetSummary(db, mean_db(db, over), {g: {det: CellSummary(
            MeanSd(*mean_sd(d["map"])), MeanSd(*mean_sd(d["ap50"])), len(d["map"]), d["init"], d["cells"])
            for det, d in dets.items()} for g, dets in groups.items()})
    return out
