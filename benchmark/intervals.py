"""Intervals of a benchmark run for its report: each cell's 95 % bootstrap interval over the real test images,
and paired bootstrap differences between cells (benchmark/stats.py), cached in RUN/intervals.json (keyed by
the prediction files' names and mtimes and B, so a rerun of the report costs nothing and a retrained cell is
recomputed).

Pairs compared, per detector: within each column group (trained alone / finetune / mixed) every variant
against `baseline` when there is one; and every cell against the real regime's cell (`real`, the exposed
photos alone). The difference is mAP50-95(first) - mAP50-95(second), seeds averaged on every draw.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.io import atomic_write_json, read_json

if TYPE_CHECKING:
    from benchmark.summary import Summary

REFERENCE_SET = "baseline"


def _files(run_dir: Path, cells: list[str]) -> tuple[str, list[Path]]:
    """The cells' prediction files and their cache key (names and mtimes)."""
    files = [run_dir / "predictions" / f"{c}.json" for c in cells]
    return "|".join(f"{f.name}:{f.stat().st_mtime_ns}" for f in files), files


class Intervals:
    def __init__(self, run_dir: Path, run: dict, B: int = 300):
        from core.coco import load_coco, load_split
        self.run_dir, self.B = Path(run_dir), B
        real = load_coco(run["real_json"], run["images_dir"])
        self.gt = real.subset(load_split(run["split"]).test, real.class_names(run.get("category")))
        self.path = self.run_dir / "intervals.json"
        self.cache = read_json(self.path) if self.path.exists() else {}

    def _cached(self, kind: str, groups: list[list[str]], compute) -> dict:
        """The cached result, else `compute(*draw scores per group)`; files are read only on a miss, each
        group's draw scores once, and the cache is written after every new entry (a killed report keeps what
        it had)."""
        keyed = [_files(self.run_dir, cells) for cells in groups]
        key = "|".join([kind, str(self.B), *(k for k, _ in keyed)])
        if key not in self.cache:
            self.cache[key] = compute(*(self._draw_scores(k, files) for k, files in keyed))
            self.save()
        return self.cache[key]

    def _draw_scores(self, key: str, files: list[Path]):
        """A group's (B, 2) draw scores, kept in the cache (exact floats): a rerun of the report after a new
        cell rescores only that cell."""
        import numpy as np

        from benchmark.stats import draw_scores
        ckey = f"scores|{self.B}|{key}"
        if ckey not in self.cache:
            self.cache[ckey] = draw_scores(self.gt, [read_json(f) for f in files], B=self.B).tolist()
        return np.asarray(self.cache[ckey], dtype=float)

    def cell(self, cells: list[str]) -> dict:
        from benchmark.stats import ci_from_scores
        return self._cached("cell", [cells], ci_from_scores)

    def pair(self, a: list[str], b: list[str]) -> dict:
        from benchmark.stats import paired_from_scores
        return self._cached("pair", [a, b], paired_from_scores)

    def save(self) -> None:
        atomic_write_json(self.path, self.cache, indent=None)


def comparisons(summary: Summary, iv: Intervals, real_name: str = "real") -> list[dict]:
    """The module docstring's pairs: [{"group", "detector", "a", "b", "diff", "ci", "excludes_0", "ratio"}]."""
    out = []
    for v, s in summary.items():
        for group, dets in s.groups.items():
            for det, d in dets.items():
                ref, real = summary.cell(REFERENCE_SET, group, det), summary.cell(real_name, "alone", det)
                if v not in (REFERENCE_SET, real_name) and ref:
                    out.append({"group": group, "detector": det, "a": v, "b": f"{REFERENCE_SET}",
                                **iv.pair(d.cells, ref.cells)})
                if v != real_name and real:
                    out.append({"group": group, "detector": det, "a": v, "b": real_name,
                                **iv.pair(d.cells, real.cells)})
    return out
