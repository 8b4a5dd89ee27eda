"""The run report's section on the top-down rounds (synthgap/rounds.py): per round, where the round's detector
failed on the exposed photos (the failure table, and histograms of the failing boxes against all exposed boxes),
what the round added and why, the test photos' mAP of the grown set and of its equal-size one-shot control with
the paired interval, and what the round cost. Reads RUN/rounds/ and the benchmark's cells; computes nothing new
but the (cached) bootstrap intervals."""
from __future__ import annotations

from pathlib import Path

from core.api import fmt_num, read_json

GOAL_RATIO = 1.15


def rounds_section(opts, bench) -> tuple[list[str], list[tuple[str, str, bytes]]]:
    """(markdown lines, figures) of RUN/rounds/rounds.json; nothing when the run has no finished round."""
    path = opts.out / "rounds" / "rounds.json"
    if not path.exists():
        return [], []
    doc = read_json(path, "rounds")
    md = ["", "## Top-down rounds", "",
          f"Round 0 is {doc['round0']}. Each round runs the last round's {doc['detector']} (its synthetic cells) "
          "on the exposed photos, fits the boxes it missed or scored low, renders "
          f"{doc['increment']} images like them with the {doc['selector']} selector and adds them; the control "
          "is the one-shot aligned set of the same size (round 0 plus as many images of the round-0 plan). The "
          "detector never trained on the exposed photos (they only chose its epoch), so its failures there need no "
          "cross-validation; the test photos only score."]
    figs = []
    for r in doc["rounds"]:
        md += _round_lines(opts, r, bench)
        png = _failure_hist(opts, r)
        if png:
            figs.append((f"failures_r{r['round']}.png", f"round {r['round']}: failing boxes vs all exposed boxes", png))
    return md, figs


def _round_lines(opts, r: dict, bench) -> list[str]:
    f = r["failures"]
    md = ["", f"### Round {r['round']}: {r['set']} = {r['from']} + {sum(e['count'] for e in r['plan'])} images", "",
          f"{f['n_failing']} of {f['n_boxes']} exposed boxes failing ({f['n_missed']} missed, the rest scored under "
          f"{f['fail_score']}). " + (f"They differ from the found boxes in {', '.join(f['differs'])} (KS test, "
                                      "Bonferroni over the metadata below)." if f["differs"] else
                                      "They differ from the found boxes in no metadata below (KS test): "
                                      + ("the round fell back to the task-aware lookahead (below), the detector's "
                                         "own value of each config." if r.get("lookahead_fallback") else
                                         "the increment follows them anyway, more of what the detector finds "
                                         "hard.")), "",
          "| metadata | failing mean | found mean | D_B failing vs found [95 % CI] | KS p |", "|---|---|---|---|---|"]
    for m, c in f["compare"].items():
        ci = f" [{fmt_num(c['ci'][0])}, {fmt_num(c['ci'][1])}]" if c.get("ci") else ""
        md.append(f"| {m} | {fmt_num(c['mean_fail'])} | {fmt_num(c['mean_found'])} | {fmt_num(c['db'])}{ci} | "
                  f"{fmt_num(c['p'])}{' *' if m in f['differs'] else ''} |")
    md += ["", "Added: " + "; ".join(f"{e['config']} x{e['count']} ({_short(e['why'])})" for e in r["plan"]) + "."]
    notes = _plan_notes(opts.out / "rounds" / f"r{r['round']}" / "plan.yaml")
    md += [f"- {n}" for n in notes]
    return md + _lookahead_lines(r.get("lookahead")) + _score_lines(r, bench) + _cost_lines(r)


def _lookahead_lines(la: dict | None) -> list[str]:
    """The task-aware step (synthgap/lookahead.py): each probed config's value and its images before / after."""
    if not la:
        return []
    fail = {}
    for e in la["failure_plan"]:
        fail[e["config"]] = fail.get(e["config"], 0) + e["count"]
    agree = la.get("agreement")
    md = ["", f"Task-aware lookahead ({la['steps']} SGD steps per config): a config's value is the drop of the "
          "detector's loss on half A of the exposed photos after training on its probe renders; half B, unseen too, "
          f"checks it (rank agreement {fmt_num(agree)}{', weak: the values may be noise' if agree is None or agree < 0.3 else ''}). "
          + (f"Hedge eta {la['eta']}: the grown set's predicted mean D_B {fmt_num(la['whole_mean_db'])} against "
             f"{fmt_num(la['failure_whole_mean_db'])} with the failure plan (bound +{la['bound']})."
             if la["eta"] is not None else "No eta kept the grown set within the D_B bound: the failure plan stayed."),
          "", "| config | value (half A) | value (half B) | failure plan | task-aware |", "|---|---|---|---|---|"]
    for c, v in sorted(la["values"].items(), key=lambda kv: -kv[1]["value_a"]):
        md.append(f"| {c} | {v['value_a']:+.4f} | {v['value_b']:+.4f} | {fail.get(c, 0)} | {la['counts'].get(c, 0)} |")
    return md


