"""`write_report(run_dir)`: report.md (+ report_files/*.png) and a self-contained report.html (inline PNGs).

Contents: first the verdict (benchmark/verdict.py: the recommended set - RUN_DIR/recommended.json when
`synthgap run` wrote one, else the synthetic variant closest to the exposed photos by mean D_B - with its mean D_B
against the baseline's and the real-vs-real floor, its mAP against the photos alone and the baseline, what
fine-tuning adds, the warnings); then a table variant x (D_B per metadata, mean D_B, mAP / AP50 per detector as mean ± std over seeds),
Pearson and Spearman correlation of D_B with mAP per metadata and detector over the synthetic variants
(the real baseline is shown but not correlated; n/a with fewer than 3 variants), a scatter plot of mean D_B
vs mAP, histogram overlays (real exposed vs variant) per variant, and sample detections on real test images.
"""
from __future__ import annotations

import io
import itertools
import math
from pathlib import Path

from core.io import atomic_write_bytes, atomic_write_text, read_json
from core.stats import fmt_mean_sd, fmt_num

from benchmark.detectors import DETECTORS
from benchmark.figures import fig_png
from benchmark.run import BASELINE
from benchmark.summary import CellSummary, Summary, group_of, load_run, mean_db, mean_metadata, summarize

MIN_CORR_VARIANTS = 3


def correlations(summary: Summary, metadata: list[str], detectors: list[str]) -> dict:
    """(metadata, detector) -> {"n", "pearson", "spearman", "p" (permutation, core.stats.spearman_perm)} of D_B
    and mAP over the synthetic variants trained alone, or "why" when n/a."""
    from scipy import stats

    from core.stats import spearman_perm
    out = {}
    names = [n for n in summary if n != BASELINE]
    for det in detectors:
        for m in metadata + ["mean"]:
            pts = [(summary[n].mean_db if m == "mean" else summary[n].db.get(m), _map_of(summary[n].det.get(det)))
                   for n in names]
            pts = [(x, y) for x, y in pts if x is not None and y is not None and math.isfinite(x)]
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            c = {"n": len(xs), "pearson": None, "spearman": None, "p": None, "why": None}
            if len(xs) < MIN_CORR_VARIANTS:
                c["why"] = f"n/a: {len(xs)} synthetic variant(s) with D_B and mAP, need >= {MIN_CORR_VARIANTS}"
            elif len(set(xs)) < 2 or len(set(ys)) < 2:
                c["why"] = "n/a: D_B or mAP is constant over the variants"
            else:
                sp = spearman_perm(xs, ys)
                c.update(pearson=float(stats.pearsonr(xs, ys)[0]), spearman=sp["rho"], p=sp["p"])
            out[(m, det)] = c
    return out


# ---------------------------------------------------------------------------------------------------- figures
def _map_of(cell: CellSummary | None) -> float | None:
    return None if cell is None else cell.map.mean


