"""The zoo's report: OUT/zoo/zoo.md + zoo.html + report_files/ (synthgap/zoo.py, stage 5).

Sections: the sets (images, mAP mean ± sd over seeds with the 95 % bootstrap interval over the test images,
KID, the held-out quality score and the rank it predicts against the rank by mAP), the metric ranking (Spearman
of each distance with mAP, permutation p, bootstrap interval; "matters" = rho < 0 and p < 0.05), the score's
held-out Spearman beside KID alone and the best single metric (picked after looking, so optimistic), the
weights, the cross-target check where --transfer was given; plots: held-out score vs mAP, rho per metric.
"""
from __future__ import annotations

from pathlib import Path

from core.api import fmt_num


def _sp(e: dict | None) -> str:
    if not e or e.get("rho") is None:
        return "n/a"
    ci = e.get("ci")
    return (f"{e['rho']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "") + f", p = {e['p']:.4f}, "
            f"n = {e['n']}")


def _ranks(values: dict[str, float], reverse: bool) -> dict[str, int]:
    order = sorted(values, key=lambda s: values[s], reverse=reverse)
    return {s: i + 1 for i, s in enumerate(order)}


def _sets_section(res: dict) -> list[str]:
    from align.api import FIT_METADATA
    sets, scores = res["sets"], res["score"]["scores"]
    by_map = _ranks({s: r["map"] for s, r in sets.items()}, reverse=True)
    by_score = _ranks({s: scores[s] for s in sets if scores.get(s) is not None}, reverse=False)
    md = ["## The sets", "", f"{res['images_per_set']} images each; detector {res['detector']} "
          f"({res['options']['epochs']} epochs, seeds {res['options']['seeds']}, start {res['options']['init']}), "
          "regime synthetic, scored on the real test images. Score: held out (weights fitted on the other sets). "
          f"Mean D_B: over the aligned metadata ({', '.join(res.get('aligned_metadata') or FIT_METADATA)}), "
          "as in every report.",
          "", "| set | mAP50-95 (mean ± sd) | 95 % interval | KID | mean D_B | score | rank by score | rank by mAP |",
          "|---|---|---|---|---|---|---|---|"]
    for s in sorted(sets, key=lambda s: by_map[s]):
        r, d = sets[s], sets[s]["distances"]
        dbs = [d.get(f"db:{m}") for m in res.get("aligned_metadata") or FIT_METADATA]
        dbs = [v for v in dbs if v is not None]
        ci = r.get("map_ci")
        md.append(f"| {s} | {fmt_num(r['map'])} ± {fmt_num(r['map_sd'])} (n={r['seeds']}) | "
                  + (f"[{fmt_num(ci[0])}, {fmt_num(ci[1])}]" if ci else "n/a") + f" | {fmt_num(d.get('kid'), 4)} | "
                  f"{fmt_num(sum(dbs) / len(dbs) if dbs else None)} | {fmt_num(scores.get(s), 2)} | "
                  f"{by_score.get(s, 'n/a')} | {by_map[s]} |")
    if res.get("real_map") is not None:
        md += ["", f"Reference: the same detector trained on the real exposed photos: {fmt_num(res['real_map'])}."]
    return md + [f"- {n}" for n in res.get("notes", [])]


def _ranking_section(res: dict) -> list[str]:
    md = ["", "## Which distances rank the sets like their mAP", "",
          "Spearman's rho of each distance to the real exposed images with the sets' mAP (negative = closer sets "
          "train better), a two-sided permutation p-value, its Benjamini-Hochberg q-value over the "
          f"{len(res['ranking'])} metrics tested, and a 95 % bootstrap interval over sets. Matters: rho < 0 and "
          "q < 0.10 (what `--metadata auto` aligns on, among the db: rows).", "",
          "| metric | rho [95 % interval] | p | q | n | matters |", "|---|---|---|---|---|---|"]
    for r in res["ranking"]:
        ci = r.get("ci")
        md.append(f"| {r['metric']} | {fmt_num(r['rho'], 2)}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
                  + f" | {fmt_num(r['p'], 4)} | {fmt_num(r.get('q'), 4)} | {r['n']} | "
                  f"{'yes' if r.get('matters') else ''} |")
    if all(r["rho"] is None for r in res["ranking"]):
        md += ["", "**No ranking**: every set reached the same mAP (or a distance is constant), so nothing can be "
               "correlated; train longer (--epochs) or render more images per set."]
    return md


