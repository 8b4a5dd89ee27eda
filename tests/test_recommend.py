"""Issue 21: the recommended set (chosen on the exposed photos only), the verdict at the top of both reports, the
defaults that learn, the photo-like sets opt-in, and old run folders resumed under the new set names. No
rendering, no training: the rule's and the verdict's inputs are built directly."""
import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from benchmark.verdict import candidate, mean_db, recommend, recommend_by_db, verdict_lines

METAS = ["area_frac", "cy"]


class FakeIntervals:
    """benchmark.intervals.Intervals' two calls: a cell's interval (mean ± 0.05) and a paired difference."""

    def __init__(self, maps: dict[str, float]):
        self.maps = maps

    def cell(self, cells):
        m = self.maps[cells[0]]
        return {"map": [m - 0.05, m + 0.05]}

    def pair(self, a, b):
        d = self.maps[a[0]] - self.maps[b[0]]
        return {"diff": d, "ci": [d - 0.06, d + 0.06], "excludes_0": abs(d) > 0.06}


def _summary(maps: dict[str, float], finetune: dict[str, float]):
    from benchmark.summary import CellSummary, MeanSd, SetSummary, Summary

    def cell(name, m):
        return {"frcnn": CellSummary(MeanSd(m, 0.01), MeanSd(m, 0.01), 2, None, [name])}
    out = Summary()
    for v, m in maps.items():
        groups = {"alone": cell(v, m)}
        if v in finetune:
            groups["finetune"] = cell(f"{v}__ft", finetune[v])
        out[v] = SetSummary({}, None, groups)
    return out


def _cups():
    """Issue 21's cups trial: the component selector's set further than the baseline, the mixture's closest."""
    from align.api import Plan
    plans = {"component": Plan(120, [], predicted_db={"area_frac": 0.09, "cy": 0.05},
                               predicted_ci={"area_frac": [0.05, 0.12], "cy": [0.03, 0.08]}),
             "mixture": Plan(120, [], predicted_db={"area_frac": 0.03, "cy": 0.02},
                             predicted_ci={"area_frac": [0.01, 0.05], "cy": [0.0, 0.04]})}
    cands = [candidate("aligned-component", "component", plans["component"], 0.107, METAS),
             candidate("aligned-mix", "mixture", plans["mixture"], 0.028, METAS)]
    return cands, {"mean_db": 0.012, "db": {}, "rule": "two halves of the exposed photos"}


def test_a_component_set_further_than_the_baseline_is_named_first_and_another_set_recommended():
    cands, floor = _cups()
    rec = recommend(cands, baseline_db=0.050, floor=floor, probe_ci=0.15)
    assert rec["recommended"] == "aligned-mix" and rec["alias"] == "aligned" and rec["selector"] == "mixture"
    assert rec["further"] == [{"set": "aligned-component", "selector": "component", "mean_db": 0.107}]
    maps = {"aligned-mix": 0.246, "aligned-component": 0.209, "baseline": 0.056, "real": 0.150,
            "aligned-mix__ft": 0.300}
    summ = _summary({k: v for k, v in maps.items() if "__" not in k}, {"aligned-mix": 0.300})
    lines = verdict_lines(rec, summ, FakeIntervals(maps), ["frcnn"])
    assert 3 <= len(lines) <= 6
    assert lines[0].startswith("- **Recommended set: `aligned` = aligned-mix** (selector mixture): mean D_B 0.028")
    assert "vs the baseline's 0.050 and the real-vs-real floor 0.012" in lines[0]
    assert "further from the photos than the baseline" in lines[1]
    assert "aligned-component (selector component): mean D_B 0.107 vs 0.050" in lines[1]
    assert "never on test mAP" in lines[2]
    assert "frcnn 0.246 [0.196, 0.296] vs the photos alone 0.150 [0.100, 0.200] and the baseline 0.056" in lines[3]
    assert "Fine-tuned on the exposed photos: frcnn 0.300" in lines[4] and "+0.150 [+0.090, +0.210] over the photos" \
        in lines[4] and "over aligned-mix alone" in lines[4]
    assert not any("Warnings" in ln for ln in lines)          # nothing else to warn about: 5 lines


def test_no_selector_closer_than_the_baseline_recommends_the_baseline_and_warns():
    cands, floor = _cups()
    rec = recommend(cands, baseline_db=0.020, floor=floor, probe_ci=0.05)
    assert rec["recommended"] == "baseline" and rec["alias"] is None and len(rec["further"]) == 2
    lines = verdict_lines(rec)
    assert lines[0].startswith("- **Recommended set: baseline**") and "further" in lines[1]
    assert "No detector trained yet" in lines[3]
    assert "probes too few for aligned-component: predicted D_B interval 0.070 wide (> --probe-ci 0.05)" in lines[4]