def scatter_png(summary: Summary, detectors: list[str]) -> bytes | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pts = [(n, det, v.mean_db, _map_of(v.det.get(det))) for n, v in summary.items() for det in detectors]
    pts = [q for q in pts if q[2] is not None and q[3] is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for det, marker in zip(detectors, itertools.cycle("os^vDP*X")):
        p = [q for q in pts if q[1] == det]
        ax.scatter([q[2] for q in p], [q[3] for q in p], marker=marker, label=det)
        for n, _, x, y in p:
            ax.annotate(n, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("mean D_B to real exposed")
    ax.set_ylabel("test mAP@[.5:.95]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig_png(fig)


def hist_png(variant: str, hist: dict) -> bytes | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    ms = [m for m, h in hist.items() if h.get("real") and h.get("synth")]
    if not ms:
        return None
    cols = min(4, len(ms))
    rows = math.ceil(len(ms) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows + 0.4), squeeze=False,
                             layout="constrained")          # the suptitle gets its own row above the titles
    for ax, m in zip(axes.flat, ms):
        real, syn = np.asarray(hist[m]["real"]), np.asarray(hist[m]["synth"])
        lo, hi = float(min(real.min(), syn.min())), float(max(real.max(), syn.max()))
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 21)
        ax.hist(real, bins=bins, density=True, alpha=0.5, label="real exposed")
        ax.hist(syn, bins=bins, density=True, alpha=0.5, label=variant)
        ax.set_title(m, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(ms):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{variant} vs real exposed", fontsize=10)
    return fig_png(fig)


def detections_png(run_dir: Path, run: dict, record: dict, n_images: int, score_thr: float = 0.3) -> bytes | None:
    """The first `n_images` test images holding ground truth (green) with the detections >= score_thr (red;
    at least each image's top detection, its score written on the box)."""
    from PIL import Image, ImageDraw

    from core.coco import load_coco, load_split
    real = load_coco(run["real_json"], run["images_dir"])
    names = real.class_names(run.get("category"))
    cat_ids = {c["id"] for c in real.coco["categories"] if c["name"] in names}
    with_gt = {a["image_id"] for a in real.coco["annotations"] if a["category_id"] in cat_ids}
    test = [i for i in load_split(run["split"]).test if i in with_gt][:n_images]
    pred_path = run_dir / record["predictions"]
    if not pred_path.exists():
        return None
    dets = read_json(pred_path)
    ims = {im["id"]: im for im in real.coco["images"]}
    tiles = []
    for iid in test:
        im = ims[iid]
        with Image.open(real.image_path(im)) as pil:
            pil = pil.convert("RGB")
            s = 240 / max(pil.size)
            pil = pil.resize((round(pil.width * s), round(pil.height * s)))
        draw = ImageDraw.Draw(pil)
        for a in real.coco["annotations"]:
            if a["image_id"] == iid and a["category_id"] in cat_ids:
                x, y, w, h = (v * s for v in a["bbox"])
                draw.rectangle([x, y, x + w, y + h], outline=(0, 200, 0), width=2)
        mine = [d for d in dets if d["image_id"] == iid]
        thr = min(score_thr, max((d["score"] for d in mine), default=1.0))  # at least the top detection
        for d in mine:
            if d["score"] >= thr:
                x, y, w, h = (v * s for v in d["bbox"])
                draw.rectangle([x, y, x + w, y + h], outline=(230, 20, 20), width=2)
                draw.text((x + 2, y + 1), f"{d['score']:.2f}", fill=(230, 20, 20))
        tiles.append(pil)
    if not tiles:
        return None
    W = sum(t.width for t in tiles) + 4 * (len(tiles) - 1)
    H = max(t.height for t in tiles)
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + 4
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------- report
def detector_order(present) -> list[str]:
    """Detectors in registry order, then any others found in the results (a detector registered elsewhere)."""
    present = set(present)
    return [d for d in DETECTORS.names() if d in present] + sorted(present - set(DETECTORS.names()))


GROUP_ORDER = ["alone", "finetune", "mixed"]


def groups_of(summary: Summary) -> list[str]:
    present = {g for v in summary.values() for g in v.groups}
    return [g for g in GROUP_ORDER if g in present] + sorted(present - set(GROUP_ORDER))


def cell_text(d: CellSummary | None, key: str, ci: dict | None = None, nd: int = 3) -> str:
    """"m ± sd (n=k)" of `key` (map or ap50) and, with `ci`, the 95 % bootstrap interval "[lo, hi]"."""
    if d is None:
        return "-"
    text = fmt_mean_sd(*getattr(d, key), d.n, nd)
    return text + (f" [{fmt_num(ci[key][0], nd)}, {fmt_num(ci[key][1], nd)}]" if ci else "")


def results_table(summary: Summary, order: list[str], metadata: list[str], detectors: list[str],
                  iv=None, over: list[str] | None = None) -> list[str]:
    """Variant x (D_B per metadata, mean D_B, then per column group and detector mAP and AP50: mean ± sample sd
    over seeds and, with intervals `iv`, the 95 % bootstrap interval over the test images)."""
    groups = groups_of(summary)
    head = ["variant"] + [f"D_B {m}" for m in metadata] + ["mean D_B*"]
    head += [f"{det} {k} ({g})" for g in groups for det in detectors for k in ("mAP", "AP50")]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in order:
        v = summary[n]
        row = [n] + [fmt_num(v.db.get(m)) for m in metadata] + [fmt_num(v.mean_db)]
        for g in groups:
            for det in detectors:
                d = summary.cell(n, g, det)
                ci = iv.cell(d.cells) if iv is not None and d is not None else None
                row += [cell_text(d, "map", ci), cell_text(d, "ap50", ci)]
        md.append("| " + " | ".join(row) + " |")
    inits = sorted({f"{det}: {d.init}" for v in summary.values() for det, d in v.det.items()})
    return md + ["", f"\\* mean D_B: the mean over the aligned metadata ({', '.join(over or mean_metadata({}))}), "
                 "the same definition in every report.", "",
                 "Start weights (trained alone): " + ", ".join(inits) + "."]


def paired_section(pairs: list[dict]) -> list[str]:
    md = ["", "## Paired differences (bootstrap over the real test images)", "",
          "mAP50-95 of the first cell minus the second, both rescored on the same resampled test sets (seeds "
          "averaged); 95 % interval; ratio = mean mAP(first) / mean mAP(second).", "",
          "| group | detector | first | second | difference | 95 % interval | excludes 0 | ratio |",
          "|---|---|---|---|---|---|---|---|"]
    for c in pairs:
        md.append(f"| {c['group']} | {c['detector']} | {c['a']} | {c['b']} | {c['diff']:+.4f} | "
                  f"[{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}] | {'yes' if c['excludes_0'] else 'no'} | "
                  f"{fmt_num(c['ratio'], 2)} |")
    return md if pairs else []


def _corr_section(corr: dict) -> list[str]:
    md = ["", "## Correlation of D_B with test mAP (synthetic variants trained alone)", "",
          "Spearman's p: two-sided permutation test (all orderings up to 8 variants).", "",
          "| metadata | detector | n | Pearson | Spearman | p |", "|---|---|---|---|---|---|"]
    for (m, det), c in corr.items():
        if c["why"]:
            md.append(f"| {m} | {det} | {c['n']} | {c['why']} | n/a | n/a |")
        else:
            md.append(f"| {m} | {det} | {c['n']} | {c['pearson']:.3f} | {c['spearman']:.3f} | {c['p']:.3f} |")
    return md


def _hist_section(data: dict, order: list[str], figs: list) -> list[str]:
    md = ["", "## Metadata histograms (real exposed vs variant)", ""]
    for n in order:
        h = (data["meta"].get(n) or {}).get("hist") or {}
        png = hist_png(n, h) if h else None
        if png:
            figs.append((f"hist_{n}.png", f"{n}: metadata histograms", png))
            md.append(f"![{n}](report_files/hist_{n}.png)")
    if len(md) == 3:
        md.append("No histograms: D_B/metadata were not computed for this run.")
    return md


def _detections_section(run_dir: Path, data: dict, order: list[str], samples: int, figs: list) -> list[str]:
    md = ["", "## Sample detections on real test images", "",
          "Test images holding ground truth. Green: ground truth; red: detections with score >= 0.3 (at "
          "least each image's top detection; score on the box), first seed of each cell."]
    shown = set()
    for r in sorted(data["results"], key=lambda r: (order.index(r["variant"]), r["detector"], r["seed"])):
        if (r["variant"], r["detector"]) in shown or group_of(r) != "alone":
            continue
        shown.add((r["variant"], r["detector"]))
        png = detections_png(run_dir, data["run"], r, samples)
        if png:
            fn = f"det_{r['variant']}__{r['detector']}.png"
            figs.append((fn, f"{r['variant']} / {r['detector']} (seed {r['seed']})", png))
            md += ["", f"{r['variant']} / {r['detector']} (seed {r['seed']}, test mAP {fmt_num(r['test']['map'])})",
                   "", f"![{fn}](report_files/{fn})"]
    return md


def save_report(out_dir: Path, name: str, title: str, md: list[str], figs: list) -> Path:
    """OUT/NAME.md + OUT/report_files/*.png + a self-contained OUT/NAME.html (core.markdown)."""
    from core.markdown import to_html
    for fn, _, png in figs:
        atomic_write_bytes(out_dir / "report_files" / fn, png)
    text = "\n".join(md) + "\n"
    md_path = out_dir / f"{name}.md"
    atomic_write_text(md_path, text)
    atomic_write_text(out_dir / f"{name}.html", to_html(text, title, {fn: png for fn, _, png in figs}))
    return md_path


def params_text(params: dict[str, dict], kind: str) -> str:
    """The extensions' own options a run set, as flags: '; detector options --yolo-weights a.pt'."""
    from core.params import flag_name
    flags = [f"{flag_name(d, k)} {v}" for d, p in params.items() for k, v in p.items()]
    return f"; {kind} options {' '.join(flags)}" if flags else ""


def _intro(run_dir: Path, run: dict, n_test: int) -> list[str]:
    regimes = ", ".join(run.get("regimes", ["synthetic", "real"]))
    return ["# synthgap benchmark report", "",
            f"Run dir `{run_dir}`; real set `{run['real_json']}`; classes {run.get('category') or 'all'}; "
            f"{run['epochs']} epochs max at {run['imgsz']} px; seeds {run.get('seeds')}; regimes {regimes}"
            f"{params_text(run.get('detector_params') or {}, 'detector')}"
            f"{params_text(run.get('regime_params') or {}, 'regime')}. Test "
            f"metrics are on the {n_test} real *test* images; nothing else is scored on them.", "",
            f"Columns: **alone** = each row's images alone (best epoch by mAP on the real *exposed* images; the "
            f"`{BASELINE}` row is the exposed photos alone, so it trains a fixed schedule and keeps the last epoch); "
            "**finetune** = the row's alone cell fine-tuned on the exposed photos; **mixed** = the row's images "
            "plus the exposed photos in one run (both: fixed schedule, last epoch, as the photos are training "
            "data). mAP and AP50: mean ± sample standard deviation over seeds, then the 95 % bootstrap interval "
            "over the test images.", "", "## Results", ""]


def _floor(data: dict) -> dict | None:
    """The real-vs-real floor of mean D_B from the exposed boxes' sampled values in metadata/ (two random
    halves, align.distances.half_split_floor; boxes, not photos, go to the halves here)."""
    from align.distances import half_split_floor
    metas = mean_metadata(data["run"])
    hist = next((d["hist"] for d in data["meta"].values() if d.get("hist")), {})
    db = half_split_floor({m: hist[m]["real"] for m in metas if m in hist})
    m = mean_db(db, metas)
    return None if m is None else {"mean_db": m, "db": db, "rule": "two random halves of the exposed boxes"}


def _verdict(run_dir: Path, data: dict, summary: Summary, iv, detectors: list[str]) -> list[str]:
    """The report's first lines (benchmark/verdict.py): the set `synthgap run` recommended (RUN_DIR/
    recommended.json), else the synthetic variant closest to the exposed photos by mean D_B."""
    from benchmark.verdict import recommend_by_db, verdict_lines
    path = run_dir / "recommended.json"
    if path.exists():
        rec, how = read_json(path, "recommendation"), f"the set `synthgap run` recommended (`{path.name}`)"
    else:
        rec, how = recommend_by_db(summary, _floor(data)), "by mean D_B to the exposed photos"
    return ["## Verdict", "", *verdict_lines(rec, summary, iv, detectors), "",
            f"Recommended: {how}; the tables below are the evidence.", ""]


def write_report(run_dir: str | Path, samples: int = 3, B: int = 300, samplewise: bool = False) -> Path:
    """Write RUN_DIR/report.md (+ report_files/) and RUN_DIR/report.html. -> the .md path. `B` bootstrap
    draws for the intervals (RUN_DIR/intervals.json caches them); `samplewise` adds benchmark/samplewise.py's
    section (feature extraction of every set)."""
    from benchmark.intervals import Intervals, comparisons
    from benchmark.per_class import per_class_section
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    run = data["run"]
    summary = summarize(data)
    detectors = detector_order(summary.detectors())
    metadata = [m for m in run.get("metadata", []) if any(m in v.db for v in summary.values())]
    order = ([BASELINE] if BASELINE in summary else []) + sorted(n for n in summary if n != BASELINE)
    figs: list[tuple[str, str, bytes]] = []   # (file name, caption, png)
    iv = Intervals(run_dir, run, B)
    md = _intro(run_dir, run, len(iv.gt["images"]))
    md[2:2] = _verdict(run_dir, data, summary, iv, detectors)        # right under the title
    md += results_table(summary, order, metadata, detectors, iv, mean_metadata(run))
    md += per_class_section(data["results"], order)
    md += paired_section(comparisons(summary, iv))
    iv.save()
    md += _corr_section(correlations(summary, metadata, detectors))
    md += ["", "## D_B vs mAP", ""]
    sc = scatter_png(summary, detectors)
    if sc:
        figs.append(("scatter.png", "mean D_B vs test mAP", sc))
    md.append("![mean D_B vs test mAP](report_files/scatter.png)" if sc else
              "No scatter: no variant has both a D_B and a test mAP.")
    md += _hist_section(data, order, figs)
    if samplewise:
        from benchmark.samplewise import samplewise as sample_section
        sw, png = sample_section(run_dir, data)
        md += sw + (["", "![nearest training crop vs best IoU](report_files/samplewise.png)"] if png else [])
        if png:
            figs.append(("samplewise.png", "nearest training crop vs best IoU", png))
    md += _detections_section(run_dir, data, order, samples, figs)
    return save_report(run_dir, "report", "synthgap benchmark report", md, figs)