def _score_lines(r: dict, bench) -> list[str]:
    if not bench:
        return []
    data, summ, iv, dets = bench
    md = ["", "| set | detector | exposed mAP (val) | test mAP50-95 [95 % CI] |", "|---|---|---|---|"]
    for d in dets:
        for v, val in ((r["from"], r["exposed_map_before"]), (r["set"], r["exposed_map"]),
                       (r["oneshot"], r["exposed_map_oneshot"])):
            cell = summ.cell(v, "alone", d)
            if cell:
                ci = iv.cell(cell.cells)["map"]
                md.append(f"| {v} | {d} | {fmt_num(val) if d == dets[0] else '-'} | {fmt_num(cell.map.mean)} "
                          f"[{fmt_num(ci[0])}, {fmt_num(ci[1])}] (n={cell.n}) |")
        warm = summ.cell(r["set"], "warm", d)
        if warm:
            ci = iv.cell(warm.cells)["map"]
            md.append(f"| {r['set']}, warm-started from {r['from']} | {d} | - | {fmt_num(warm.map.mean)} "
                      f"[{fmt_num(ci[0])}, {fmt_num(ci[1])}] (n={warm.n}) |")
        a, b = (summ.cell(v, "alone", d) for v in (r["set"], r["oneshot"]))
        if a and b:
            p = iv.pair(a.cells, b.cells)
            ratio = f"{p['ratio']:.2f}x" if p["ratio"] is not None else "n/a"
            md.append(f"\n{d}: {r['set']} - {r['oneshot']} (equal image count) = {p['diff']:+.3f} mAP50-95 "
                      f"[{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}], {ratio}; goal >= {GOAL_RATIO}x with the interval "
                      f"excluding 0: {'met' if p['excludes_0'] and p['diff'] > 0 and (p['ratio'] or 0) >= GOAL_RATIO else 'not met'}"
                      f" ({a.n} seed(s)).")
    iv.save()
    return md


def round0_render_s(r: dict) -> tuple[float | None, str]:
    """Round 0's render seconds and how they are known: measured (RUN/render_s.json), else, in round 1, estimated
    from the one-shot increment (the same plan, so the same time per image) scaled to the set's size."""
    if r.get("render_s_round0"):
        return r["render_s_round0"], "measured"
    one, m, total = (r.get("render_s") or {}).get("oneshot-increment"), r.get("increment_n"), r.get("total")
    if r["round"] == 1 and one and m and total:
        return one * total / m, "estimated from the one-shot increment's time per image"
    return None, "not recorded"


def _cost_lines(r: dict) -> list[str]:
    """The round's extra cost (its renders, lookahead and training) against round 0's renders and training."""
    ren, tr = r.get("render_s") or {}, r.get("train_s") or {}
    inc, base, grown = ren.get("increment"), tr.get(r["from"]), tr.get(r["set"])
    if not (inc and base and grown):
        return []
    look = (r.get("lookahead") or {}).get("seconds") or 0.0
    r0, how = round0_render_s(r)
    text = (f"Cost of the round on this machine: {inc:.0f} s to render the increment, "
            + (f"{look:.0f} s of lookahead, " if look else "") + f"{grown:.0f} s to train {r['set']} (the one-shot "
            f"control's training {tr.get(r['oneshot'], 0):.0f} s), against round 0's training {base:.0f} s")
    if r0 is None:
        return ["", text + f" and its render time ({how}): {(inc + look + grown) / base:.2f}x round 0's training."]
    return ["", text + f" and its render {r0:.0f} s ({how}): {(inc + look + grown) / (r0 + base):.2f}x round 0's "
            f"renders and training (goal <= 1.5x); training alone {grown / base:.2f}x."]


def _plan_notes(plan: Path) -> list[str]:
    from align.api import Plan
    return list(Plan.load(plan).notes) if plan.exists() else []


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _failure_hist(opts, r: dict) -> bytes | None:
    import numpy as np

    from align.api import MetadataTable
    from benchmark.api import hist_png
    fpath = opts.out / "rounds" / f"r{r['round']}" / "failures.json"
    if not fpath.exists():
        return None
    fail = set(read_json(fpath, "failures")["failing"])
    t = MetadataTable.load(opts.real_table)
    is_fail = np.array([int(a) in fail for a in t.values("ann_id", "bbox")])
    hist = {m: {"real": t.values(m, "bbox").tolist(), "synth": t.values(m, "bbox")[is_fail].tolist()}
            for m in r["failures"]["compare"]}
    return hist_png("failing boxes", hist)
