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
    (real / "badsize.json").write_text(json.dumps({**coco, "images": [{**coco["images"][0], "width": 65},
                                                                     *coco["images"][1:]]}))
    _escapes(root, real, coco)
    _bad_weights(root)
    trunc = root / "trunc"
    shutil.copytree(real, trunc)
    photo = trunc / "images" / "000001.jpg"
    photo.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    junk = root / "junk"
    shutil.copytree(real, junk)
    (junk / "images" / "000002.jpg").write_bytes(b"not a photo")
    (root / "notplates").mkdir()
    (root / "notplates" / "keep.txt").write_text("mine")
    return {"root": root, "real": real, "split": split, "undone": undone, "trunc": trunc, "junk": junk}


def _escapes(root: Path, real: Path, coco: dict) -> None:
    """esc/: the real set with image 1 named '../outside.jpg', or a symlink that leads out of the folder."""
    esc = root / "esc"
    shutil.copytree(real / "images", esc / "images")
    shutil.copy(real / "images" / "000001.jpg", root / "outside.jpg")
    (esc / "images" / "link.jpg").symlink_to(root / "outside.jpg")
    for name, fn in (("dotdot.json", "../outside.jpg"), ("symlink.json", "images/link.jpg"),
                     ("absolute.json", str(root / "outside.jpg"))):
        (esc / name).write_text(json.dumps({**coco, "images": [{**coco["images"][0], "file_name": fn},
                                                               *coco["images"][1:]]}))


class _Evil:
    """A pickle that runs a shell command when loaded (what a crafted checkpoint does)."""
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def _bad_weights(root: Path) -> None:
    import torch
    torch.save({"state_dict": _Evil(root / "PWNED")}, root / "evil.pt")
    (root / "text.pt").write_text("not weights\n")