def test_the_zoo_score_decides_among_the_sets_closer_than_the_baseline():
    cands = [candidate("aligned-component", "component", None, 0.030, METAS, zoo_score=0.4),
             candidate("aligned-mix", "mixture", None, 0.020, METAS, zoo_score=0.9)]
    rec = recommend(cands, baseline_db=0.050)
    assert rec["recommended"] == "aligned-component" and "zoo quality score" in rec["reason"]
    cands[1]["zoo_score"] = None                               # not all scored: realised D_B decides
    assert recommend(cands, baseline_db=0.050)["recommended"] == "aligned-mix"
    tie = [candidate("a", "x", None, 0.01, METAS), candidate("b", "y", None, 0.01, METAS)]
    assert recommend(tie, None)["recommended"] == "a" and "no baseline set" in recommend(tie, None)["warnings"][0]
    floor = {"mean_db": 0.09, "db": {}, "rule": "two halves"}      # bottles + cups: 0.057 and 0.062 under 0.092
    both = [candidate("aligned-component", "component", None, 0.062, METAS),
            candidate("aligned-mix", "mixture", None, 0.057, METAS)]
    rec = recommend(both, baseline_db=0.313, floor=floor)
    assert rec["recommended"] == "aligned-mix" and rec["warnings"] == [
        "aligned-component, aligned-mix are all under the real-vs-real floor of mean D_B (0.090): D_B cannot tell "
        "them apart, so the choice among them is a tie (train them all, or add --zoo)"]
    assert recommend(both, baseline_db=0.313, floor={**floor, "mean_db": 0.060})["warnings"] == []


def test_intervals_too_wide_to_rank_are_a_warning_and_a_benchmark_alone_recommends_by_mean_db():
    summ = _summary({"near": 0.20, "far": 0.25, "baseline": 0.18, "real": 0.19}, {})
    for v, db in (("near", 0.02), ("far", 0.30), ("baseline", 0.10), ("real", 0.0)):
        summ[v].mean_db = db
    rec = recommend_by_db(summ)
    assert rec["recommended"] == "near" and rec["alias"] is None and rec["further"][0]["set"] == "far"
    lines = verdict_lines(rec, summ, FakeIntervals({"near": 0.20, "far": 0.25, "baseline": 0.18, "real": 0.19}),
                          ["frcnn"])
    assert lines[0].startswith("- **Recommended set: near**: mean D_B 0.020")
    assert "intervals too wide to rank near against real or baseline" in lines[-1]


def test_the_real_vs_real_floor_splits_whole_photos():
    from align.api import half_split_floor
    rng = np.random.default_rng(0)
    vals = rng.normal(0, 1, 200)
    groups = np.repeat(np.arange(40), 5)
    same = half_split_floor({"x": vals}, groups, splits=10)["x"]
    assert 0 < same < 0.2
    per_photo = {"x": np.repeat(rng.normal(0, 1, 10), 20)}       # boxes of a photo alike, photos differ
    by_photo = half_split_floor(per_photo, np.repeat(np.arange(10), 20), splits=10)["x"]
    assert by_photo > 5 * half_split_floor(per_photo, None, splits=10)["x"]   # by box would hide that
    assert half_split_floor({"x": [1.0, 2.0]}, [7, 7])["x"] is None  # one photo: no halves


def _run_folder(tmp_path: Path, dist: dict, selectors=("component", "mixture")):
    from synthgap.options import RunOptions
    out = tmp_path / "run"
    out.mkdir(parents=True, exist_ok=True)
    opts = RunOptions(real_json=tmp_path / "r.json", images=tmp_path, split=tmp_path / "s.json",
                      grid=tmp_path / "g.yaml", out=out, selectors=list(selectors), variants=["baseline"])
    for f, pred in (("plan.yaml", 0.05), ("plan-mix.yaml", 0.03)):
        (out / f).write_text(yaml.safe_dump({"total": 2, "entries": [], "predicted_db": {m: pred for m in METAS},
                                             "predicted_ci": {m: [0.0, 0.1] for m in METAS}}))
    for v in dist:
        d = out / "sets" / v
        (d / "images").mkdir(parents=True, exist_ok=True)
        (d / "coco_annotations.json").write_text(json.dumps({"set": v}))
        (d / "DONE").write_text("")
    (out / "distances.json").write_text(json.dumps({v: {"mean_db": m, "images": 2} for v, m in dist.items()}))
    return opts


