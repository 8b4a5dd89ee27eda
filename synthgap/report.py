"""The run's own report: RUN/report.md + RUN/report_files/*.png + a self-contained RUN/report.html.

Sections: first the verdict (benchmark/verdict.py: the recommended set of RUN/recommended.json, chosen on the
exposed photos only, its mean D_B against the baseline's and the real-vs-real floor, its mAP against the photos
alone and the baseline, what fine-tuning adds, the warnings), then the sets (one line each, from the
registries), D_B of every set to the target's exposed images
(mean D_B = the mean over the *aligned* metadata, the fit's, the same definition as the benchmark report of
the run), each selector's plan, (demo) hidden vs recovered mixture, the detectors' test mAP (benchmark.report's
one summary: mean ± sample sd over seeds), the Spearman correlation of mean D_B with mAP, and the plots: mean
D_B vs mAP and histograms of the aligned metadata per set against the real exposed images.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.api import fmt_num, read_json

from synthgap.options import RunOptions
from synthgap.variants import VARIANTS, comparison_names, selector_sets

if TYPE_CHECKING:
    from benchmark.api import Summary
    from align.api import Plan


def _short(text: str, n: int = 150) -> str:
    text = str(text).replace("|", "/")
    return text if len(text) <= n else text[:n] + " ... (the plan file has it all)"


def config_brief(cfg: dict[str, Any]) -> str:
    cam = cfg.get("camera", {})
    return (f"distance {cam.get('distance')}, elevation {cam.get('elevation_deg')}, "
            f"{cfg.get('placement')}, {cfg.get('objects_per_scene')} objects")


def _verdict(rec: dict, summ: Summary | None, iv, dets: list[str]) -> list[str]:
    """The report's first lines (benchmark/verdict.py): the recommended set and why, its D_B and mAP against
    the baseline and the photos alone, what fine-tuning adds, the warnings."""
    from benchmark.api import verdict_lines
    return ["# synthgap run report", "", "## Verdict", "", *verdict_lines(rec, summ, iv, dets), "",
            "The choice in full (the rule, every candidate, the floor): `recommended.json`; the tables below are "
            "the evidence.", ""]


def _intro(opts: RunOptions, fit: dict, context: dict, rec: dict) -> list[str]:
    from align.api import SELECTORS
    from core.api import flag_name
    md = []
    if context.get("stand_in"):
        md += ["> **The target here is a synthetic stand-in for your real photos** (the demo): it was rendered "
               "from a hidden mixture of grid configs that the selector never saw; the selector only saw its "
               "*exposed* images and boxes. Run `synthgap demo --real ...` or `synthgap run` on your photos.", ""]
    src = f"`{opts.real_source}` (read as `{opts.real_json}`)" if opts.real_source else f"`{opts.real_json}`"
    md += [f"Target: {src} (exposed split of `{opts.split}`), category {opts.category or 'all'}. "
           f"Grid `{opts.grid}`; {opts.total} images per set, probe renders of {opts.probe_n} images per config.",
           "", f"GMM fit on {', '.join(fit.get('metadata', []))} (mode {fit.get('mode')}): K={fit.get('k')}"
           + (f" ({fit['k_reason']})" if fit.get("k_reason") else "") + ".", "", "Sets:", ""]
    def own(name: str, given: dict | None) -> str:
        flags = " ".join(f"`{flag_name(name, k)} {v}`" for k, v in (given or {}).get(name, {}).items())
        return f" (options: {flags})" if flags else ""
    for name in comparison_names(opts):
        md.append(f"- **{name}**: {VARIANTS.get(name).description}{own(name, opts.variant_params)}")
    for method, (variant, plan_file) in selector_sets(opts).items():
        md.append(f"- **{variant}**: selector {method} ({plan_file}), {SELECTORS.get(method).description}"
                  f"{own(method, opts.selector_params)}")
    if rec.get("alias"):
        md.append(f"- **{rec['alias']}** = {rec['recommended']}: the recommended set (hard links in "
                  f"sets/{rec['alias']}; trained and measured under its own name)")
    return md


def _distance_section(dist: dict, sets: list[str], metas: list[str], plans: dict[str, Plan],
                      opts: RunOptions) -> list[str]:
    md = ["", "## Distance to the target's exposed images (Bhattacharyya D_B, lower is closer)", "",
          f"Mean D_B is the mean over the aligned metadata ({', '.join(metas)}), as in the benchmark report.", "",
          "KID: how far the set's *images* look from the exposed photos (ImageNet MobileNetV2 features, ± its "
          "bootstrap standard error; 0 = alike; align/realism.py); FID on the same features (biased at these set "
          "sizes: compare sets of equal size only). P / R: KNN precision (share of the set's images inside the "
          "photos' feature manifold) and recall (share of the photos inside the set's).", "",
          "| set | images | boxes | " + " | ".join(f"D_B {m}" for m in metas) + " | mean D_B | KID | FID | P / R |",
          "|---" * (len(metas) + 7) + "|"]
    for v in sets:
        d = dist[v]
        k = d.get("realism") or {}
        kid = f"{k['kid']:.3f} ± {k['se']:.3f}" if k.get("se") is not None else "–"
        pr = f"{k['precision']:.2f} / {k['recall']:.2f}" if k.get("precision") is not None else "–"
        md.append(f"| {v} | {d['images']} | {d['boxes']} | " + " | ".join(fmt_num(d["db"].get(m)) for m in metas)
                  + f" | {fmt_num(d['mean_db'])} | {kid} | {fmt_num(k.get('fid'), 1)} | {pr} |")
    md.append("")
    b = dist.get("baseline", {}).get("mean_db")
    for method, plan in plans.items():
        v = selector_sets(opts)[method][0]
        a = dist.get(v, {}).get("mean_db")
        line = f"- **{v}** (selector {method}): "
        if a is not None and b is not None:
            line += f"mean D_B {a:.3f} vs baseline {b:.3f}: " + (
                "closer to the target than the baseline." if a < b else "NOT closer than the baseline on this run.")
        md.append(line)
    return md + _class_distance_section(dist, sets) + _prediction_section(dist, metas, plans, opts)


def _class_distance_section(dist: dict, sets: list[str]) -> list[str]:
    """Several classes (synthgap/classes.py): each set's mean D_B to each class's exposed boxes."""
    classes = next((list(dist[v]["classes"]) for v in sets if dist.get(v, {}).get("classes")), None)
    if not classes:
        return []
    md = ["", "### Per class", "", "Each class's boxes of the set against the exposed photos' boxes of that class "
          "(mean D_B over the class's aligned metadata; the table above: the classes' mean, equal weights). A set "
          "with no box of a fitted class has no mean D_B and is never recommended.", "",
          "| set | " + " | ".join(f"{c}: mean D_B (boxes)" for c in classes) + " |", "|---" * (1 + len(classes)) + "|"]
    for v in sets:
        per = dist[v].get("classes") or {}
        md.append(f"| {v} | " + " | ".join(f"{fmt_num((per.get(c) or {}).get('mean_db'))} "
                                           f"({(per.get(c) or {}).get('boxes', 0)})" for c in classes) + " |")
    return md


def _prediction_section(dist: dict, metas: list[str], plans: dict[str, Plan], opts: RunOptions) -> list[str]:
    """Each plan's predicted D_B (95 % interval from resampling its probes) beside the rendered set's D_B, and
    the plan's warnings (grid reach, probes still too few)."""
    md = ["", "### Predicted from the probes vs realised", "",
          "Predicted: the plan's D_B from its probe renders, with the 95 % interval of resampling the probes' images "
          f"(align/select.py, \"Probe adequacy\"; probes grow while an interval is wider than {opts.probe_ci}, up to "
          f"{opts.probe_cap} images per chosen config). Realised: the rendered set's D_B.", "",
          "| set | probe images per chosen config | " + " | ".join(f"{m}: predicted [95 %] / realised" for m in metas)
          + " |", "|---" * (len(metas) + 2) + "|"]
    notes = []
    for method, plan in plans.items():
        v = selector_sets(opts)[method][0]
        pred, ci, real = plan.predicted_db, plan.predicted_ci, dist.get(v, {}).get("db", {})
        cells = []
        for m in metas:
            lo, hi = (ci.get(m) or [None, None])
            r = real.get(m)
            inside = "" if lo is None or r is None else (" ✓" if lo <= r <= hi else " (outside)")
            cells.append(f"{fmt_num(pred.get(m))} [{fmt_num(lo)}, {fmt_num(hi)}] / {fmt_num(r)}{inside}")
        counts = sorted(set(plan.probe_images.values()))
        md.append(f"| {v} | {', '.join(map(str, counts)) or '–'} | " + " | ".join(cells) + " |")
        notes += [f"- {v}: {n}" for n in plan.notes]
    return md + (["", "Warnings from the selection:", "", *notes] if notes else [])


