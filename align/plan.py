"""The render plan record (design.md §5): entries of (SceneConfig mapping, count, why), the predicted D_B with
its intervals, the grid's reach and the notes; written as plan.yaml (readable by `synthgap render --plan`) and
loaded back. Made by the selectors in align/select.py."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from core.io import atomic_write_text


@dataclass
class PlanEntry:
    config: dict                             # SceneConfig mapping
    config_name: str
    count: int
    component: list[int] = field(default_factory=list)   # GMM components it serves ([] for method mixture)
    why: str = ""

    def to_dict(self) -> dict:
        return {"config": self.config, "config_name": self.config_name, "count": self.count,
                "component": self.component, "why": self.why}


@dataclass
class Plan:
    total: int
    entries: list[PlanEntry]
    predicted_db: dict[str, float | None] = field(default_factory=dict)
    predicted: dict[str, dict] = field(default_factory=dict)   # metadata -> {mean, std, n} of the mixture
    real: dict[str, dict] = field(default_factory=dict)        # metadata -> {mean, std, n} of the real data
    scores: dict[str, list[float]] = field(default_factory=dict)   # config_name -> score per component
    skipped: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    predicted_ci: dict[str, list[float]] = field(default_factory=dict)   # metadata -> [lo, hi] (module docstring)
    probe_images: dict[str, int] = field(default_factory=dict)         # chosen config -> its probe's images
    reach: dict[str, dict] = field(default_factory=dict)               # metadata -> grid_reach() record
    notes: list[str] = field(default_factory=list)                     # warnings a reader of the plan needs

    def to_dict(self) -> dict:
        return {"total": self.total, "entries": [e.to_dict() for e in self.entries], "predicted_db": self.predicted_db,
                "predicted_ci": self.predicted_ci, "predicted": self.predicted, "real": self.real,
                "metadata": self.metadata, "probe_images": self.probe_images, "reach": self.reach,
                "notes": self.notes, "scores": self.scores, "skipped": self.skipped}

    def wide(self, bound: float) -> dict[str, float]:
        """{metadata: interval width} of the aligned metadata whose predicted-D_B interval is wider than bound."""
        return {m: round(ci[1] - ci[0], 6) for m, ci in self.predicted_ci.items()
                if m in self.metadata and ci[1] - ci[0] > bound}

    def to_yaml(self, path: str | os.PathLike) -> Path:
        """plan.yaml (design.md §5): readable by `synthgap render --plan`."""
        import yaml

        text = ("# synthgap align select: render with `synthgap render --plan THIS_FILE --out DIR`\n" +
                yaml.safe_dump(_plain(self.to_dict()), sort_keys=False, default_flow_style=None, width=110,
                                allow_unicode=True))
        atomic_write_text(path, text)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Plan":
        import yaml

        try:
            d = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path}: plan not found") from None
        if not isinstance(d, dict) or "entries" not in d or "total" not in d:
            raise UserError(f"{path}: not a plan (needs 'total' and 'entries')")
        entries = [PlanEntry(e["config"], e["config_name"], int(e["count"]), list(e.get("component") or []),
                             e.get("why", "")) for e in d["entries"]]
        return cls(total=int(d["total"]), entries=entries, predicted_db=d.get("predicted_db") or {},
                   predicted=d.get("predicted") or {}, real=d.get("real") or {}, scores=d.get("scores") or {},
                   skipped=d.get("skipped") or [], metadata=d.get("metadata") or [],
                   predicted_ci=d.get("predicted_ci") or {}, probe_images=d.get("probe_images") or {},
                   reach=d.get("reach") or {}, notes=d.get("notes") or [])


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