def _tree_hash(root: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def _run(d):
    r = d["real"]
    return ["run", "--real", str(r / "coco_annotations.json"), "--images", str(r), "--split", str(d["split"]),
            "--grid", str(d["root"] / "grid.yaml"), "--no-benchmark"]


def _run_with(d, coco: str, split: str | None = None):
    r = d["real"]
    return ["run", "--real", str(r / coco), "--images", str(r), "--split", split or str(d["split"]),
            "--grid", str(d["root"] / "grid.yaml"), "--no-benchmark"]


def _plates(d, o, *extra):
    r = d["real"]
    return ["plates", str(r / "coco_annotations.json"), "--images", str(r), "--split", str(d["split"]), "--out", o,
            *extra]


def _fit(d, coco, out, *extra):
    return ["align", "fit", "--real", str(coco), "--images", str(d["real"]), "--out", str(out), *extra]


def _bench(d):
    r = d["real"]
    return ["benchmark", "run", "--real", str(r / "coco_annotations.json"), "--images", str(r), "--split",
            str(d["split"]), "--detectors", "frcnn", "--epochs", "1"]


def _refine(d, o, *extra):
    r, extra = d["real"], list(extra)
    renders = [] if "--renders" in extra else ["--renders", str(r)]
    method = [] if "--method" in extra else ["--method", "learned"]
    return ["refine", "train", *method, *renders, "--real", str(r / "coco_annotations.json"),
            "--images", str(r), "--split", str(d["split"]), "--out", o, *extra]


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
    ("run: --lookahead -1", lambda d, o: _run(d) + ["--out", o, "--lookahead", "-1"], ["--lookahead", "got -1"]),
    ("run: --lookahead with yolo first", lambda d, o: _run(d) + ["--out", o, "--lookahead", "3", "--detectors", "yolo"],
     ["--lookahead: needs frcnn", "yolo"]),
    ("run: negative --task-composite-w-spread", lambda d, o: _run(d) + ["--out", o, "--variants", "task-composite",
                                                                         "--task-composite-w-spread", "-1"],
     ["--task-composite-w-spread", "-1.0"]),
    ("run: --plan-only without --rounds", lambda d, o: _run(d) + ["--out", o, "--plan-only"],
     ["--plan-only", "--rounds N"]),
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
    # inputs are sacred: no command writes into, deletes or replaces one of its inputs, whatever --force says
    ("plates: --out is the images folder, --force", lambda d, o: _plates(d, str(d["real"]), "--force"),
     ["--out is one of the command's inputs", "--images"]),
    ("plates: --out holds the images, --force", lambda d, o: _plates(d, str(d["root"]), "--force"),
     ["holds the input", "would be replaced"]),
    ("plates: --force on a folder it did not write", lambda d, o: _plates(d, str(d["root"] / "notplates"), "--force"),
     ["notplates", "--force replaces only a plates folder", "plates.json"]),
    ("align fit: --out is its COCO", lambda d, o: _fit(d, d["real"] / "coco_annotations.json",
                                                       d["real"] / "coco_annotations.json"),
     ["coco_annotations.json", "--out is one of the command's inputs", "--real"]),
    ("align fit: --out is its split", lambda d, o: _fit(d, d["real"] / "coco_annotations.json", d["split"],
                                                        "--split", str(d["split"])),
     ["split.json", "--out is one of the command's inputs", "--split"]),
    ("align metadata: --out inside the dataset dir", lambda d, o: ["align", "metadata", str(d["real"]), "--out",
                                                                   str(d["real"] / "coco_annotations.json")],
     ["lies inside the input SOURCE", "a dataset dir"]),
    ("align select: --out is the fit", lambda d, o: ["align", "select", "--fit", str(d["split"]), "--probes",
                                                     str(d["root"]), "--total", "4", "--out", str(d["split"])],
     ["--out is one of the command's inputs", "--fit"]),
    ("align select: another selector's option", lambda d, o: ["align", "select", "--fit", str(d["split"]), "--probes",
                                                              str(d["root"]), "--total", "4", "--out", o + ".yaml",
                                                              "--mixture-bandwidth-min", "0.3"],
     ["--mixture-bandwidth-min: an option of selector mixture", "--method is component"]),
    ("run: --mixture-bandwidth-min 0", lambda d, o: _run(d) + ["--out", o, "--mixture-bandwidth-min", "0"],
     ["--mixture-bandwidth-min: between 0 (excluded) and 10"]),
    ("align predict: --out is the dataset's COCO", lambda d, o: ["align", "predict", str(d["real"]), "--real",
                                                                 str(d["real"]), "--out",
                                                                 str(d["real"] / "sidecar.csv")],
     ["lies inside the input", "a dataset dir"]),
    ("align shapes: --out inside the dataset dir", lambda d, o: ["align", "shapes", str(d["undone"]), "--real",
                                                                 str(d["real"]), "--out",
                                                                 str(d["undone"] / "shapes.json")],
     ["lies inside the input", "undone"]),
    ("split: --out is the COCO, --force", lambda d, o: ["split", str(d["real"] / "coco_annotations.json"),
                                                        "--exposed", "3", "--force", "--out",
                                                        str(d["real"] / "coco_annotations.json")],
     ["--out is one of the command's inputs"]),
    ("export: OUT holds the source", lambda d, o: ["export", str(d["real"]), str(d["root"])],
     ["holds the input SOURCE", "would be replaced"]),
    ("benchmark: --out is the images folder", lambda d, o: _bench(d) + ["--out", str(d["real"])],
     ["--out is one of the command's inputs", "--images"]),
    ("run: --out is the images folder", lambda d, o: _run(d) + ["--out", str(d["real"])],
     ["--out is one of the command's inputs", "--images"]),
    # no code from data
    ("benchmark: --init a pickle that runs code", lambda d, o: _bench(d) + ["--out", o, "--init",
                                                                            str(d["root"] / "evil.pt")],
     ["evil.pt", "--init", "refused, the checkpoint holds more than weights"]),
    ("benchmark: --init a text file", lambda d, o: _bench(d) + ["--out", o, "--init", str(d["root"] / "text.pt")],
     ["text.pt", "--init", "not a torch checkpoint"]),
    ("benchmark: --yolo-weights a pickle that runs code", lambda d, o: _bench(d) + [
        "--out", o, "--yolo-weights", str(d["root"] / "evil.pt")], ["evil.pt", "--yolo-weights", "system"]),
    ("benchmark: --yolo-weights a text file", lambda d, o: _bench(d) + ["--out", o, "--yolo-weights",
                                                                        str(d["root"] / "text.pt")],
     ["text.pt", "--yolo-weights", "not an Ultralytics checkpoint"]),
    ("run: --yolo-weights a pickle that runs code", lambda d, o: _run(d) + ["--out", o, "--yolo-weights",
                                                                            str(d["root"] / "evil.pt")],
     ["evil.pt", "--yolo-weights", "system"]),
    ("zoo: --init a pickle that runs code", lambda d, o: ["zoo"] + _run(d)[1:-1] + ["--out", o, "--init",
                                                                                   str(d["root"] / "evil.pt")],
     ["evil.pt", "--init", "refused"]),
    ("align predict: --extractor a pickle that runs code", lambda d, o: [
        "align", "predict", str(d["real"]), "--real", str(d["real"]), "--out", str(Path(o) / "t.csv"),
        "--extractor", str(d["root"] / "evil.pt")], ["evil.pt", "--extractor", "refused"]),
    # paths stay inside the images folder; labels match the files
    ("export: a '..' file name", lambda d, o: ["export", str(d["root"] / "esc" / "dotdot.json"), o, "--images",
                                               str(d["root"] / "esc")],
     ["dotdot.json", "image id 1", "'file_name'", "climbs out"]),
    ("export: an absolute file name", lambda d, o: ["export", str(d["root"] / "esc" / "absolute.json"), o,
                                                    "--images", str(d["root"] / "esc")],
     ["absolute.json", "image id 1", "absolute"]),
    ("export: a symlink out of the images folder", lambda d, o: ["export", str(d["root"] / "esc" / "symlink.json"),
                                                                 o, "--images", str(d["root"] / "esc")],
     ["symlink.json", "image id 1", "outside the images folder"]),
    ("export: width/height unlike the file", lambda d, o: ["export", str(d["real"] / "badsize.json"), o, "--images",
                                                           str(d["real"])],
     ["badsize.json", "image id 1", "'width'/'height'", "64x48", "65x48"]),
    ("align fit: width/height unlike the file", lambda d, o: _fit(d, d["real"] / "badsize.json",
                                                                  Path(o) / "fit.json"),
     ["badsize.json", "image id 1", "64x48"]),
    ("benchmark: width/height unlike the file", lambda d, o: ["benchmark", "run", "--real",
                                                              str(d["real"] / "badsize.json"), "--images",
                                                              str(d["real"]), "--split", str(d["split"]),
                                                              "--detectors", "frcnn", "--out", o],
     ["badsize.json", "image id 1", "64x48"]),
    ("run: a truncated photo", lambda d, o: ["run", "--real", str(d["trunc"] / "coco_annotations.json"), "--images",
                                             str(d["trunc"]), "--split", str(d["split"]), "--grid",
                                             str(d["root"] / "grid.yaml"), "--no-benchmark", "--out", o],
     ["trunc", "image id 1", "does not decode", "fix or replace the photo"]),
    ("run: an unreadable photo (no run.json: the fixed photo is taken)", lambda d, o: [
        "run", "--real", str(d["junk"] / "coco_annotations.json"), "--images", str(d["junk"]), "--split",
        str(d["split"]), "--grid", str(d["root"] / "grid.yaml"), "--no-benchmark", "--out", o],
     ["junk", "image id 2", "not a readable image"]),
    # every option checked before work starts
    ("benchmark: --patience -1", lambda d, o: _bench(d) + ["--out", o, "--patience", "-1"],
     ["--patience must be >= 0"]),
    ("benchmark: --batch 0", lambda d, o: _bench(d) + ["--out", o, "--batch", "0"], ["--batch >= 1"]),
    ("benchmark: --device cuda:7", lambda d, o: _bench(d) + ["--out", o, "--device", "cuda:7"],
     ["--device cuda:7", "no such device"]),
    ("benchmark: a wrong --yolo-model", lambda d, o: _bench(d)[:-4] + ["--detectors", "yolo", "--epochs", "1",
                                                                       "--out", o, "--yolo-model", "yolov99q.yaml"],
     ["--yolo-model yolov99q.yaml", "neither a file nor a model yaml"]),
    ("benchmark: --yolo-model a .pt", lambda d, o: _bench(d)[:-4] + ["--detectors", "yolo", "--epochs", "1",
                                                                     "--out", o, "--yolo-model", "yolov8n.pt"],
     ["--yolo-model yolov8n.pt", "--yolo-weights"]),
    ("benchmark: --frcnn-precision fp16", lambda d, o: _bench(d) + ["--out", o, "--frcnn-precision", "fp16"],
     ["--frcnn-precision fp16", "expected one of auto, fp32, bf16"]),
    ("benchmark: --frcnn-freeze 19", lambda d, o: _bench(d) + ["--out", o, "--frcnn-freeze", "19"],
     ["--frcnn-freeze 19", "expected 0-18"]),
    ("split: --exposed 1.5", lambda d, o: ["split", str(d["real"] / "coco_annotations.json"), "--exposed", "1.5",
                                           "--out", str(Path(o) / "s.json")], ["--exposed", "1.5"]),
    ("split: --exposed nan", lambda d, o: ["split", str(d["real"] / "coco_annotations.json"), "--exposed", "nan",
                                           "--out", str(Path(o) / "s.json")], ["--exposed", "nan"]),
    ("split: --exposed 0", lambda d, o: ["split", str(d["real"] / "coco_annotations.json"), "--exposed", "0",
                                         "--out", str(Path(o) / "s.json")], ["--exposed", "count >= 1"]),
    ("plates: --margin nan", lambda d, o: _plates(d, o, "--margin", "nan"), ["--margin", "nan"]),
    ("plates: --size 100000 100000", lambda d, o: _plates(d, o, "--size", "100000", "100000"),
     ["--size", "8 to 8192 px", "100000"]),
    ("align fit: COCO top level is a list, with --split", lambda d, o: _fit(d, d["real"] / "list.json",
                                                                            Path(o) / "fit.json", "--split",
                                                                            str(d["split"])),
     ["list.json", "top level must be an object"]),
    ("align compare: COCO top level is a list, with --split", lambda d, o: [
        "align", "compare", "--real", str(d["real"] / "list.json"), "--split", str(d["split"]), str(d["real"]),
        "--out", o], ["list.json", "top level must be an object"]),
    ("refine train: --renders not a dataset dir", lambda d, o: _refine(d, o, "--renders", str(d["root"])),
     ["--renders", "not a dataset dir"]),
    ("refine train: --out is the real set", lambda d, o: _refine(d, str(d["real"])), ["--out", "inputs"]),
    ("refine train: --steps 0", lambda d, o: _refine(d, o, "--steps", "0"), ["--steps", "at least 1"]),
    ("refine train: --crop over the image", lambda d, o: _refine(d, o, "--crop", "400", "--steps", "1"),
     ["--crop 400", "smallest"]),
    ("refine train: --task-detector missing", lambda d, o: _refine(d, o, "--method", "learned-task",
                                                                  "--task-detector", str(d["root"] / "gone.pt")),
     ["gone.pt", "--task-detector", "not found"]),
    ("refine train: --w-task nan", lambda d, o: _refine(d, o, "--w-task", "nan"), ["--w-task", "nan"]),
    ("refine apply: unfinished refiner", lambda d, o: ["refine", "apply", "--refiner", str(d["root"]), "--src",
                                                        str(d["real"]), "--out", o], ["--refiner", "no DONE"]),
    ("refine apply: --out is the source", lambda d, o: ["refine", "apply", "--refiner", str(d["root"]), "--src",
                                                         str(d["real"]), "--out", str(d["real"])], ["--out", "inputs"]),
]


@pytest.mark.parametrize("name,argv,want", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_leaves_nothing(data, tmp_path, capsys, name, argv, want):
    from synthgap.cli import main
    out = tmp_path / "out"
    before = sorted(p.name for p in data["root"].iterdir())
    inputs = _tree_hash(data["root"])
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
    assert _tree_hash(data["root"]) == inputs, "an input was changed"
    assert not (data["root"] / "PWNED").exists(), "a checkpoint ran code"


def test_run_refuses_a_real_set_edited_since_it_started(data, tmp_path):
    """`synthgap run` pins the real COCO, the split and the exposed images by content, not by path or mtime."""
    from core.errors import UserError
    from synthgap.options import RunOptions
    from synthgap.inputs import check_run_json, load_inputs
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