def _plan_section(plans: dict[str, Plan], opts: RunOptions) -> list[str]:
    md = []
    for method, plan in plans.items():
        variant, plan_file = selector_sets(opts)[method]
        md += ["", f"## Render plan of the {method} selector ({plan_file} -> sets/{variant})", "",
               "| config | count | component | settings | why |", "|---|---|---|---|---|"]
        for e in plan.entries:
            md.append(f"| {e.config_name} | {e.count} | {e.component or '-'} | {config_brief(e.config)} | "
                      f"{_short(e.why)} |")
    return md


def _hidden_section(plans: dict[str, Plan], context: dict) -> list[str]:
    hidden = context.get("hidden_mixture")
    if not hidden:
        return []
    recs = {}
    for method, plan in plans.items():
        rec: dict[str, float] = {}
        for e in plan.entries:
            rec[e.config_name] = rec.get(e.config_name, 0) + e.count / plan.total
        recs[method] = rec
    md = ["", "## Hidden mixture vs recovered mixture", "",
          "| config | settings | hidden weight | " + " | ".join(f"recovered ({m})" for m in recs) + " |",
          "|---" * (3 + len(recs)) + "|"]
    names = sorted(set(hidden).union(*[set(r) for r in recs.values()]) | set(context.get("config_brief", {})))
    for name in names:
        md.append(f"| {name} | {context.get('config_brief', {}).get(name, '')} | {hidden.get(name, 0.0):.2f} | "
                  + " | ".join(f"{r.get(name, 0.0):.2f}" for r in recs.values()) + " |")
    for method, rec in recs.items():
        err = 0.5 * sum(abs(hidden.get(n, 0.0) - rec.get(n, 0.0)) for n in names)
        md.append(f"\nTotal variation distance hidden vs {method}: {err:.2f} (0 = exact recovery).")
    return md


