"""`synthgap import` (core/label_import.py): YOLO and Pascal VOC labels -> the COCO file every reader loads.

Tiny generated sets (a few 32-64 px images): pixel boxes, load_coco accepting the result, determinism, --copy,
rebuilds, and the bad-label errors (one line naming the file and the line / object, exit 2, nothing written)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from core.coco import load_coco
from core.errors import UserError
from core.label_import import COCO_FILE, convert, import_labels
from synthgap.cli import main as cli


def _img(path: Path, w: int, h: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (90, 120, 150)).save(path)
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _yolo(root: Path, names_yaml: str = "names: [cat, dog]\n") -> Path:
    """train: a.png (64x48, two boxes), b.png (32x32, no label file); val: c.png (40x20, one segment line)."""
    _img(root / "images/train/a.png", 64, 48)
    _img(root / "images/train/b.png", 32, 32)
    _img(root / "images/val/c.png", 40, 20)
    _write(root / "labels/train/a.txt", "0 0.5 0.5 0.25 0.5\n\n1 0.1 0.2 0.2 0.4\n")
    _write(root / "labels/val/c.txt", "1 0.1 0.1 0.5 0.1 0.3 0.6\n")
    return _write(root / "data.yaml", f"path: .\ntrain: images/train\nval: images/val\n{names_yaml}")


YOLO_BOXES = {"train/a.png": [(1, [24, 12, 16, 24]), (2, [0, 0, 12.8, 19.2])], "train/b.png": [],
              "val/c.png": [(2, [4, 2, 16, 10])]}


def _voc(root: Path) -> Path:
    """x.jpg (64x48): a dog over the whole image, a difficult cat; y.jpg (32x32): one cat."""
    _img(root / "JPEGImages/x.jpg", 64, 48)
    _img(root / "JPEGImages/y.jpg", 32, 32)
    obj = ("<object><name>{}</name><difficult>{}</difficult><bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax>"
           "<ymax>{}</ymax></bndbox></object>")
    _write(root / "Annotations/x.xml", "<annotation><folder>VOC</folder><filename>x.jpg</filename><size><width>64"
           "</width><height>48</height><depth>3</depth></size>" + obj.format("dog", 0, 1, 1, 64, 48)
           + obj.format("cat", 1, 11, 21, 30, 40) + "</annotation>")
    _write(root / "Annotations/y.xml", "<annotation><filename>y.jpg</filename>" + obj.format("cat", 0, 5, 5, 10, 10)
           + "</annotation>")
    return root


def _boxes(coco: dict) -> dict[str, list]:
    out = {im["file_name"]: [] for im in coco["images"]}
    by_id = {im["id"]: im["file_name"] for im in coco["images"]}
    for a in coco["annotations"]:
        out[by_id[a["image_id"]]].append((a["category_id"], a["bbox"]))
    return out


def _same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for k in want:
        assert [c for c, _ in got[k]] == [c for c, _ in want[k]], k
        for (_, b), (_, e) in zip(got[k], want[k]):
            assert b == pytest.approx(e, abs=0.01), k


def test_yolo_boxes_names_and_load_coco(tmp_path):
    conv, cs = import_labels("yolo", _yolo(tmp_path / "ds"), tmp_path / "out")
    coco = json.loads((tmp_path / "out" / COCO_FILE).read_text())
    _same(_boxes(coco), YOLO_BOXES)
    assert [im["id"] for im in coco["images"]] == [1, 2, 3]
    assert coco["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    assert all(a["iscrowd"] == 0 and a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3], abs=0.01)
               for a in coco["annotations"])
    assert cs.images_dir == tmp_path / "ds" / "images" and len(cs.annotations) == 3
    load_coco(tmp_path / "out" / COCO_FILE, tmp_path / "ds" / "images")
    rec = json.loads((tmp_path / "out" / "import.json").read_text())
    assert (rec["format"], rec["names"], rec["images"], rec["boxes"]) == ("yolo", ["cat", "dog"], 3, 3)


def test_yolo_names_dict_list_of_folders_and_txt_list(tmp_path):
    src = _yolo(tmp_path / "ds", "names: {0: cat, 1: dog}\n")
    _write(tmp_path / "ds" / "val.txt", "./images/val/c.png\n")
    _write(src, "train: [images/train]\nval: val.txt\nnames: {0: cat, 1: dog}\n")
    _same(_boxes(convert("yolo", src).coco), YOLO_BOXES)
    _same(_boxes(convert("yolo", tmp_path / "ds").coco), YOLO_BOXES)         # the folder holding data.yaml


def test_voc_boxes_difficult_names_order(tmp_path):
    src = _voc(tmp_path / "voc")
    conv, cs = import_labels("voc", src, tmp_path / "out")
    _same(_boxes(conv.coco), {"x.jpg": [(2, [0, 0, 64, 48]), (1, [10, 20, 20, 20])], "y.jpg": [(1, [4, 4, 6, 6])]})
    assert [a["voc_difficult"] for a in conv.coco["annotations"]] == [0, 1, 0]
    assert cs.images_dir == src / "JPEGImages"
    fixed = convert("voc", src, ["dog", "cat", "bird"])
    assert [c["name"] for c in fixed.coco["categories"]] == ["dog", "cat", "bird"]
    assert [a["category_id"] for a in fixed.coco["annotations"]] == [1, 2, 2]
    with pytest.raises(UserError, match=r"x\.xml: object 2: class 'cat' not in --names"):
        convert("voc", src, ["dog"])


def test_deterministic_copy_and_rebuild(tmp_path, capsys):
    src = _yolo(tmp_path / "ds")
    for out in ("o1", "o2"):
        assert cli(["import", "--format", "yolo", str(src), "--out", str(tmp_path / out)]) == 0
    assert (tmp_path / "o1" / COCO_FILE).read_bytes() == (tmp_path / "o2" / COCO_FILE).read_bytes()
    assert f"--images {tmp_path / 'ds' / 'images'}" in capsys.readouterr().out
    assert cli(["import", "--format", "yolo", str(src), "--out", str(tmp_path / "o1"), "--copy"]) == 0   # rebuilt
    cs = load_coco(tmp_path / "o1" / COCO_FILE, tmp_path / "o1")
    assert [im["file_name"] for im in cs.images] == ["images/train/a.png", "images/train/b.png", "images/val/c.png"]
    (tmp_path / "o1" / "split.json").write_text("{}")
    assert cli(["import", "--format", "yolo", str(src), "--out", str(tmp_path / "o1")]) == 2
    assert "split.json" in capsys.readouterr().err and (tmp_path / "o1" / "images").is_dir()
    assert cli(["import", "--format", "yolo", str(src), "--out", str(tmp_path / "ds" / "images" / "x")]) == 2
    assert not (tmp_path / "ds" / "images" / "x").exists()


def test_export_then_import_round_trip(tmp_path):
    from benchmark.convert import export_dataset
    conv, _ = import_labels("voc", _voc(tmp_path / "voc"), tmp_path / "coco")
    export_dataset(tmp_path / "coco" / COCO_FILE, tmp_path / "yolo", images_dir=conv.root)
    back = convert("yolo", tmp_path / "yolo" / "data.yaml")       # train = val = images: each image once
    assert len(back.coco["images"]) == 2 and back.names == conv.names
    got = sorted(bb for v in _boxes(back.coco).values() for _, bb in v)
    want = sorted(bb for v in _boxes(conv.coco).values() for _, bb in v)
    assert len(got) == len(want) and all(g == pytest.approx(w, abs=0.01) for g, w in zip(got, want))


def _refused(capsys, tmp_path, fmt: str, src: Path, *must: str) -> None:
    out = tmp_path / "out"
    assert cli(["import", "--format", fmt, str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("synthgap import: error: "), err
    for m in must:
        assert m in err, err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.parametrize("label, line, what", [
    ("0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.1 0.1\n", 2, "class id 2 out of range"),
    ("0 0.95 0.5 0.2 0.2\n", 1, "outside the image"),
    ("0 0.5 0.5 0.1\n", 1, "4 fields"),
    ("0 0.5 nan 0.1 0.1\n", 1, "not a finite number"),
    ("0 0.5 0.5 0 0.1\n", 1, "zero or negative size"),
])
def test_yolo_bad_labels(tmp_path, capsys, label, line, what):
    src = _yolo(tmp_path / "ds")
    lab = _write(tmp_path / "ds" / "labels/train/a.txt", label)
    _refused(capsys, tmp_path, "yolo", src, f"{lab}: line {line}: ", what)


def test_yolo_label_without_image(tmp_path, capsys):
    src = _yolo(tmp_path / "ds")
    lab = _write(tmp_path / "ds" / "labels/train/zzz.txt", "0 0.5 0.5 0.1 0.1\n")
    _refused(capsys, tmp_path, "yolo", src, f"{lab}: label file without an image")


@pytest.mark.parametrize("xml, what", [
    ("<annotation><filename>x.jpg</filename><object><name>a</name>", "not valid XML"),
    ("<annotation><filename>x.jpg</filename><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
     "<xmax>9</xmax></bndbox></object></annotation>", "object 1: bndbox: tag 'ymax': missing"),
    ("<annotation><filename>x.jpg</filename><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
     "<xmax>70</xmax><ymax>9</ymax></bndbox></object></annotation>", "object 1: bndbox 1 1 70 9 (1-based) lies "
     "outside"),
    ("<annotation><filename>x.jpg</filename><size><width>50</width><height>48</height></size></annotation>",
     "tag 'size': 50x48 but the image file"),
    ("<annotation><filename>nope.jpg</filename></annotation>", "image 'nope.jpg' not found"),
    ('<!DOCTYPE a [<!ENTITY e "x">]><annotation><filename>x.jpg</filename></annotation>', "DOCTYPE/ENTITY"),
])
def test_voc_bad_xml(tmp_path, capsys, xml, what):
    src = _voc(tmp_path / "voc")
    bad = _write(src / "Annotations" / "x.xml", xml)
    _refused(capsys, tmp_path, "voc", src, f"{bad}: ", what)


def test_yolo_tolerance_clips_and_exif_rotation_is_refused(tmp_path, capsys):
    src = _yolo(tmp_path / "ds")
    _write(tmp_path / "ds" / "labels/train/a.txt", "0 0.5 0.5 1.0005 0.5\n")       # 0.00025 over each side
    assert _boxes(convert("yolo", src).coco)["train/a.png"] == [(1, [0.0, 12.0, 64.0, 24.0])]
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (64, 48)).save(tmp_path / "ds" / "images/train/a.jpg", exif=exif)
    (tmp_path / "ds" / "images/train/a.png").unlink()
    _refused(capsys, tmp_path, "yolo", src, "a.jpg: EXIF orientation 6")


def test_out_may_not_be_or_hold_the_source(tmp_path, capsys):
    src = _voc(tmp_path / "voc")
    for out in (src, tmp_path):
        assert cli(["import", "--format", "voc", str(src), "--out", str(out)]) == 2
        assert "input" in capsys.readouterr().err
    assert sorted(p.name for p in src.iterdir()) == ["Annotations", "JPEGImages"]


def test_real_accepts_yolo_and_voc_directly(tmp_path, monkeypatch, capsys):
    """--real takes a data.yaml, a YOLO folder or a VOC folder (core/real_source.py): the same COCO as
    `synthgap import` (ids and boxes), cached by content, the images where they are; `split` takes them too; a
    COCO json passes through; an --images naming another folder is one line."""
    from core.real_source import real_format, resolve_real
    monkeypatch.setenv("SYNTHGAP_CACHE", str(tmp_path / "cache"))
    src = _yolo(tmp_path / "ds")
    assert cli(["import", "--format", "yolo", str(src), "--out", str(tmp_path / "imp")]) == 0
    want = json.loads((tmp_path / "imp" / COCO_FILE).read_text())
    for given in (src, src.parent):
        j, images = resolve_real(given, None)
        got = json.loads(j.read_text())
        assert images == tmp_path / "ds" / "images" and j.is_relative_to(tmp_path / "cache" / "imports")
        assert [(im["id"], im["file_name"]) for im in got["images"]] == \
            [(im["id"], im["file_name"]) for im in want["images"]]
        _same(_boxes(got), YOLO_BOXES)
        assert resolve_real(given, None)[0] == j                   # the same labels: the same file
    assert real_format(_voc(tmp_path / "voc")) == "voc"
    j, images = resolve_real(tmp_path / "voc", None)
    assert images == tmp_path / "voc" / "JPEGImages" and len(load_coco(j, images).annotations) == 3
    coco = tmp_path / "imp" / COCO_FILE
    assert resolve_real(coco, None) == (coco, coco.parent) and resolve_real(coco, tmp_path)[1] == tmp_path
    with pytest.raises(UserError, match="names another folder"):
        resolve_real(src, tmp_path)
    assert cli(["split", str(src), "--exposed", "2", "--out", str(tmp_path / "s1.json")]) == 0
    assert cli(["split", str(coco), "--exposed", "2", "--out", str(tmp_path / "s2.json")]) == 0
    assert (tmp_path / "s1.json").read_bytes() == (tmp_path / "s2.json").read_bytes()
    _write(tmp_path / "ds/labels/train/a.txt", "5 0.5 0.5 0.2 0.2\n")          # a bad label: one line, named
    assert cli(["split", str(src), "--exposed", "2", "--out", str(tmp_path / "s3.json")]) == 2
    err = capsys.readouterr().err
    assert "a.txt" in err and "line 1" in err and not (tmp_path / "s3.json").exists()
