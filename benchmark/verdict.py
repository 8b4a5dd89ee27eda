"""The verdict at the top of the run report and the benchmark report, and the one rule that picks the set it
recommends - chosen on the exposed photos only, never on test mAP.

The rule (`recommend`, over candidate sets in a stated order, each with its realised mean D_B to the exposed
photos, a predicted one and optionally a zoo quality score):
  1. a candidate whose realised mean D_B is not below the baseline's (further from the photos than random
     sampling of the grid, or as far) is not recommended, and the verdict says so in its second line;
  2. of the others: the lowest zoo score when every one has one, else the lowest realised mean D_B (the
     predicted one for a candidate without a realised value); a tie goes to the candidate named first;
  3. when none is left, the baseline is recommended.
`synthgap run` applies it to its selectors' sets (synthgap/recommend.py, RUN/recommended.json, copied to
RUN/benchmark/recommended.json); a benchmark run without that file applies it to every synthetic variant
(`recommend_by_db`, mean D_B from its metadata/).

The verdict (`verdict_lines`, 3-6 lines): the recommended set with its mean D_B against the baseline's and the
real-vs-real floor (two halves of the exposed photos, align.distances.half_split_floor); the candidates further
than the baseline; why it was chosen; per detector its test mAP50-95 (trained on it alone) against the exposed
photos alone (`real`) and the baseline, with 95 % bootstrap intervals over the test photos; what fine-tuning on
the photos adds (regime finetune, paired interval); the warnings (probes too few, intervals too wide to rank).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.summary import mean_db

if TYPE_CHECKING:
    from align.api import Plan
    from benchmark.summary import CellSummary, Summary

ALIAS = "aligned"
BASELINE = "baseline"
REAL = "real"
RULE = ("chosen on the exposed photos only, never on test mAP: a set further from the exposed photos than the "
        "baseline (realised mean D_B) is not recommended; of the others, the lowest zoo score (with --zoo), else "
        "the lowest realised mean D_B")


def candidate(set_name: str, selector: str | None, plan: Plan | None, realised: float | None, metas: list[str],
              zoo_score: float | None = None) -> dict:
    """One set as the rule sees it (with a plan: its predicted mean D_B and widest predicted interval)."""
    ci = plan.predicted_ci if plan else {}
    widths = [float(c[1]) - float(c[0]) for c in (ci.get(m) for m in metas) if c and None not in c]
    return {"set": set_name, "selector": selector, "realised_mean_db": realised,
            "predicted_mean_db": mean_db(plan.predicted_db if plan else None, metas),
            "predicted_ci_width": max(widths) if widths else None, "zoo_score": zoo_score}


def _db(c: dict) -> float | None:
    return c["realised_mean_db"] if c["realised_mean_db"] is not None else c["predicted_mean_db"]


def _fmt(x: float | None, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _who(c: dict) -> str:
    return c["set"] + (f" (selector {c['selector']})" if c.get("selector") else "")


def _reason(best: dict, ok: list[dict], use_zoo: bool, baseline_db: float | None) -> str:
    among = "of the sets closer to the photos than the baseline" if baseline_db is not None else \
        "of the sets (no baseline in this run)"
    others = [c for c in ok if c is not best]
    if use_zoo:
        return (f"{best['set']} has the lowest zoo quality score {among} ({best['zoo_score']:.2f}" +
                "".join(f"; {c['set']} {c['zoo_score']:.2f}" for c in others) +
                f"), realised mean D_B {_fmt(best['realised_mean_db'])}")
    pred = f" (predicted from the probes {_fmt(best['predicted_mean_db'])})" if best["predicted_mean_db"] is not None \
        else ""
    return (f"{best['set']} is the closest to the exposed photos {among}: realised mean D_B "
            f"{_fmt(best['realised_mean_db'])}{pred}" + "".join(f"; {c['set']} {_fmt(_db(c))}" for c in others))


def _tie_warning(ok: list[dict], floor: dict | None, use_zoo: bool) -> list[str]:
    """Two or more candidates under the real-vs-real floor: D_B cannot tell them apart (the rule still picks the
    lowest, but the user should know it is a tie)."""
    f = (floor or {}).get("mean_db")
    under = [c for c in ok if f is not None and _db(c) is not None and _db(c) <= f]
    if use_zoo or len(under) < 2:
        return []
    return [f"{', '.join(c['set'] for c in under)} are all under the real-vs-real floor of mean D_B ({f:.3f}): "
            "D_B cannot tell them apart, so the choice among them is a tie (train them all, or add --zoo)"]


def recommend(candidates: list[dict], baseline_db: float | None, floor: dict | None = None,
              probe_ci: float | None = None) -> dict:
    """The module docstring's rule over `candidates` (candidate(), in order). -> {"recommended", "selector",
    "alias", "rule", "reason", "baseline", "mean_db": {set: realised}, "floor", "candidates", "further":
    [{"set", "selector", "mean_db"}], "warnings"} (docs/design.md §5, RUN/recommended.json)."""
    further = [c for c in candidates if baseline_db is not None and c["realised_mean_db"] is not None
               and c["realised_mean_db"] >= baseline_db]
    ok = [c for c in candidates if c not in further and _db(c) is not None]
    use_zoo = bool(ok) and all(c.get("zoo_score") is not None for c in ok)
    if ok:
        best = min(ok, key=lambda c: c["zoo_score"] if use_zoo else _db(c))
        rec, selector, alias, reason = best["set"], best["selector"], ALIAS, _reason(best, ok, use_zoo, baseline_db)
    elif baseline_db is not None:
        rec, selector, alias = BASELINE, None, None
        reason = ("no set is closer to the exposed photos than the baseline, so the baseline is recommended (the "
                  "grid may not reach the photos' metadata: see the plans' reach notes)")
    else:
        rec, selector, alias, reason = None, None, None, "no set has a mean D_B to the exposed photos"
    warnings = [] if baseline_db is not None else [
        "no baseline set: the sets were not checked against random sampling of the grid"]
    few = [c for c in candidates if probe_ci is not None and c["predicted_ci_width"] is not None
           and c["predicted_ci_width"] > probe_ci]
    if few:
        warnings.append(f"probes too few for {', '.join(c['set'] for c in few)}: predicted D_B interval " + ", ".join(
            f"{c['predicted_ci_width']:.3f}" for c in few) + f" wide (> --probe-ci {probe_ci}); raise --probe-max")
    warnings += _tie_warning(ok, floor, use_zoo)
    means = {c["set"]: c["realised_mean_db"] for c in candidates}
    if baseline_db is not None:
        means[BASELINE] = baseline_db
    return {"recommended": rec, "selector": selector, "alias": alias, "rule": RULE, "reason": reason,
            "baseline": BASELINE, "mean_db": means, "floor": floor, "candidates": candidates,
            "further": [{"set": c["set"], "selector": c["selector"], "mean_db": c["realised_mean_db"]}
                        for c in further], "warnings": warnings}


def recommend_by_db(summary: Summary, floor: dict | None = None) -> dict:
    """A benchmark run's recommendation without a run's: the rule over every synthetic variant trained alone,
    by its mean D_B to the exposed photos (benchmark.report.summarize), in name order."""
    names = sorted(n for n in summary if n not in (BASELINE, REAL))
    base = summary[BASELINE].mean_db if BASELINE in summary else None
    rec = recommend([candidate(n, None, None, summary[n].mean_db, []) for n in names], base, floor)
    return {**rec, "alias": None}


# ---------------------------------------------------------------------------------------------------- verdict
def _first_line(rec: dict) -> str:
    m, floor = rec.get("mean_db") or {}, rec.get("floor") or {}
    fl = (f"the real-vs-real floor {floor['mean_db']:.3f} ({floor.get('rule', 'two halves of the exposed photos')})"
          if floor.get("mean_db") is not None else "no real-vs-real floor (too few exposed photos)")
    name, base = rec.get("recommended"), m.get(BASELINE)
    if name is None:
        return f"**No set recommended**: {rec.get('reason')}."
    shown = f"`{rec['alias']}` = {name}" if rec.get("alias") else name
    sel = f" (selector {rec['selector']})" if rec.get("selector") else ""
    vs = f" vs the baseline's {base:.3f}" if base is not None and name != BASELINE else ""
    return f"**Recommended set: {shown}**{sel}: mean D_B {_fmt(m.get(name))} to the exposed photos{vs} and {fl}."


def _further_line(rec: dict) -> str | None:
    fur = rec.get("further") or []
    base = (rec.get("mean_db") or {}).get(BASELINE)
    if not fur:
        return None
    return "**Not recommended, further from the photos than the baseline:** " + "; ".join(
        f"{_who(c)}: mean D_B {_fmt(c['mean_db'])} vs {_fmt(base)}" for c in fur) + "."


def _scored(summary: Summary, name: str, group: str, det: str) -> CellSummary | None:
    """The cell when it has a test mAP, else None."""
    d = summary.cell(name, group, det)
    return d if d is not None and d.scored() else None


def _map_text(d: CellSummary, iv) -> str:
    ci = iv.cell(d.cells).get("map") if iv is not None else None
    return f"{d.map.mean:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _map_line(rec: dict, summary: Summary, iv, detectors: list[str]) -> tuple[str, list[str]]:
    """The mAP line and the warnings of the references the test photos cannot rank the set against."""
    name, parts, wide = rec["recommended"], [], {}
    for det in detectors:
        d = _scored(summary, name, "alone", det)
        if d is None:
            continue
        refs = [(r, label, _scored(summary, r, "alone", det)) for r, label in
                ((REAL, "the photos alone"), (BASELINE, "the baseline")) if r != name]
        refs = [(r, label, o) for r, label, o in refs if o is not None]
        parts.append(f"{det} {_map_text(d, iv)}" + ("" if not refs else " vs " + " and ".join(
            f"{label} {_map_text(o, iv)}" for _, label, o in refs)))
        held = [r for r, _, o in refs if iv is not None and not iv.pair(d.cells, o.cells)["excludes_0"]]
        if held:
            wide.setdefault(" or ".join(held), []).append(det)
    warn = [f"intervals too wide to rank {name} against {refs} ({', '.join(dets)}: the paired interval over the "
            "test photos holds 0)" for refs, dets in wide.items()]
    if not parts:
        return f"No detector was trained on {name} (left out of the benchmark, or not run yet).", warn
    return f"Test mAP50-95 [95 %], trained on {name} alone: " + "; ".join(parts) + ".", warn


def _finetune_line(rec: dict, summary: Summary, iv, detectors: list[str]) -> str | None:
    """What fine-tuning the recommended set's detector on the exposed photos adds (paired intervals)."""
    name, parts = rec["recommended"], []
    for det in detectors:
        ft = _scored(summary, name, "finetune", det)
        if ft is None:
            continue
        text = f"{det} {_map_text(ft, iv)}"
        for ref, label in ((_scored(summary, REAL, "alone", det), "the photos alone"),
                           (_scored(summary, name, "alone", det), f"{name} alone")):
            if ref is not None:
                p = iv.pair(ft.cells, ref.cells) if iv is not None else None
                text += f", {ft.map.mean - ref.map.mean:+.3f}" + (
                    f" [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]" if p else "") + f" over {label}"
        parts.append(text)
    return ("Fine-tuned on the exposed photos: " + "; ".join(parts) + ".") if parts else None


def verdict_lines(rec: dict, summary: Summary | None = None, iv=None, detectors: list[str] | None = None) -> list[str]:
    """The verdict (module docstring) as Markdown list items, 3-6 lines."""
    lines = [_first_line(rec), _further_line(rec), f"Why ({RULE.split(':')[0]}): {rec.get('reason')}."]
    warnings = list(rec.get("warnings") or [])
    if summary and rec.get("recommended") is not None:
        dets = detectors or sorted({d for v in summary.values() for d in v.det})
        line, wide = _map_line(rec, summary, iv, dets)
        lines += [line, _finetune_line(rec, summary, iv, dets)]
        warnings += wide
    else:
        lines.append("No detector trained yet: the benchmark has not run (--no-benchmark, or still to come).")
    if warnings:
        lines.append("**Warnings:** " + "; ".join(warnings) + ".")
    return [f"- {ln}" for ln in lines if ln]