def _benchmark(opts: RunOptions):
    """(the benchmark's data, its one summary, its intervals, the detectors) when it has results, else None."""
    from benchmark.api import Intervals, detector_order, load_run, summarize
    if not any((opts.out / "benchmark" / "results").glob("*.json")):
        return None
    data = load_run(opts.out / "benchmark")
    summ = summarize(data)
    dets = detector_order(summ.detectors())
    return data, summ, Intervals(opts.out / "benchmark", data["run"], opts.bootstrap), dets


def _detector_section(opts: RunOptions, data: dict, summ: Summary, sets: list[str], iv, dets: list[str]) -> list[str]:
    """The benchmark's own table (same summary, intervals and pairs as its report, read from its cache) and the
    Spearman correlation of mean D_B with mAP, with a permutation p-value."""
    from benchmark.api import (REAL_BASELINE, comparisons, mean_metadata, paired_section, per_class_section,
                               results_table)
    from core.api import spearman_perm
    order = [v for v in [*sets, REAL_BASELINE, *sorted(set(summ) - set(sets) - {REAL_BASELINE})] if v in summ]
    md = ["", "## Detectors trained on each set, scored on the target's test images", "",
          "Mean ± sample standard deviation over seeds, then the 95 % bootstrap interval over the test images; "
          "column groups as in the benchmark report (alone, finetune, mixed).", ""]
    md += results_table(summ, order, [], dets, iv, mean_metadata(data["run"])) + per_class_section(
        data["results"], order) + paired_section(comparisons(summ, iv))
    iv.save()
    for d in dets:
        cells = [(summ[v].mean_db, summ.cell(v, "alone", d)) for v in sets if v in summ]
        pts = [(db, c.map.mean) for db, c in cells if db is not None and c is not None and c.scored()]
        sp = spearman_perm([p[0] for p in pts], [p[1] for p in pts])
        if sp["rho"] is not None:
            md.append(f"\nSpearman correlation of mean D_B with {d} mAP over the {len(pts)} synthetic sets: "
                      f"{sp['rho']:.2f} (permutation p = {sp['p']:.3f}; negative = closer sets train better).")
    return md + ["", "Full benchmark report (per-metadata correlations, sample detections): "
                 "[benchmark/report.html](benchmark/report.html)."]


