"""The closed loop end to end at tiny scale (64x48 renders, a 2-config grid, 1 training epoch):
`synthgap demo` with a stand-in target, every stage, resume after a kill in the middle of rendering,
and the Ray render backend on a local Ray instance."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.render

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
ARGS = ["--grid", str(DATA / "tiny_grid.yaml"), "--target", str(DATA / "tiny_target.yaml"), "--total", "6",
        "--probe-n", "4", "--probe-max", "8", "--probe-ci", "0.05", "--epochs", "1", "--detectors", "yolo", "--imgsz", "64", "--min-px", "6", "--metadata", "area_frac,cy",
        "--workers", "2", "--variants", "baseline,filtered,on-surface,aligned-photo,baseline-photo"]   # photo-like: opt-in


def _env():
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    env.pop("SYNTHGAP_RENDER_FAULT", None)
    return env


def _demo(out, *extra, timeout=900):
    return subprocess.run([sys.executable, "-m", "synthgap", "demo", "--out", str(out), *ARGS, *extra],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)


def _anns(d: Path):
    coco = json.loads((d / "coco_annotations.json").read_text())
    return sorted((a["image_id"], a["category_id"], tuple(a["bbox"])) for a in coco["annotations"])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo run, killed (SIGKILL to its process group) while the comparison sets render, then resumed."""
    out = tmp_path_factory.mktemp("loop") / "run"
    cmd = [sys.executable, "-m", "synthgap", "demo", "--out", str(out), *ARGS]
    p = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    killed_at = None
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        shard_files = list((out / "sets").glob("*/.render/shards/*")) if (out / "sets").exists() else []
        if shard_files:
            os.killpg(p.pid, signal.SIGKILL)
            killed_at = sorted(str(s.relative_to(out)) for s in shard_files)
            break
        time.sleep(0.2)
    p.wait(timeout=60)
    first_log = p.stdout.read()
    assert killed_at, f"the run ended before the sets rendered (rc {p.returncode}):\n{first_log[-3000:]}"
    assert not (out / "report.md").exists()
    r = _demo(out)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return out, r.stdout + r.stderr, killed_at


def test_every_stage_wrote_its_outputs(demo_run):
    out, log, _ = demo_run
    assert (out / "target" / "DONE").exists() and (out / "target_split.json").exists()
    fit = json.loads((out / "fit.json").read_text())
    assert fit["metadata"] == ["area_frac", "cy"]
    probes = [d for d in (out / "probes").iterdir() if (d / "DONE").exists()]
    assert len(probes) == 2
    for name in ("plan.yaml", "plan-mix.yaml"):
        plan = yaml.safe_load((out / name).read_text())
        assert plan["total"] == 6 and sum(e["count"] for e in plan["entries"]) == 6, name
        # 4 probe images leave the predicted D_B wider than 0.05: the chosen configs' probes grew once, to 8
        assert set(plan["probe_images"].values()) == {8}, plan["probe_images"]
        assert all(lo <= hi for lo, hi in plan["predicted_ci"].values()) and set(plan["predicted_ci"]) == {"area_frac", "cy"}
        for cfg in plan["probe_images"]:
            assert (out / "probes" / ".more" / cfg / "r1" / "DONE").exists()
    for v in ("baseline", "on-surface", "aligned-component", "aligned-mix", "filtered", "aligned-photo",
              "baseline-photo"):
        assert (out / "sets" / v / "DONE").exists(), v
    rec = json.loads((out / "recommended.json").read_text())         # chosen on the exposed images: a selector's
    assert rec["recommended"] in ("aligned-component", "aligned-mix", "baseline") and rec["reason"]
    if rec["alias"]:
        assert _anns(out / "sets" / "aligned") == _anns(out / "sets" / rec["recommended"])
    base = json.loads((out / "sets" / "baseline" / "coco_annotations.json").read_text())
    assert len(base["images"]) == 6 and base["info"]["config"]["placement"] == "floating"
    surf = json.loads((out / "sets" / "on-surface" / "coco_annotations.json").read_text())
    assert surf["info"]["config"]["placement"] == "surface"
    filt = json.loads((out / "sets" / "filtered" / "coco_annotations.json").read_text())
    assert all(max(a["bbox"][2:]) >= 6 for a in filt["annotations"])
    photo = json.loads((out / "sets" / "aligned-photo" / "sidecar.json").read_text())["images"]
    plates = json.loads((out / "plates" / "plates.json").read_text())
    exposed = set(json.loads((out / "target_split.json").read_text())["exposed"])
    target = {im["file_name"]: im["id"] for im in
              json.loads((out / "target" / "coco_annotations.json").read_text())["images"]}
    assert plates["plates"] and all(target[p["source"]] in exposed for p in plates["plates"])   # never a test photo
    assert {s["background_kind"] for s in photo.values()} == {"photo"}
    photo_cfg = json.loads((out / "sets" / "aligned-photo" / "coco_annotations.json").read_text())["info"]
    assert "clutter" in json.dumps(photo_cfg) and "motion_px" in json.dumps(photo_cfg)   # the ladder's best look
    base_photo = json.loads((out / "sets" / "baseline-photo" / "coco_annotations.json").read_text())["info"]["config"]
    assert base_photo["background"]["kind"] == "photo" and base_photo["placement"] == "floating"
    assert {s["background_id"] for s in photo.values()} <= {p["file"] for p in plates["plates"]}
    dist = json.loads((out / "distances.json").read_text())
    assert set(dist) == {"baseline", "filtered", "on-surface", "aligned-component", "aligned-mix", "aligned-photo",
                         "baseline-photo"}
    assert all(d["realism"]["kid"] is not None and d["realism"]["se"] > 0 for d in dist.values())
    assert all(dist["aligned-component"]["db"][m] >= 0 for m in ("area_frac", "cy"))
    results = sorted(p.name for p in (out / "benchmark" / "results").glob("*.json"))
    assert results == sorted(f"{v}__yolo__seed0.json" for v in
                             ("aligned-component", "aligned-mix", "aligned-photo", "baseline", "baseline-photo", "filtered",
                              "on-surface",
                              "real")), results
    rec = json.loads((out / "benchmark" / "results" / "aligned-component__yolo__seed0.json").read_text())
    assert 0.0 <= rec["test"]["map"] <= 1.0 and rec["epochs"] == 1