def _real_table():
    from align.metadata import MetadataTable
    rng = np.random.default_rng(1)
    n = 30
    return MetadataTable("real-exposed", {"level": np.array(["bbox"] * n, dtype=object),
                                          "image_id": np.repeat(np.arange(10), 3).astype(float),
                                          "area_frac": rng.uniform(0.05, 0.3, n), "cy": rng.uniform(0.3, 0.7, n)})


def test_the_run_writes_its_choice_and_links_aligned_then_follows_a_new_choice(tmp_path):
    from synthgap import stages
    opts = _run_folder(tmp_path, {"baseline": 0.05, "aligned-component": 0.107, "aligned-mix": 0.028})
    fit = SimpleNamespace(metadata=METAS)
    rec = stages.stage_recommend(opts, _real_table(), fit)
    saved = json.loads((opts.out / "recommended.json").read_text())
    assert saved["recommended"] == rec["recommended"] == "aligned-mix" and saved["floor"]["mean_db"] > 0
    assert [c["predicted_mean_db"] for c in saved["candidates"]] == pytest.approx([0.05, 0.03])
    alias = opts.out / "sets" / "aligned" / "coco_annotations.json"
    assert json.loads(alias.read_text()) == {"set": "aligned-mix"}
    assert alias.stat().st_ino == (opts.out / "sets" / "aligned-mix" / "coco_annotations.json").stat().st_ino
    dist = json.loads((opts.out / "distances.json").read_text())
    dist["aligned-mix"]["mean_db"] = 0.2                        # both further now: the baseline, no alias
    (opts.out / "distances.json").write_text(json.dumps(dist))
    assert stages.stage_recommend(opts, _real_table(), fit)["recommended"] == "baseline"
    assert not (opts.out / "sets" / "aligned").exists()
    dist["aligned-component"]["mean_db"] = 0.01
    (opts.out / "distances.json").write_text(json.dumps(dist))
    stages.stage_recommend(opts, _real_table(), fit)
    assert json.loads(alias.read_text()) == {"set": "aligned-component"}


def test_an_old_run_folder_resumes_under_the_new_names(tmp_path, capsys):
    """sets/aligned was the component selector's set: it becomes aligned-component with its distances and its
    benchmark cells (results, predictions, weights, the finetune start), so nothing is trained again."""
    from synthgap.recommend import migrate_old_layout
    opts = _run_folder(tmp_path, {"baseline": 0.05, "aligned": 0.107})
    (opts.out / "sets" / "aligned-mix").mkdir()
    bench = opts.out / "benchmark"
    for d in ("results", "predictions", "metadata", "cells/aligned__frcnn__seed0"):
        (bench / d).mkdir(parents=True)
    (bench / "run.json").write_text(json.dumps({"variants": {"aligned": str(opts.out / "sets" / "aligned")}}))
    w = str(bench / "cells" / "aligned__frcnn__seed0" / "best.pt")
    for cell, start in (("aligned__frcnn__seed0", None), ("aligned__frcnn__seed0__finetune", w)):
        (bench / "predictions" / f"{cell}.json").write_text("[]")
        (bench / "results" / f"{cell}.json").write_text(json.dumps(
            {"variant": "aligned", "predictions": f"predictions/{cell}.json", "weights": w, "start": start}))
    (bench / "metadata" / "aligned.json").write_text(json.dumps({"variant": "aligned", "db": {}}))
    import shutil
    shutil.rmtree(opts.out / "sets" / "aligned-mix")
    migrate_old_layout(opts, print)
    sets = opts.out / "sets"
    assert not (sets / "aligned").exists() and json.loads((sets / "aligned-component" / "coco_annotations.json")
                                                          .read_text()) == {"set": "aligned"}
    assert set(json.loads((opts.out / "distances.json").read_text())) == {"baseline", "aligned-component"}
    assert sorted(p.name for p in (bench / "results").iterdir()) == [
        "aligned-component__frcnn__seed0.json", "aligned-component__frcnn__seed0__finetune.json"]
    ft = json.loads((bench / "results" / "aligned-component__frcnn__seed0__finetune.json").read_text())
    assert ft["variant"] == "aligned-component" and ft["start"].endswith("cells/aligned-component__frcnn__seed0/best.pt")
    assert ft["predictions"] == "predictions/aligned-component__frcnn__seed0__finetune.json"
    assert (bench / ft["predictions"]).exists() and (bench / "cells" / "aligned-component__frcnn__seed0").is_dir()
    assert json.loads((bench / "metadata" / "aligned-component.json").read_text())["variant"] == "aligned-component"
    assert list(json.loads((bench / "run.json").read_text())["variants"]) == ["aligned-component"]
    assert "2 benchmark cell(s) renamed" in capsys.readouterr().out
    migrate_old_layout(opts, print)                              # a second call finds nothing to move
    assert capsys.readouterr().out == ""