def _predict_section(opts: RunOptions) -> list[str]:
    """--predict: the R² table of the metadata learnt from the probes' box crops (align/predict_metadata.py)."""
    from align.api import MetadataModel, r2_table
    rec = read_json(opts.out / "predict.json", "predictions")
    models = {m: MetadataModel.from_record(m, v) for m, v in rec["models"].items()}
    return ["", "## Metadata predicted from box-crop features", "",
            "Photos lack what only the renderer knows; each metadata below was learnt from the probe renders' box "
            "crops (ImageNet MobileNetV2 features, ridge regression, 5-fold cross-validated R² on the synthetic "
            "boxes) and predicted for the real exposed boxes where R² >= 0.3; the fit and D_B use the predictions "
            "like measured columns." + (" On this target the boxes also have measured values (a synthetic "
                                         "stand-in): the last column scores the predictions against them." if
                                         rec.get("against_measured") else ""), "",
            *r2_table(models, rec.get("against_measured") or {})]


def _shapes_section(opts: RunOptions) -> list[str]:
    """shape-aligned: the per-mesh table of RUN/shapes.json (align/feature_filter.py shape_scores)."""
    rec = read_json(opts.out / "shapes.json", "shape scores")
    drop = rec.get("exclude_assets") or []
    return ["", "## Shapes (meshes) against the photos", "",
            f"Per mesh, the mean KDE outlier score of its box crops in `{rec.get('scored_on')}` under the exposed "
            "photos' box crops (higher = less like the photos); the meshes above the elbow of these means are left "
            "out of the shape-aligned set: " + (", ".join(drop) if drop else "none (no elbow: shape-aligned is the "
                                                 "aligned set)") + ".", "",
            "| mesh | boxes | score | left out |", "|---|---|---|---|",
            *[f"| {r['asset_id']} | {r['boxes']} | {r['score']:.2f} | {'yes' if r['drop'] else ''} |"
              for r in rec.get("shapes", [])]]


def _zoo_section(opts: RunOptions, dist: dict, sets: list[str]) -> list[str]:
    """--zoo: every set's training-free quality score (the zoo's weights, align/quality.py) and the rank it
    predicts, before any detector is trained."""
    from align.api import load_zoo
    from synthgap.recommend import zoo_rows
    z = load_zoo(opts.zoo)
    held = z["score"]["held_out"]
    md = ["", "## Training-free quality score (the zoo's weights)", "",
          f"Weights from `{opts.zoo}` ({len(z['sets'])} sets; there its held-out score ranked sets by mAP with "
          f"Spearman {fmt_num(held.get('rho'), 2)}, p = {fmt_num(held.get('p'), 4)}). Lower = predicted to train "
          "a better detector.", "", "| set | score | predicted rank |", "|---|---|---|"]
    md += [f"| {v} | {fmt_num(sc, 2)} | {rank if rank is not None else 'n/a'} |"
           for v, sc, rank in zoo_rows(opts, dist, sets)]
    return md


def _hist_figs(opts: RunOptions, sets: list[str], metas: list[str]) -> list[tuple[str, str, bytes]]:
    """Histograms of the aligned metadata of every set against the real exposed images (cached tables)."""
    import numpy as np

    from align.api import MetadataTable, metadata_for_dir
    from benchmark.api import hist_png
    real = MetadataTable.load(opts.real_table)
    figs = []
    for v in sets:
        t = metadata_for_dir(opts.out / "sets" / v, category=opts.category, dataset=v)
        hist = {}
        for m in metas:
            if real.has(m, "bbox") and t.has(m, "bbox"):
                r, s = real.values(m, "bbox"), t.values(m, "bbox")
                hist[m] = {"real": r[np.isfinite(r)].tolist(), "synth": s[np.isfinite(s)].tolist()}
        png = hist_png(v, hist) if hist else None
        if png:
            figs.append((f"hist_{v}.png", f"{v}: aligned metadata vs the real exposed images", png))
    return figs


