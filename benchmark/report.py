"""`write_report(run_dir)`: report.md (+ report_files/*.png) and a self-contained report.html (inline PNGs).

Contents: a table variant x (D_B per metadata, mean D_B, mAP / AP50 per detector as mean ± std over seeds),
Pearson and Spearman correlation of D_B with mAP per metadata and detector over the synthetic variants
(the real baseline is shown but not correlated; n/a with fewer than 3 variants), a scatter plot of mean D_B
vs mAP, histogram overlays (real exposed vs variant) per variant, and sample detections on real test images.
"""
from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path

from synthgap.util import UserError, atomic_write_text, read_json

from benchmark.run import BASELINE

MIN_CORR_VARIANTS = 3


def _fmt(v, nd=3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def _mean_std(vals: list[float]) -> tuple[float | None, float | None]:
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, sd


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


def summarize(data: dict) -> dict:
    """variant -> {"db": {...}, "mean_db", detector -> {"map": (m, sd), "ap50": (m, sd), "n": seeds}}."""
    out: dict = {}
    for r in data["results"]:
        v = out.setdefault(r["variant"], {"db": {}, "det": {}})
        d = v["det"].setdefault(r["detector"], {"map": [], "ap50": [], "init": r.get("init")})
        d["map"].append(r["test"]["map"])
        d["ap50"].append(r["test"]["ap50"])
    for name, v in out.items():
        db = (data["meta"].get(name) or {}).get("db") or {}
        v["db"] = db
        finite = [x for x in db.values() if x is not None and math.isfinite(x)]
        v["mean_db"] = sum(finite) / len(finite) if finite else None
        for d in v["det"].values():
            d["n"] = len(d["map"])
            d["map"], d["ap50"] = _mean_std(d["map"]), _mean_std(d["ap50"])
    return out


def correlations(summary: dict, metadata: list[str], detectors: list[str]) -> dict:
    """(metadata, detector) -> {"n", "pearson", "spearman"} over synthetic variants, or "why" when n/a."""
    from scipy import stats
    out = {}
    names = [n for n in summary if n != BASELINE]
    for det in detectors:
        for m in metadata + ["mean"]:
            xs, ys = [], []
            for n in names:
                x = summary[n]["mean_db"] if m == "mean" else summary[n]["db"].get(m)
                y = (summary[n]["det"].get(det) or {}).get("map", (None,))[0]
                if x is not None and y is not None and math.isfinite(x):
                    xs.append(x)
                    ys.append(y)
            c = {"n": len(xs), "pearson": None, "spearman": None, "why": None}
            if len(xs) < MIN_CORR_VARIANTS:
                c["why"] = f"n/a: {len(xs)} synthetic variant(s) with D_B and mAP, need >= {MIN_CORR_VARIANTS}"
            elif len(set(xs)) < 2 or len(set(ys)) < 2:
                c["why"] = "n/a: D_B or mAP is constant over the variants"
            else:
                c["pearson"] = float(stats.pearsonr(xs, ys)[0])
                c["spearman"] = float(stats.spearmanr(xs, ys)[0])
            out[(m, det)] = c
    return out


# ---------------------------------------------------------------------------------------------------- figures
def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def scatter_png(summary: dict, detectors: list[str]) -> bytes | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pts = [(n, det, v["mean_db"], v["det"][det]["map"][0]) for n, v in summary.items() for det in detectors
           if det in v["det"] and v["mean_db"] is not None and v["det"][det]["map"][0] is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for det, marker in zip(detectors, "os^"):
        p = [q for q in pts if q[1] == det]
        ax.scatter([q[2] for q in p], [q[3] for q in p], marker=marker, label=det)
        for n, _, x, y in p:
            ax.annotate(n, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("mean D_B to real exposed")
    ax.set_ylabel("test mAP@[.5:.95]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


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
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows), squeeze=False)
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
    return _png(fig)


def detections_png(run_dir: Path, run: dict, record: dict, n_images: int, score_thr: float = 0.3) -> bytes | None:
    """The first `n_images` test images holding ground truth (green) with the detections >= score_thr (red;
    at least each image's top detection, its score written on the box)."""
    from PIL import Image, ImageDraw

    from benchmark.convert import class_names, load_coco_set, load_split
    real = load_coco_set(run["real_json"], run["images_dir"])
    names = class_names(real.coco, run.get("category"))
    cat_ids = {c["id"] for c in real.coco["categories"] if c["name"] in names}
    with_gt = {a["image_id"] for a in real.coco["annotations"] if a["category_id"] in cat_ids}
    test = [i for i in load_split(run["split"])["test"] if i in with_gt][:n_images]
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
def write_report(run_dir: str | Path, samples: int = 3) -> Path:
    """Write RUN_DIR/report.md (+ report_files/) and RUN_DIR/report.html. -> the .md path."""
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    run = data["run"]
    summary = summarize(data)
    detectors = [d for d in ("yolo", "frcnn") if any(d in v["det"] for v in summary.values())]
    metadata = [m for m in run.get("metadata", []) if any(m in v["db"] for v in summary.values())]
    corr = correlations(summary, metadata, detectors)
    order = ([BASELINE] if BASELINE in summary else []) + sorted(n for n in summary if n != BASELINE)

    figs: list[tuple[str, str, bytes]] = []   # (file name, caption, png)
    md: list[str] = ["# synthgap benchmark report", ""]
    md.append(f"Run dir `{run_dir}`; real set `{run['real_json']}`; classes "
              f"{run.get('category') or 'all'}; {run['epochs']} epochs max at {run['imgsz']} px; seeds "
              f"{run.get('seeds')}. Test metrics are on the real *test* split; best epochs were selected on the "
              f"real *exposed* split. `{BASELINE}` is the baseline trained on the real exposed images (and "
              f"validated on the same images).")
    errors = {n: r.get("db_error") for r in data["results"] if (n := r["variant"]) not in data["meta"]
              and r.get("db_error")}
    if errors:
        md += ["", "D_B could not be computed for: " + "; ".join(f"{n} ({e})" for n, e in errors.items())]
    md += ["", "## Results", ""]
    head = ["variant"] + [f"D_B {m}" for m in metadata] + ["mean D_B"]
    for det in detectors:
        head += [f"{det} mAP", f"{det} AP50"]
    md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in order:
        v = summary[n]
        row = [n] + [_fmt(v["db"].get(m)) for m in metadata] + [_fmt(v["mean_db"])]
        for det in detectors:
            d = v["det"].get(det)
            if d is None:
                row += ["-", "-"]
                continue
            for key in ("map", "ap50"):
                m, sd = d[key]
                row.append(f"{_fmt(m)} ± {_fmt(sd)} (n={d['n']})")
        md.append("| " + " | ".join(row) + " |")
    inits = sorted({f"{det}: {d['init']}" for v in summary.values() for det, d in v["det"].items()})
    md += ["", "Initialisation: " + ", ".join(inits) + "."]

    md += ["", "## Correlation of D_B with test mAP (synthetic variants)", ""]
    md += ["| metadata | detector | n | Pearson | Spearman |", "|---|---|---|---|---|"]
    for (m, det), c in corr.items():
        if c["why"]:
            md.append(f"| {m} | {det} | {c['n']} | {c['why']} | n/a |")
        else:
            md.append(f"| {m} | {det} | {c['n']} | {c['pearson']:.3f} | {c['spearman']:.3f} |")

    sc = scatter_png(summary, detectors)
    md += ["", "## D_B vs mAP", ""]
    if sc:
        figs.append(("scatter.png", "mean D_B vs test mAP", sc))
        md.append("![mean D_B vs test mAP](report_files/scatter.png)")
    else:
        md.append("No scatter: no variant has both a D_B and a test mAP.")

    md += ["", "## Metadata histograms (real exposed vs variant)", ""]
    any_hist = False
    for n in order:
        h = (data["meta"].get(n) or {}).get("hist") or {}
        png = hist_png(n, h) if h else None
        if png:
            any_hist = True
            figs.append((f"hist_{n}.png", f"{n}: metadata histograms", png))
            md.append(f"![{n}](report_files/hist_{n}.png)")
    if not any_hist:
        md.append("No histograms: D_B/metadata were not computed for this run (see above).")

    md += ["", "## Sample detections on real test images", "",
           "Test images holding ground truth. Green: ground truth; red: detections with score >= 0.3 (at "
           "least each image's top detection; score on the box), first seed of each cell."]
    shown = set()
    for r in sorted(data["results"], key=lambda r: (order.index(r["variant"]), r["detector"], r["seed"])):
        key = (r["variant"], r["detector"])
        if key in shown:
            continue
        shown.add(key)
        png = detections_png(run_dir, run, r, samples)
        if png:
            fn = f"det_{r['variant']}__{r['detector']}.png"
            figs.append((fn, f"{r['variant']} / {r['detector']} (seed {r['seed']})", png))
            md += ["", f"{r['variant']} / {r['detector']} (seed {r['seed']}, test mAP {_fmt(r['test']['map'])})",
                   "", f"![{fn}](report_files/{fn})"]

    files = run_dir / "report_files"
    files.mkdir(exist_ok=True)
    for fn, _, png in figs:
        tmp = files / f".{fn}.tmp"
        tmp.write_bytes(png)
        tmp.replace(files / fn)
    text = "\n".join(md) + "\n"
    md_path = run_dir / "report.md"
    atomic_write_text(md_path, text)
    atomic_write_text(run_dir / "report.html", _html(text, {fn: png for fn, _, png in figs}))
    for p in (md_path, run_dir / "report.html"):
        os.chmod(p, 0o644)   # the atomic temp file is created 0600
    return md_path


def _html(md_text: str, pngs: dict[str, bytes]) -> str:
    """A small Markdown subset (headings, tables, images, paragraphs) -> one self-contained HTML page."""
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>synthgap benchmark report</title>",
           "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;"
           "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}</style></head><body>"]
    table: list[list[str]] = []

    def flush():
        if table:
            out.append("<table>")
            for i, row in enumerate(table):
                tag = "th" if i == 0 else "td"
                out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row) + "</tr>")
            out.append("</table>")
            table.clear()

    for line in md_text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-") for c in cells):
                table.append(cells)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("![") and "](report_files/" in line:
            alt = line[2:line.index("]")]
            fn = line[line.index("](report_files/") + len("](report_files/"):-1]
            b64 = base64.b64encode(pngs[fn]).decode()
            out.append(f"<p><img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'></p>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    out.append("</body></html>")
    return "\n".join(out) + "\n"