def test_selector_recovers_the_hidden_config(demo_run):
    """The stand-in target is rendered from the near-camera config only: both selectors' plans must put (most
    of) their images there, and the report shows the hidden and recovered mixtures side by side."""
    out, _, _ = demo_run
    for name in ("plan.yaml", "plan-mix.yaml"):
        plan = yaml.safe_load((out / name).read_text())
        near = [e for e in plan["entries"] if e["config"]["camera"]["distance"] == [0.6, 0.8]]
        assert sum(e["count"] for e in near) >= 5, (name, plan["entries"])
    md = (out / "report.md").read_text()
    assert "synthetic stand-in for your real photos" in md
    assert "Hidden mixture vs recovered mixture" in md and "| 1.00 |" in md and "recovered (mixture)" in md
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    assert "| mean D_B | KID | FID | P / R |" in md and "report_files/sheet_aligned-photo.png" in md
    assert "### Predicted from the probes vs realised" in md and "| aligned-mix | 8 |" in md
    assert (out / "benchmark" / "report.md").exists()


def test_resume_after_kill_rerenders_nothing_complete(demo_run):
    out, log, killed_at = demo_run
    assert "stage 1/5 real metadata: complete, skipped" in log and "stage 3/5 GMM fit: complete, skipped" in log
    assert "stage 3/5 selection -> plan.yaml, plan-mix.yaml: complete, skipped" in log
    # a second rerun does nothing but the report
    r = _demo(out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "stage 4/5 render the sets (6 images each): baseline, filtered, on-surface, aligned-photo, " \
           "baseline-photo, aligned-component, " \
           "aligned-mix: complete, skipped" in r.stdout


def test_a_damaged_finished_set_is_rebuilt_on_rerun(demo_run):
    """An image deleted from a finished set and another truncated: the rerun notices both (by the COCO's file
    names and sizes), renders them again to the same bytes, and leaves everything else alone."""
    out, _, _ = demo_run
    coco = json.loads((out / "sets" / "aligned-component" / "coco_annotations.json").read_text())
    gone, cut = (out / "sets" / "aligned-component" / coco["images"][0]["file_name"],
                 out / "sets" / "baseline" / json.loads((out / "sets" / "baseline" / "coco_annotations.json")
                                                        .read_text())["images"][-1]["file_name"])
    want = {gone: gone.read_bytes(), cut: cut.read_bytes()}
    untouched = (out / "sets" / "on-surface" / "coco_annotations.json").stat().st_mtime_ns
    gone.unlink()
    cut.write_bytes(want[cut][:100])
    r = _demo(out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"sets/aligned-component: {coco['images'][0]['file_name']} is missing or damaged; building the set again" \
        in r.stdout
    assert "sets/baseline: " in r.stdout and "sets/on-surface: " not in r.stdout
    assert {p: p.read_bytes() for p in want} == want
    assert (out / "sets" / "on-surface" / "coco_annotations.json").stat().st_mtime_ns == untouched
    assert all((out / "sets" / v / "DONE").exists() for v in ("aligned-component", "baseline", "filtered"))


def test_rerun_with_other_options_is_refused(demo_run):
    out, _, _ = demo_run
    r = _demo(out, "--seed", "9")
    assert r.returncode == 2 and "run.json: this run folder was started with other inputs (other seed)" in r.stderr


def test_ray_backend_renders_the_same_sets(demo_run, tmp_path):
    """Same run (up to the distances) with the Ray backend on a local Ray instance: identical annotations."""
    pytest.importorskip("ray")
    out_local, _, _ = demo_run
    out = tmp_path / "ray"
    r = _demo(out, "--backend", "ray", "--no-benchmark", timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for v in ("baseline", "aligned-component", "aligned-mix"):
        assert _anns(out / "sets" / v) == _anns(out_local / "sets" / v), v


@pytest.mark.parametrize("bad, message", [
    ({"--real": "/nonexistent/real.json"}, "/nonexistent/real.json: --real COCO json not found"),
    ({"--split": "/nonexistent/split.json"}, "/nonexistent/split.json: split file not found"),
    ({"--grid": "/nonexistent/grid.yaml"}, "/nonexistent/grid.yaml: grid YAML not found"),
])
def test_bad_run_inputs_fail_in_one_line_and_write_nothing(tmp_path, bad, message):
    real = REPO.parent / "shared" / "realsets" / "bottles"
    args = {"--real": str(real / "annotations_coco.json"), "--images": str(real / "images"),
            "--split": str(real / "split.json"), "--grid": str(DATA / "tiny_grid.yaml"), **bad}
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "synthgap", "run", "--out", str(out),
                        *[x for kv in args.items() for x in kv]],
                       cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == f"synthgap run: error: {message}", r.stderr
    assert not out.exists()


ZOO_ARGS = ["--grid", str(DATA / "tiny_grid.yaml"), "--total", "6", "--zoo-images", "4", "--probe-n", "4",
            "--epochs", "1", "--detectors", "yolo", "--imgsz", "64", "--min-px", "6", "--metadata", "area_frac,cy",
            "--seeds", "1", "--singles", "2", "--no-real-baseline", "--variants", "baseline",
            "--selectors", "component", "--workers", "2"]


def _target(out: Path) -> list[str]:
    return ["--real", str(out / "target" / "coco_annotations.json"), "--images", str(out / "target"),
            "--split", str(out / "target_split.json")]


def _synthgap(*argv, timeout=900):
    return subprocess.run([sys.executable, "-m", "synthgap", *map(str, argv)], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_zoo_builds_equal_sets_ranks_them_resumes_and_feeds_the_run(demo_run, tmp_path):
    """`synthgap zoo` on the demo's stand-in target: the run's sets + random-grid, aligned-joint and two single
    configs, 4 images each, distances, one detector cell each, the ranking and the held-out score; a rerun
    renders and trains nothing; `run --zoo` scores the sets in its report; `align compare --zoo` prints a score."""
    out, zoo = demo_run[0], tmp_path / "zoo"
    r = _synthgap("zoo", *_target(out), "--out", zoo, *ZOO_ARGS)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    z = json.loads((zoo / "zoo" / "zoo.json").read_text())
    names = set(z["sets"])
    assert {"baseline", "aligned-component", "random-grid"} <= names and len(names) in (4, 5, 6)
    # the joint fit's plan renders a set of its own, or is left out (with a note) when it equals aligned's
    assert ("aligned-joint" in names) != any(n.startswith("aligned-joint: its plan equals") for n in z["notes"])
    # two singles asked: a config that is aligned's whole plan is that set already (left out with a note)
    assert sum(n.startswith("single-cfg-") for n in names) + sum("the whole plan of" in x for x in z["notes"]) == 2
    for n in names:
        assert len(json.loads((zoo / "zoo" / "sets" / n / "coco_annotations.json").read_text())["images"]) == 4
        assert z["sets"][n]["seeds"] == 1 and 0.0 <= z["sets"][n]["map"] <= 1.0
        assert {"db:area_frac", "w1:cy", "kid", "1-recall"} <= set(z["sets"][n]["distances"])
    assert {r["metric"] for r in z["ranking"]} >= {"db:area_frac", "db:cy", "kid", "fid"}
    assert z["score"]["held_out"]["n"] == len(names) and z["score"]["weights"]["w"]
    md = (zoo / "zoo" / "zoo.md").read_text()
    assert "## Which distances rank the sets like their mAP" in md and "held-out score vs mAP" in md
    r2 = _synthgap("zoo", *_target(out), "--out", zoo, *ZOO_ARGS)
    assert r2.returncode == 0 and "rendering" not in r2.stdout + r2.stderr, r2.stderr[-2000:]
    assert json.loads((zoo / "zoo" / "zoo.json").read_text())["calls"] == 2
    zoo_only = {ZOO_ARGS.index(f) + k for f in ("--zoo-images", "--singles") for k in (0, 1)}
    run_args = [a for i, a in enumerate(ZOO_ARGS) if i not in zoo_only]
    r3 = _synthgap("run", *_target(out), "--out", zoo, *run_args, "--no-benchmark", "--zoo", zoo / "zoo")
    assert r3.returncode == 0, r3.stderr[-2000:]
    report = (zoo / "report.md").read_text()
    assert "## Training-free quality score (the zoo's weights)" in report and "| aligned-component |" in report
    rec = json.loads((zoo / "recommended.json").read_text())         # --zoo: the score takes part in the choice
    assert rec["zoo"] == str(zoo / "zoo") and rec["candidates"][0]["zoo_score"] is not None
    r4 = _synthgap("align", "compare", "--real", out / "target", "--split", out / "target_split.json",
                   zoo / "sets" / "aligned-component", "--realism", "--zoo", zoo / "zoo", "--quiet")
    assert r4.returncode == 0 and "quality score" in r4.stdout and "among the zoo's sets" in r4.stdout, r4.stderr


def test_run_predicts_render_only_metadata_for_the_target_and_aligns_on_it(demo_run, tmp_path):
    """`run --predict depth,visible_px` on the stand-in target (which has them measured): models learnt from the
    probes' box crops; each asked-for column of the real table is a prediction (then aligned on by default and
    scored against the measured values) or missing, never the measured value; the report has the R² table.
    The opt-in aligned-feature-filtered set is the aligned set minus its least photo-like images."""
    import numpy as np

    from align.metadata import MetadataTable
    out, run = demo_run[0], tmp_path / "run"
    r = _synthgap("run", *_target(out), "--out", run, "--grid", DATA / "tiny_grid.yaml", "--total", "4", "--probe-n",
                  "16", "--probe-max", "16", "--min-px", "6", "--selectors", "component", "--workers", "2",
                  "--no-benchmark", "--predict", "depth,visible_px", "--variants", "baseline,aligned-feature-filtered")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rec = json.loads((run / "predict.json").read_text())
    assert rec["trained_on"] == "probes" and set(rec["models"]) == {"depth", "visible_px"}
    assert all(m["n"] >= 30 for m in rec["models"].values()), rec     # enough boxes to be predictable
    real, fit = MetadataTable.load(run / "real_metadata_pred.json"), json.loads((run / "fit.json").read_text())
    measured = MetadataTable.load(run / "real_metadata.json")
    for m, model in rec["models"].items():
        vals = real.values(m)
        if model["predictable"]:
            assert m in rec["predicted"] and np.isfinite(vals).all() and fit["metadata"].count(m) == 1
            assert m in rec["against_measured"] and not np.array_equal(vals, measured.values(m))
        else:
            assert m not in rec["predicted"] and not np.isfinite(vals).any() and m not in fit["metadata"]
    assert fit["metadata"][:2] == ["area_frac", "cy"]
    dist = json.loads((run / "distances.json").read_text())
    assert set(dist["aligned-component"]["db"]) == set(fit["metadata"])
    md = (run / "report.md").read_text()
    assert "## Metadata predicted from box-crop features" in md and "| visible_px |" in md
    kept = {im["file_name"] for im in json.loads((run / "sets" / "aligned-feature-filtered" /
                                                  "coco_annotations.json").read_text())["images"]}
    aligned = {im["file_name"] for im in json.loads((run / "sets" / "aligned-component" / "coco_annotations.json")
                                                    .read_text())["images"]}
    assert kept and kept <= aligned                    # the aligned set, feature-filtered: a subset of it


def test_metadata_auto_takes_what_the_zoo_ranked(tmp_path):
    from align.quality import rank_metrics
    from synthgap.options import RunOptions, apply_zoo
    rows = {f"s{i}": {"distances": {"db:cy": i / 10, "db:area_frac": (i * 7 % 10) / 10}, "map": 1 - i / 10}
            for i in range(10)}
    (tmp_path / "zoo.json").write_text(json.dumps({"ranking": rank_metrics(rows, B=50), "score": {}, "sets": rows}))
    opts = RunOptions(Path("r"), Path("i"), Path("s"), Path("g"), Path("o"), metadata=["auto"])
    apply_zoo(opts, str(tmp_path))
    assert opts.metadata == ["cy"] and opts.zoo == tmp_path