def _sheets(opts: RunOptions, sets: list[str], n: int = 12, n_refined: int = 8) -> list[tuple[str, str, bytes]]:
    """One contact sheet per set: n of its images (evenly spaced) above n exposed photos, to judge realism; then
    one per refined set (it holds refine.json): the same n_refined renders before (top) and after refinement
    (middle) above n_refined exposed photos (bottom)."""
    from core.api import load_coco, load_split
    from render.api import sheet_paths, sheet_png
    real = load_coco(opts.real_json, opts.images)
    exposed = load_split(opts.split, real).exposed
    plain, refined_sheets = [], []
    for v in sets:
        d = opts.out / "sets" / v
        cs = load_coco(d)
        renders, photos = sheet_paths(cs, real, exposed, n)
        plain.append((f"sheet_{v}.png", f"{v}: renders (top) and exposed photos (bottom)",
                      sheet_png(renders + photos, cols=max(len(renders), len(photos), 1))))
        if (d / "refine.json").exists():
            src = Path(read_json(d / "refine.json", "refine record")["src"])
            refined, photos = sheet_paths(cs, real, exposed, n_refined)
            before = [src / p.relative_to(d) for p in refined]
            refined_sheets.append((f"refine_{v}.png", f"{v}: renders (top), refined (middle), exposed photos "
                                   "(bottom)", sheet_png(before + refined + photos,
                                                         cols=max(len(refined), len(photos), 1))))
    return plain + refined_sheets


def _recommendation(opts: RunOptions, dist: dict, metas: list[str]) -> dict:
    """RUN/recommended.json, or (a folder whose run has not chosen yet) the same choice made here."""
    from align.api import MetadataTable
    from synthgap.recommend import choose
    path = opts.out / "recommended.json"
    if path.exists():
        return read_json(path, "recommendation")
    return choose(opts, MetadataTable.load(opts.real_table), metas, dist)


def write_run_report(opts: RunOptions, context: dict[str, Any]) -> Path:
    """RUN/report.md + RUN/report.html (+ RUN/report_files/): the verdict first, then the tables. -> the .md."""
    from align.api import Plan
    from benchmark.api import save_report, scatter_png
    out = opts.out
    dist = read_json(out / "distances.json", "distances")
    fit = read_json(out / "fit.json", "fit")
    plans = {m: Plan.load(out / f) for m, (_, f) in selector_sets(opts).items() if (out / f).exists()}
    sets = [v for v in [*comparison_names(opts), *(v for v, _ in selector_sets(opts).values())] if v in dist]
    metas = list(fit.get("metadata", []))
    rec, bench = _recommendation(opts, dist, metas), _benchmark(opts)
    md = _verdict(rec, *(bench[1:] if bench else (None, None, [])))
    md += _intro(opts, fit, context, rec) + _distance_section(dist, sets, metas, plans, opts)
    md += _plan_section(plans, opts) + _hidden_section(plans, context)
    if opts.predict and (out / "predict.json").exists():
        md += _predict_section(opts)
    if "shape-aligned" in sets and (out / "shapes.json").exists():
        md += _shapes_section(opts)
    if opts.zoo:
        md += _zoo_section(opts, dist, sets)
    figs = _hist_figs(opts, sets, metas) + _sheets(opts, sets)
    if bench:
        md += _detector_section(opts, bench[0], bench[1], sets, bench[2], bench[3])
        sc = scatter_png(bench[1], sorted({d for v in bench[1].values() for d in v.det}))
        if sc:
            figs.insert(0, ("scatter.png", "mean D_B vs test mAP", sc))
    elif opts.benchmark:
        md += ["", "No benchmark results yet."]
    from synthgap.rounds_report import rounds_section
    rmd, rfigs = rounds_section(opts, bench)
    md, figs = md + rmd, figs + rfigs
    md += ["", "## Plots", ""] + [f"![{cap}](report_files/{fn})" for fn, cap, _ in figs]
    return save_report(out, "report", "synthgap run report", md, figs)