def _score_section(res: dict) -> list[str]:
    sc = res["score"]
    best = next((r for r in res["ranking"] if r["rho"] is not None), None)
    md = ["", "## Training-free quality score", "",
          "score = sum over metrics of w_m z_m; z_m standardized over the sets the weights are fitted on, "
          "w_m = max(0, -rho_m) on those sets, normalized (align/quality.py). Each set's score below comes from "
          "weights fitted without it.", "",
          f"- held-out score vs mAP: {_sp(sc['held_out'])}",
          f"- KID alone vs mAP: {_sp(sc.get('kid'))}"]
    if best:
        md.append(f"- best single metric ({best['metric']}, chosen after looking at all of them, so optimistic): "
                  f"{_sp({**best})}")
    if res.get("transfer"):
        md.append(f"- this zoo scored with the weights of `{res['transfer']['from']}`: {_sp(res['transfer'])}")
    w = sorted(sc["weights"]["w"].items(), key=lambda kv: -kv[1])
    md += ["", "Weights fitted on every set (what `--zoo` scores new sets with): " +
           ", ".join(f"{m} {v:.3f}" for m, v in w) + "."]
    if res.get("wall_s") is not None:
        md += ["", f"Wall time of the zoo: {res['wall_s']} s over {res.get('calls', 1)} call(s)."]
    return md


def _png(fig) -> bytes:
    """The figure as PNG bytes (closed after)."""
    import io

    import matplotlib.pyplot as plt
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _figs(res: dict) -> list[tuple[str, str, bytes]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sets, scores = res["sets"], res["score"]["scores"]
    pts = [(s, scores[s], sets[s]["map"]) for s in sets if scores.get(s) is not None]
    out = []
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter([p[1] for p in pts], [p[2] for p in pts])
    for s, x, y in pts:
        ax.annotate(s, (x, y), fontsize=6)
    ax.set_xlabel("quality score (held out; lower = predicted better)")
    ax.set_ylabel("test mAP50-95")
    out.append(("zoo_score.png", "held-out quality score vs test mAP", _png(fig)))
    rk = [r for r in res["ranking"] if r["rho"] is not None]
    fig, ax = plt.subplots(figsize=(6, 0.22 * len(rk) + 1.2))
    ax.barh([r["metric"] for r in rk], [r["rho"] for r in rk],
            xerr=[[r["rho"] - r["ci"][0] if r.get("ci") else 0 for r in rk],
                  [r["ci"][1] - r["rho"] if r.get("ci") else 0 for r in rk]], color="tab:blue")
    ax.invert_yaxis()
    ax.tick_params(labelsize=6)
    ax.set_xlabel("Spearman rho with mAP (95 % bootstrap interval)")
    out.append(("zoo_ranking.png", "Spearman rho of each distance with mAP", _png(fig)))
    return out


def write_zoo_report(opts, res: dict) -> Path:
    """OUT/zoo/zoo.md + zoo.html. -> the .md path."""
    from benchmark.api import save_report
    md = ["# synthgap zoo report", "", f"Target: `{opts.real_json}` (exposed split of `{opts.split}`), "
          f"category {opts.category or 'all'}; grid `{opts.grid}`; {len(res['sets'])} sets.", ""]
    md += _sets_section(res) + _ranking_section(res) + _score_section(res)
    figs = _figs(res) if len(res["sets"]) >= 2 else []
    md += ["", "## Plots", ""] + [f"![{cap}](report_files/{fn})" for fn, cap, _ in figs]
    return save_report(opts.out / "zoo", "zoo", "synthgap zoo report", md, figs)
