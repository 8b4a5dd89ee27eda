"""Reliability beyond the bad-input table: inputs are sacred, no code from data, resumes pinned by content,
atomic exports, empty sets (the reliability issue)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from benchmark.toydata import make_toy_set, make_toy_split
from core.errors import UserError

REPO = Path(__file__).resolve().parent.parent


def test_no_torch_load_without_weights_only_true():
    """Every torch.load in the project passes weights_only=True (core/checkpoint.py is the gate)."""
    bad = []
    for f in REPO.rglob("*.py"):
        if any(part.startswith(".") for part in f.relative_to(REPO).parts) or f.name == Path(__file__).name:
            continue
        text = f.read_text(encoding="utf-8")
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start(): text.find(")", m.start()) + 1]
            if "weights_only=True" not in call:
                bad.append(f"{f.relative_to(REPO)}:{text[:m.start()].count(chr(10)) + 1}")
    assert not bad, bad


def test_plates_force_replaces_its_own_folder_only(tmp_path):
    from render.plates import make_plates
    real = make_toy_set(tmp_path / "real", 4, size=(64, 48), seed=1, max_objects=1)
    split = make_toy_split(tmp_path / "split.json", 4, 2)
    args = (str(real / "coco_annotations.json"), str(real), str(split), str(tmp_path / "pl"), (16, 12))
    first = make_plates(*args)
    again = make_plates(*args, force=True)                  # its own plates folder (plates.json): replaced
    assert again == first and (tmp_path / "pl" / "plates.json").is_file()
    with pytest.raises(UserError, match="use --force"):
        make_plates(*args)


def test_export_is_atomic_and_data_yaml_comes_with_done(tmp_path, monkeypatch):
    """A killed export leaves no folder marked done (data.yaml is written before the rename)."""
    import benchmark.convert as convert
    real_replace = convert.os.replace
    src = make_toy_set(tmp_path / "src", 3, size=(64, 48))
    out = tmp_path / "exp"

    class Killed(Exception):
        pass

    def killed(a, b, *rest, **k):
        if Path(b) == out:
            raise Killed                                     # the process dies just before the final rename
        return real_replace(a, b, *rest, **k)
    monkeypatch.setattr(convert.os, "replace", killed)
    with pytest.raises(Killed):
        convert.export_dataset(src, out)
    assert not out.exists()
    monkeypatch.setattr(convert.os, "replace", real_replace)
    convert.export_dataset(src, out)
    assert (out / "DONE").is_file() and (out / "data.yaml").is_file()


def test_a_permission_error_is_one_line(capsys):
    from core.cli import run_cli

    def main(argv):
        raise PermissionError(13, "Permission denied", "/ro/out/x.json")
    assert run_cli("synthgap x", main, []) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/ro/out/x.json" in err[0] and "Permission denied" in err[0]


def test_an_unwritable_out_is_refused_before_work(tmp_path, monkeypatch):
    import tempfile

    from core.io import check_out_dir

    def ro(*a, **k):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(tempfile, "mkstemp", ro)
    with pytest.raises(UserError, match="--out: cannot write in .*Read-only file system"):
        check_out_dir(tmp_path / "new" / "run")


def test_realism_of_an_empty_set_is_a_user_error(tmp_path):
    """A filtered set with no image is left out with a note by its callers, never an IndexError."""
    from align.realism_metrics import realism
    from core.coco import load_coco, write_subset_dir
    real = make_toy_set(tmp_path / "real", 4, size=(64, 48))
    write_subset_dir(real, tmp_path / "empty", set(), {})
    with pytest.raises(UserError, match="0 image"):
        realism(load_coco(real), [1, 2, 3], load_coco(tmp_path / "empty"), B=10)


def test_ultralytics_gate_accepts_a_model_and_refuses_code(tmp_path):
    import torch

    from core.checkpoint import check_ultralytics
    from tests.test_bad_inputs import _Evil
    from ultralytics.nn.tasks import DetectionModel
    torch.save({"model": DetectionModel("yolov8n.yaml", nc=2, verbose=False)}, tmp_path / "y.pt")
    assert check_ultralytics(tmp_path / "y.pt") == tmp_path / "y.pt"
    torch.save({"model": _Evil(tmp_path / "PWNED")}, tmp_path / "e.pt")
    with pytest.raises(UserError, match="system"):
        check_ultralytics(tmp_path / "e.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(UserError, match="no ultralytics model"):
        check_ultralytics(tmp_path / "plain.pt")
    assert not (tmp_path / "PWNED").exists()


def test_benchmark_pins_the_real_set_by_content(tmp_path):
    """A real COCO edited in place is refused (finished cells used the old labels); --accept-changed-inputs moves
    what was made from the old inputs to OUT/superseded/ and starts over; the same photos copied elsewhere pass."""
    from benchmark.run import RunSpec, _write_run_json
    from core.coco import load_coco
    real = make_toy_set(tmp_path / "real", 6, size=(64, 48))
    split = make_toy_split(tmp_path / "split.json", 6, 3)
    out = tmp_path / "bench"

    def spec(r, **kw):
        return RunSpec(variants=[], real_json=str(r / "coco_annotations.json"), images_dir=str(r), split=str(split),
                       out=str(out), **kw)
    _write_run_json(spec(real), out, load_coco(real))
    (out / "results").mkdir()
    (out / "results" / "real__frcnn__seed0.json").write_text("{}")
    coco = json.loads((real / "coco_annotations.json").read_text())
    coco["annotations"][0]["bbox"][2] -= 1
    (real / "coco_annotations.json").write_text(json.dumps(coco))
    with pytest.raises(UserError, match="real COCO json was edited.*--accept-changed-inputs"):
        _write_run_json(spec(real), out, load_coco(real))
    _write_run_json(spec(real, accept_changed=True), out, load_coco(real))
    moved = list((out / "superseded").glob("*/results/real__frcnn__seed0.json"))
    assert moved and not (out / "results").exists()
    assert json.loads((out / "run.json").read_text())["pins"]["real_content"]
    _write_run_json(spec(real), out, load_coco(real))                  # resumes with the new pins


def test_run_accepts_a_fixed_input_when_asked(tmp_path):
    """A photo fixed in place: refused with the hint, then --accept-changed-inputs supersedes what was computed
    from the old photo and pins the new one; the probes stay."""
    from PIL import Image

    from synthgap.options import RunOptions
    from synthgap.inputs import check_run_json, load_inputs
    real = make_toy_set(tmp_path / "real", 8, size=(64, 48), seed=1)
    split = make_toy_split(tmp_path / "split.json", 8, 4)
    (tmp_path / "grid.yaml").write_text("camera: {distance: {grid: [[0.5, 0.7], [2.0, 2.2]]}}\n")
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=split,
                      grid=tmp_path / "grid.yaml", out=tmp_path / "run")
    grid, _, files = load_inputs(opts)
    check_run_json(opts, grid, files)
    for name in ("fit.json", "real_metadata.json", "probes/cfg/DONE"):
        (opts.out / name).parent.mkdir(parents=True, exist_ok=True)
        (opts.out / name).write_text("{}")
    Image.new("RGB", (64, 48), (9, 9, 9)).save(real / "images" / "000001.jpg")
    with pytest.raises(UserError, match="exposed image files were replaced.*--accept-changed-inputs"):
        check_run_json(opts, *[load_inputs(opts)[i] for i in (0, 2)])
    opts.accept_changed = True
    check_run_json(opts, *[load_inputs(opts)[i] for i in (0, 2)])
    assert (opts.out / "probes" / "cfg" / "DONE").exists() and not (opts.out / "fit.json").exists()
    assert list((opts.out / "superseded").glob("*/fit.json")) and list((opts.out / "superseded").glob(
        "*/real_metadata.json"))
    opts.accept_changed = False
    check_run_json(opts, *[load_inputs(opts)[i] for i in (0, 2)])       # the fixed photo is the input now


def test_inputs_guard_allows_outputs_beside_and_above_inputs(tmp_path):
    """What stays allowed: a new file beside the COCO in its folder, a run folder that holds its inputs (the
    demo's stand-in target lives in RUN/target), and an earlier output inside an images folder."""
    from core.io import check_not_input
    real = make_toy_set(tmp_path / "real", 2, size=(64, 48))
    imgs = tmp_path / "photos"
    shutil.copytree(real / "images", imgs)
    (imgs / "fit.json").write_text("{}")
    inputs = [("--real", tmp_path / "c.json"), ("--images", imgs)]
    (tmp_path / "c.json").write_text("{}")
    assert check_not_input(tmp_path / "split.json", inputs) == tmp_path / "split.json"
    assert check_not_input(tmp_path, inputs) == tmp_path
    assert check_not_input(imgs / "fit.json", inputs) == imgs / "fit.json"
    with pytest.raises(UserError, match="lies inside the input --images"):
        check_not_input(imgs / "000001.jpg", inputs)
    with pytest.raises(UserError, match="holds the input"):
        check_not_input(tmp_path, inputs, deletes=True)