def _parse(add, base, argv):
    from synthgap.options import apply_args
    ap = argparse.ArgumentParser()
    add(ap)
    return apply_args(base, ap.parse_args(argv))


def test_defaults_that_learn_frcnn_unless_yolo_weights_and_photo_like_sets_opt_in(tmp_path, monkeypatch):
    import benchmark.api
    from benchmark.cli import parser
    monkeypatch.setattr(benchmark.api, "check_training", lambda *a: None)     # the .pt here is not a checkpoint
    from synthgap.demo import DEFAULTS, demo_defaults
    from synthgap.options import RunOptions, add_common_args
    from synthgap.variants import comparison_names
    from synthgap.zoo import ZOO_DEFAULTS
    base = RunOptions(tmp_path / "r.json", tmp_path, tmp_path / "s.json", tmp_path / "g.yaml", tmp_path / "o")
    pt = tmp_path / "yolov8n.pt"
    pt.write_bytes(b"weights")
    run = _parse(lambda ap: add_common_args(ap, base), base, [])
    assert run.detectors == ["frcnn"] and comparison_names(run) == ["baseline", "filtered", "on-surface"]
    assert _parse(lambda ap: add_common_args(ap, base), base, ["--yolo-weights", str(pt)]).detectors == ["yolo"]
    assert _parse(lambda ap: add_common_args(ap, base), base, ["--detectors", "yolo,frcnn", "--yolo-weights",
                                                              str(pt)]).detectors == ["yolo", "frcnn"]
    assert ZOO_DEFAULTS.detectors == ["frcnn"]
    grid = DEFAULTS / "demo_grid.yaml"
    assert demo_defaults(grid).detectors == ["yolo"]              # the stand-in demo: pinned, its numbers kept
    assert demo_defaults(grid, real=True).detectors == ["frcnn"]  # demo --real: the run's default
    assert parser().parse_args(["run", "--real", "r", "--images", "i", "--split", "s", "--out", "o"]).detectors is None
    ap = argparse.ArgumentParser()
    add_common_args(ap, base)
    help_text = ap.format_help().replace("\n", " ")
    assert "aligned-photo (opt-in)" in " ".join(help_text.split()) and "did not pay" in help_text


def test_the_curve_trains_on_nested_subsets_of_the_exposed_photos(tmp_path):
    from benchmark.curve import nested_subsets, run_curve
    from benchmark.detectors import DETECTORS
    from benchmark.run import RunSpec, run_matrix
    from benchmark.toydata import make_toy_set, make_toy_split
    from tests.test_architecture import DummyDetector        # ground truth boxes, shrunk: no training
    subsets = nested_subsets(list(range(1, 13)), (5, 10, 40))
    assert list(subsets) == [5, 10, 12] and set(subsets[5]) <= set(subsets[10]) <= set(subsets[12])
    real = make_toy_set(tmp_path / "real", 16, size=(64, 48), seed=1, max_objects=1)
    syn = make_toy_set(tmp_path / "syn", 6, size=(64, 48), seed=2, max_objects=1)
    split = make_toy_split(tmp_path / "split.json", 16, 12)
    DETECTORS.register("gt", DummyDetector)
    try:
        out = tmp_path / "bench"
        run_matrix(RunSpec(variants=[("syn", str(syn))], real_json=str(real / "coco_annotations.json"),
                           images_dir=str(real), split=str(split), out=str(out), detectors=["gt"], epochs=1,
                           imgsz=64, metadata=METAS))
        md = run_curve(out, sizes=[5, 10], B=20).read_text()
    finally:
        DETECTORS.unregister("gt")
    res = json.loads((out / "curve" / "curve.json").read_text())
    assert res["set"] == "syn" and [p["n"] for p in res["points"]] == [5, 10, 12]
    assert all(p["real"]["map"] > 0.3 and p["finetune"]["ci"] for p in res["points"])
    exposed = json.loads((out / "curve" / "n005.split.json").read_text())
    assert len(exposed["exposed"]) == 5 and exposed["test"] == [13, 14, 15, 16]      # the run's test photos
    rec = json.loads((out / "curve" / "n005" / "results" / "syn__gt__seed0__finetune.json").read_text())
    assert rec["start"].endswith("syn__gt__seed0/weights.txt")                              # from the synthetic cell
    assert "| 5 | " in md and (out / "curve" / "report_files" / "curve.png").exists()


