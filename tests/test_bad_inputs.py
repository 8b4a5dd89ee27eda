"""Bad inputs through the command line: exit 2, one line naming the file and the field, no traceback, and no
new file in --out (the reliability issue's table; more rows land as more cases are fixed)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from benchmark.toydata import make_toy_set, make_toy_split


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    real = make_toy_set(root / "real", 8, size=(64, 48), seed=1)
    split = make_toy_split(root / "split.json", 8, 4)
    (root / "afile").write_text("x")
    (root / "empty.yaml").write_text("")
    (root / "bad.yaml").write_text("resolution: [64, 48]\ncamera: {distance: [1, 2]\n")
    (root / "one.yaml").write_text("resolution: [64, 48]\n")
    (root / "grid.yaml").write_text("camera: {distance: {grid: [[0.5, 0.7], [2.0, 2.2]]}}\n")
    coco = json.loads((real / "coco_annotations.json").read_text())
    variants = {
        "list.json": [coco],
        "noann.json": {**coco, "annotations": []},
        "dupcat.json": {**coco, "categories": [{"id": 1, "name": "bottle"}, {"id": 2, "name": "bottle"}]},
        "badjson.json": None,
        "badbox.json": {**coco, "annotations": [{**coco["annotations"][0], "bbox": [10, 5, -4, 8]},
                                                *coco["annotations"][1:]]},
        "badcat.json": {**coco, "annotations": [{**coco["annotations"][0], "category_id": 77},
                                                *coco["annotations"][1:]]},
        "noimg.json": {**coco, "images": [{**coco["images"][0], "file_name": "gone.png"}, *coco["images"][1:]]},
        "noimages.json": {k: v for k, v in coco.items() if k != "images"},
    }
    for name, d in variants.items():
        (real / name).write_text("{not json" if d is None else json.dumps(d))
    (root / "empty_exposed.json").write_text(json.dumps({"exposed": [], "test": [5, 6, 7, 8]}))
    (root / "ghost_ids.json").write_text(json.dumps({"exposed": [1, 2, 99], "test": [5, 6, 7, 8]}))
    undone = make_toy_set(root / "undone", 3, size=(64, 48))
    (undone / "DONE").unlink()
    return {"root": root, "real": real, "split": split, "undone": undone}


def _run(d):
    r = d["real"]
    return ["run", "--real", str(r / "coco_annotations.json"), "--images", str(r), "--split", str(d["split"]),
            "--grid", str(d["root"] / "grid.yaml"), "--no-benchmark"]


def _run_with(d, coco: str, split: str | None = None):
    r = d["real"]
    return ["run", "--real", str(r / coco), "--images", str(r), "--split", split or str(d["split"]),
            "--grid", str(d["root"] / "grid.yaml"), "--no-benchmark"]


def _bench(d):
    r = d["real"]
    return ["benchmark", "run", "--real", str(r / "coco_annotations.json"), "--images", str(r), "--split",
            str(d["split"]), "--detectors", "frcnn", "--epochs", "1"]


# (name, argv builder given the data and a fresh out path, substrings the one line must hold)
CASES = [
    ("render: empty config", lambda d, o: ["render", "--config", str(d["root"] / "empty.yaml"), "--n", "2",
                                           "--out", o], ["empty.yaml", "'<top>'", "the file is empty"]),
    ("render: YAML error", lambda d, o: ["render", "--config", str(d["root"] / "bad.yaml"), "--n", "2", "--out", o],
     ["bad.yaml", "not valid YAML", "line", "column"]),
    ("render: --out is a file", lambda d, o: ["render", "--config", str(d["root"] / "grid.yaml"), "--n", "2",
                                              "--out", str(d["root"] / "afile")], ["afile", "--out is an existing file"]),
    ("render: --recycle-after 0", lambda d, o: ["render", "--config", str(d["root"] / "bad.yaml"), "--n", "2",
                                                "--out", o, "--recycle-after", "0"], ["--recycle-after must be >= 1"]),
    ("render: --retries -1", lambda d, o: ["render", "--config", str(d["root"] / "bad.yaml"), "--n", "2", "--out", o,
                                           "--retries", "-1"], ["--retries must be >= 0"]),
    ("render: --threads 0", lambda d, o: ["render", "--config", str(d["root"] / "bad.yaml"), "--n", "2", "--out", o,
                                          "--threads", "0"], ["--threads must be >= 1"]),
    ("render: --threads -3", lambda d, o: ["render", "--config", str(d["root"] / "bad.yaml"), "--n", "2", "--out", o,
                                           "--threads", "-3"], ["--threads must be >= 1"]),
    ("run: --out below a file", lambda d, o: _run(d) + ["--out", str(d["root"] / "afile" / "run")],
     ["lies below", "afile"]),
    ("run: unknown --metadata", lambda d, o: _run(d) + ["--out", o, "--metadata", "area_frac,shininess"],
     ["--metadata", "shininess"]),
    ("run: unknown --category", lambda d, o: _run(d) + ["--out", o, "--category", "vase"],
     ["coco_annotations.json", "category 'vase'"]),
    ("run: unknown --detectors", lambda d, o: _run(d) + ["--out", o, "--detectors", "ssd"], ["--detectors", "ssd"]),
    ("run: bad JSON", lambda d, o: ["run", "--real", str(d["real"] / "badjson.json"), "--images", str(d["real"]),
                                    "--split", str(d["split"]), "--grid", str(d["root"] / "grid.yaml"), "--out", o],
     ["badjson.json", "not valid json", "line 1"]),
    ("run: empty exposed split", lambda d, o: ["run", "--real", str(d["real"] / "coco_annotations.json"),
                                               "--images", str(d["real"]), "--split",
                                               str(d["root"] / "empty_exposed.json"), "--grid",
                                               str(d["root"] / "grid.yaml"), "--out", o],
     ["empty_exposed.json", "'exposed'"]),
    ("benchmark: --out is a file", lambda d, o: _bench(d) + ["--out", str(d["root"] / "afile")], ["afile"]),
    ("benchmark: empty exposed split", lambda d, o: ["benchmark", "run", "--real",
                                                     str(d["real"] / "coco_annotations.json"), "--images",
                                                     str(d["real"]), "--split", str(d["root"] / "empty_exposed.json"),
                                                     "--out", o], ["empty_exposed.json", "'exposed'"]),
    ("benchmark: real COCO without annotations", lambda d, o: ["benchmark", "run", "--real",
                                                               str(d["real"] / "noann.json"), "--images",
                                                               str(d["real"]), "--split", str(d["split"]), "--out", o],
     ["'exposed'", "no annotation"]),
    ("benchmark: bad --init", lambda d, o: _bench(d) + ["--out", o, "--init", "imagenet21k"], ["--init", "imagenet21k"]),
    ("benchmark: --bootstrap 0", lambda d, o: _bench(d) + ["--out", o, "--bootstrap", "0"],
     ["--bootstrap must be >= 10"]),
    ("benchmark: --mean-metadata not in the table", lambda d, o: _bench(d) + ["--out", o, "--metadata", "area_frac",
                                                                             "--mean-metadata", "area_frac,cy"],
     ["--mean-metadata", "cy", "--metadata"]),
    ("benchmark: bad --regimes", lambda d, o: _bench(d) + ["--out", o, "--regimes", "synthetic,zero-shot"],
     ["--regimes", "zero-shot"]),
    ("align compare: COCO top level is a list", lambda d, o: ["align", "compare", str(d["real"] / "list.json"),
                                                              str(d["real"]), "--out", o],
     ["list.json", "top level must be an object"]),
    ("align compare: COCO without annotations", lambda d, o: ["align", "compare", str(d["real"] / "noann.json"),
                                                              str(d["real"]), "--out", o],
     ["noann.json", "no box"]),
    ("align compare: empty exposed split", lambda d, o: ["align", "compare", "--real",
                                                         str(d["real"] / "coco_annotations.json"), "--split",
                                                         str(d["root"] / "empty_exposed.json"), str(d["real"]),
                                                         "--out", o], ["no box", "exposed"]),
    ("align compare: category not on the images", lambda d, o: ["align", "compare", str(d["real"]), str(d["real"]),
                                                                "--category", "vase", "--out", o], ["'vase'"]),
    ("align compare: dataset dir without DONE", lambda d, o: ["align", "compare", str(d["real"]), str(d["undone"]),
                                                              "--out", o], ["undone", "DONE"]),
    ("align compare: duplicate category names", lambda d, o: ["align", "compare", str(d["real"] / "dupcat.json"),
                                                              str(d["real"]), "--out", o],
     ["dupcat.json", "'name'", "duplicate category name 'bottle'"]),
    ("run: a box of negative width", lambda d, o: _run_with(d, "badbox.json") + ["--out", o],
     ["badbox.json", "bbox"]),
    ("run: an annotation of an unknown category id", lambda d, o: _run_with(d, "badcat.json") + ["--out", o],
     ["badcat.json", "category_id", "77"]),
    ("run: an image file missing", lambda d, o: _run_with(d, "noimg.json") + ["--out", o], ["gone.png"]),
    ("run: a COCO without images", lambda d, o: _run_with(d, "noimages.json") + ["--out", o],
     ["noimages.json", "'images'"]),
    ("run: split ids not in the COCO", lambda d, o: _run_with(d, "coco_annotations.json",
                                                              str(d["root"] / "ghost_ids.json")) + ["--out", o],
     ["ghost_ids.json", "99"]),
    ("render: --out below a file", lambda d, o: ["render", "--config", str(d["root"] / "one.yaml"), "--n", "2",
                                                 "--out", str(d["root"] / "afile" / "x")], ["afile"]),
    ("render: --n 0", lambda d, o: ["render", "--config", str(d["root"] / "one.yaml"), "--n", "0", "--out", o],
     ["--n"]),
    ("benchmark: --out below a file", lambda d, o: _bench(d) + ["--out", str(d["root"] / "afile" / "b")], ["afile"]),
    ("align fit: COCO top level is a list", lambda d, o: ["align", "fit", "--real", str(d["real"] / "list.json"),
                                                          "--out", str(Path(o) / "fit.json")],
     ["list.json", "top level must be an object"]),
    ("align fit: --out is a folder", lambda d, o: ["align", "fit", "--real", str(d["real"]), "--out",
                                                   str(d["root"])], ["--out is a folder"]),
    ("run: --metadata auto without --zoo", lambda d, o: _run(d) + ["--out", o, "--metadata", "auto"],
     ["--metadata auto", "--zoo"]),
    ("run: --zoo without a zoo.json", lambda d, o: _run(d) + ["--out", o, "--zoo", str(d["root"])],
     ["zoo.json", "no zoo.json here"]),
    ("run: --zoo file that is not a zoo", lambda d, o: _run(d) + ["--out", o, "--zoo", str(d["split"])],
     ["split.json", "key 'ranking'"]),
    ("run: --predict an unknown metadata", lambda d, o: _run(d) + ["--out", o, "--predict", "depth,nonsense"],
     ["--predict", "nonsense", "visible_px"]),
    ("run: --metadata depth on photos without --predict", lambda d, o: _run(d) + ["--out", o, "--metadata",
                                                                                 "area_frac,depth"],
     ["--metadata", "depth is known only to the renderer", "--predict"]),
    ("zoo: --zoo-images 0", lambda d, o: ["zoo"] + _run(d)[1:-1] + ["--out", o, "--zoo-images", "0"],
     ["--zoo-images must be >= 1"]),
    ("align compare: --zoo without a zoo.json", lambda d, o: ["align", "compare", str(d["real"]), str(d["real"]),
                                                              "--zoo", str(d["root"]), "--out", o],
     ["no zoo.json here"]),
]


@pytest.mark.parametrize("name,argv,want", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_leaves_nothing(data, tmp_path, capsys, name, argv, want):
    from synthgap.cli import main
    out = tmp_path / "out"
    before = sorted(p.name for p in data["root"].iterdir())
    code = main(argv(data, str(out)))
    err = capsys.readouterr().err.strip()
    assert code == 2, (name, err)
    lines = [ln for ln in err.splitlines() if not re.search(r"\[[#-]{24}\] \d+/\d+", ln)]   # progress bars
    assert len(lines) == 1 and "Traceback" not in err, err
    err = lines[0]
    for w in want:
        assert w in err, (w, err)
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))
    assert sorted(p.name for p in data["root"].iterdir()) == before


def test_run_refuses_a_real_set_edited_since_it_started(data, tmp_path):
    """`synthgap run` pins the real COCO, the split and the exposed images by content, not by path or mtime."""
    from core.errors import UserError
    from synthgap.options import RunOptions
    from synthgap.stages import check_run_json, load_inputs
    real = tmp_path / "real"
    shutil.copytree(data["real"], real)
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=data["split"],
                      grid=data["root"] / "grid.yaml", out=tmp_path / "run")
    grid, _, files = load_inputs(opts)
    check_run_json(opts, grid, files)
    check_run_json(opts, grid, files)                 # same inputs: resumes
    moved = tmp_path / "moved"                        # the same photos copied elsewhere (new paths and mtimes)
    shutil.copytree(real, moved)
    opts_moved = RunOptions(real_json=moved / "coco_annotations.json", images=moved, split=data["split"],
                            grid=data["root"] / "grid.yaml", out=tmp_path / "run")
    check_run_json(opts_moved, *[load_inputs(opts_moved)[i] for i in (0, 2)])          # resumes
    coco = json.loads((real / "coco_annotations.json").read_text())
    coco["annotations"][0]["bbox"][2] -= 1
    (real / "coco_annotations.json").write_text(json.dumps(coco))
    with pytest.raises(UserError, match="the real COCO json was edited since.*new --out to start over"):
        check_run_json(opts, *[load_inputs(opts)[i] for i in (0, 2)])
    (real / "coco_annotations.json").write_text(json.dumps(json.loads(
        (data["real"] / "coco_annotations.json").read_text())))
    from PIL import Image
    Image.new("RGB", (64, 48)).save(real / "images" / "000001.jpg")
    with pytest.raises(UserError, match="exposed image files were replaced"):
        check_run_json(opts, *[load_inputs(opts)[i] for i in (0, 2)])
