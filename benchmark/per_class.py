"""mAP per class, for a benchmark of several classes (`--category a,b`): each results record's `test_per_class`
(benchmark/cells.py: every class's test boxes and detections scored alone, with a bootstrap interval over the
test photos) as one table, shared by the benchmark report and the run report."""
from __future__ import annotations

from core.stats import fmt_mean_sd, mean_sd


def _cell(recs: list[dict]) -> str:
    """One seed: mAP [95 % interval]; several: mean ± sd over the seeds; - where the class has no test box."""
    vals = [r["map"] for r in recs if r and r.get("map") is not None]
    if not vals:
        return "-"
    if len(vals) == 1 and recs[0].get("ci"):
        lo, hi = recs[0]["ci"]["map"]
        return f"{vals[0]:.3f} [{lo:.3f}, {hi:.3f}]"
    return fmt_mean_sd(*mean_sd(vals), len(vals), nd=3)


def per_class_section(results: list[dict], order: list[str]) -> list[str]:
    """The table `## mAP50-95 per class` (rows: set, regime, detector in `order`; columns: the classes); []
    when no record has per-class scores (one class)."""
    recs = [r for r in results if r.get("test_per_class")]
    if not recs:
        return []
    classes = list(recs[0]["test_per_class"])
    rows: dict[tuple, list[dict]] = {}
    for r in recs:
        rows.setdefault((r["variant"], r.get("regime", "synthetic"), r["detector"]), []).append(r["test_per_class"])
    rank = {v: i for i, v in enumerate(order)}
    boxes = ", ".join(f"{c} {recs[0]['test_per_class'][c]['boxes']}" for c in classes)
    md = ["", "## mAP50-95 per class (test photos)", "",
          f"Each class's test boxes and detections scored alone (test boxes: {boxes}); one seed: the 95 % "
          "bootstrap interval over the test photos, several: mean ± sd over seeds.", "",
          "| set | regime | detector | " + " | ".join(classes) + " |", "|---" * (3 + len(classes)) + "|"]
    for (v, regime, det), per in sorted(rows.items(), key=lambda kv: (rank.get(kv[0][0], len(rank)), kv[0])):
        md.append(f"| {v} | {regime} | {det} | " + " | ".join(_cell([p.get(c) for p in per]) for c in classes) + " |")
    return md