def test_options_from_a_config_yaml_with_flags_winning(tmp_path, capsys):
    """`--config FILE.yaml` (synthgap/options.py parse_with_config): options by flag name, read as if given first;
    the command line wins; the same checks; a bad key or value is one line naming the file and the key. The run
    and the zoo build the benchmark's RunSpec from the options in one place (RunOptions.bench_spec)."""
    import argparse

    from core.errors import UserError
    from synthgap.cli import main as cli
    from synthgap.options import RunOptions, add_common_args, apply_args, parse_with_config
    d = RunOptions(tmp_path / "r.json", tmp_path, tmp_path / "s.json", tmp_path / "g.yaml", tmp_path / "o")
    ap = argparse.ArgumentParser(prog="synthgap run")
    ap.add_argument("--real", required=True)
    add_common_args(ap, d)
    cfg = tmp_path / "run.yaml"
    cfg.write_text("real: photos/data.yaml\ntotal: 150\nregimes: [synthetic, real, finetune]\nno-benchmark: true\n"
                   "seeds: 2\nprobe_n: 8\n")
    args = parse_with_config(ap, ["--config", str(cfg), "--total", "90"])
    opts = apply_args(d, args)
    assert args.real == "photos/data.yaml" and opts.total == 90 and opts.probe_n == 8 and opts.seeds == [0, 1]
    assert opts.regimes == ["synthetic", "real", "finetune"] and opts.benchmark is False
    spec = opts.bench_spec([("aligned", "sets/aligned")], tmp_path / "b", ["area_frac", "cy"], regimes=["synthetic"])
    assert spec.regimes == ["synthetic"] and spec.real_table == str(opts.real_table) and spec.seeds == [0, 1]
    for text, what in [("totl: 5\n", "key 'totl': not an option of synthgap run"),
                       ("no-benchmark: 1\n", "key 'no-benchmark': a switch takes true or false"),
                       ("- total\n", "key '<top>': options must be a mapping")]:
        cfg.write_text(text)
        with pytest.raises(UserError, match=what):
            parse_with_config(ap, ["--config", str(cfg), "--real", "x"])
    cfg.write_text("regimes: [synthetic, nonsense]\n")
    assert cli(["run", "--config", str(cfg), "--real", "x", "--split", "s", "--grid", "g", "--out",
                str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nonsense" in err[0]


def test_a_bimodal_target_fitted_with_one_component_is_served_by_the_mixture_selectors_set():
    """Issue 21 item 3: when the GMM falls back to K=1 on a bimodal target (small samples: the silhouette rule),
    the component selector matches one Gaussian with one config between the modes; the mixture selector weights
    the configs of both modes, its plan is predicted closer, and the run's rule (candidates by D_B on the exposed
    photos) recommends its set. The default behaviour is therefore the better one without a special case."""
    from test_align import PROBE_DISTS, _probes, table_from

    from align.api import fit_gmm, select_configs
    rng = np.random.default_rng(5)
    probes, names = _probes(rng, n=60)
    parts = {"area_frac": [], "cy": []}
    for i in (0, 3):                                         # two modes: large and small boxes, half each
        (ma, sa), (mc, sc) = PROBE_DISTS[i]
        parts["area_frac"].append(rng.normal(ma, sa, 40))
        parts["cy"].append(rng.normal(mc, sc, 40))
    real = table_from("real", {m: np.concatenate(v) for m, v in parts.items()})
    fit = fit_gmm(real, metadata=["area_frac", "cy"], mode="joint", kmax=1)
    assert fit.k == 1
    comp = select_configs(fit, probes, total=120, real=real, method="component")
    mix = select_configs(fit, probes, total=120, real=real, method="mixture")
    assert len([e for e in comp.entries if e.count]) == 1                         # one Gaussian, one config
    assert {e.config_name for e in mix.entries if e.count >= 30} == {names[0], names[3]}   # both modes
    metas = ["area_frac", "cy"]
    cands = [candidate("aligned-component", "component", comp, mean_db(comp.predicted_db, metas), metas),
             candidate("aligned-mix", "mixture", mix, mean_db(mix.predicted_db, metas), metas)]
    assert cands[1]["predicted_mean_db"] < cands[0]["predicted_mean_db"]
    assert recommend(cands, baseline_db=None)["recommended"] == "aligned-mix"
