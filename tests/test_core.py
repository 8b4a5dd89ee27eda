"""core/ (the ground floor) and the one metadata cache built on it."""
from __future__ import annotations

import json
import os

import pytest

from core.errors import UserError


def test_written_files_are_0644_under_umask_0022(tmp_path):
    from core.io import atomic_write_bytes, atomic_write_json, atomic_write_text
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
        atomic_write_bytes(tmp_path / "sub" / "c.bin", b"\0")
    finally:
        os.umask(old)
    for p in (tmp_path / "a.txt", tmp_path / "b.json", tmp_path / "sub" / "c.bin"):
        assert (p.stat().st_mode & 0o777) == 0o644, p
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_yaml_and_json_errors_name_file_line_and_column(tmp_path):
    from core.io import load_yaml, read_json
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(UserError, match=r"bad.yaml: not valid YAML \(.* at line \d+ column \d+\)"):
        load_yaml(bad)
    with pytest.raises(UserError, match="expected a file, found a folder"):
        load_yaml(tmp_path)
    js = tmp_path / "bad.json"
    js.write_text('{"a": 1,,}')
    with pytest.raises(UserError, match=r"bad.json: not valid json \(.* at line 1 column 9\)"):
        read_json(js)


def test_check_out_dir_refuses_files_and_paths_below_files(tmp_path):
    from core.io import check_out_dir
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="--out is an existing file"):
        check_out_dir(f)
    with pytest.raises(UserError, match="lies below .*file"):
        check_out_dir(f / "sub" / "dir")
    assert check_out_dir(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"


def test_registry_lazy_paths_choices_and_errors():
    from core.registry import Registry
    r = Registry("widget", "--widgets")
    r.register("json", "json:dumps")
    r.register("mine", len)
    assert r.names() == ["json", "mine"] and r.get("json")({"a": 1}) == '{"a": 1}' and r.get("mine") is len
    with pytest.raises(ValueError):
        r.register("mine", str)
    with pytest.raises(UserError, match=r"--widgets: unknown widget 'nope' \(choose from json, mine\)"):
        r.get("nope")
    with pytest.raises(UserError, match=r"unknown widget \['x'\]"):
        r.check(["mine", "x"])
    with pytest.raises(UserError, match="none given"):
        r.check([])


def test_mean_sd_is_the_sample_standard_deviation():
    from core.stats import fmt_mean_sd, mean_sd
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    assert mean_sd([5.0]) == (5.0, 0.0) and mean_sd([]) == (None, None) and mean_sd([None, 2.0]) == (2.0, 0.0)
    assert fmt_mean_sd(2.0, 2 ** 0.5, 2) == "2.000 ± 1.414 (n=2)" and fmt_mean_sd(None, None, 0) == "n/a"


def test_metadata_cache_reuses_unchanged_sets_and_recomputes_changed_ones(tmp_path, monkeypatch):
    import align.metadata as am
    from benchmark.toydata import make_toy_set
    monkeypatch.setenv("SYNTHGAP_CACHE", str(tmp_path / "cache"))
    d = make_toy_set(tmp_path / "set", 4, size=(64, 48), seed=1)
    calls = []
    real_table_from_coco = am.table_from_coco
    monkeypatch.setattr(am, "table_from_coco", lambda *a, **k: calls.append(1) or real_table_from_coco(*a, **k))
    t1 = am.metadata_for_dir(d, dataset="first")
    t2 = am.metadata_for_dir(d, dataset="second")
    assert len(calls) == 1 and t2.dataset == "second" and set(t2.strings("dataset", None)) == {"second"}
    for c in t1.columns:
        if c != "dataset":
            a, b = t1.data[c], t2.data[c]
            assert [str(x) for x in a] == [str(x) for x in b], c
    am.metadata_for_dir(d, category="cup")                      # another filter: another table
    assert len(calls) == 2
    from PIL import Image
    Image.new("RGB", (64, 48), (255, 255, 255)).save(d / "images" / "000001.jpg")   # an image replaced
    t3 = am.metadata_for_dir(d)
    assert len(calls) == 3 and t3.values("brightness", "image")[0] > t1.values("brightness", "image")[0]
    coco = json.loads((d / "coco_annotations.json").read_text())
    coco["annotations"] = coco["annotations"][:1]              # the COCO edited in place
    (d / "coco_annotations.json").write_text(json.dumps(coco))
    assert am.metadata_for_dir(d).n("bbox") == 1 and len(calls) == 4


def test_split_reproduces_the_bottles_split_and_is_disjoint(realset, tmp_path, capsys):
    from core.coco import load_split
    from core.split import make_split
    from synthgap.cli import main
    out = tmp_path / "split.json"
    assert main(["split", str(realset / "annotations_coco.json"), "--category", "bottle", "--exposed", "30",
                 "--out", str(out)]) == 0
    mine, theirs = load_split(out), load_split(realset / "split.json")
    assert sorted(mine.exposed) == sorted(theirs.exposed) and sorted(mine.test) == sorted(theirs.test)
    assert main(["split", str(realset / "annotations_coco.json"), "--exposed", "30", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    a = make_split(realset / "annotations_coco.json", 0.25, seed=7)
    b = make_split(realset / "annotations_coco.json", 0.25, seed=7)
    c = make_split(realset / "annotations_coco.json", 0.25, seed=8)
    assert a == b and a["exposed"] != c["exposed"] and not set(a["exposed"]) & set(a["test"])
    assert len(a["exposed"]) + len(a["test"]) == 89
    s = make_split(realset / "annotations_coco.json", 20, stratify=True)
    assert len(s["exposed"]) == 20 and s["rule"]["stratify"]
    for bad in (0, 89, 200):
        with pytest.raises(UserError, match="--exposed"):
            make_split(realset / "annotations_coco.json", bad)
    with pytest.raises(UserError, match="category 'vase'"):
        make_split(realset / "annotations_coco.json", 5, category="vase")


def test_merge_dirs_renumbers_images_annotations_and_sidecars(tmp_path):
    """Two finished sets merged up to 5 images: ids from 1, files images/<id>.<ext> (hard links), annotations
    and sidecar records follow their images."""
    from benchmark.toydata import make_toy_set
    from core.coco import load_coco, merge_dirs
    a, b = make_toy_set(tmp_path / "a", 3, seed=1), make_toy_set(tmp_path / "b", 4, seed=2)
    for d in (a, b):
        coco = json.loads((d / "coco_annotations.json").read_text())
        (d / "sidecar.json").write_text(json.dumps({
            "images": {str(im["id"]): {"src": f"{d.name}:{im['file_name']}"} for im in coco["images"]},
            "annotations": {str(x["id"]): {"src": f"{d.name}:{x['id']}"} for x in coco["annotations"]}}))
    assert merge_dirs([a, b], tmp_path / "m", 5, {"zoo": "test"}) == 5
    m = json.loads((tmp_path / "m" / "coco_annotations.json").read_text())
    side = json.loads((tmp_path / "m" / "sidecar.json").read_text())
    assert [im["id"] for im in m["images"]] == [1, 2, 3, 4, 5] and (tmp_path / "m" / "DONE").exists()
    assert [side["images"][str(i)]["src"].split(":")[0] for i in range(1, 6)] == ["a", "a", "a", "b", "b"]
    a_anns = json.loads((a / "coco_annotations.json").read_text())["annotations"]
    b_anns = [x for x in json.loads((b / "coco_annotations.json").read_text())["annotations"] if x["image_id"] <= 2]
    assert len(m["annotations"]) == len(a_anns) + len(b_anns)
    assert [x["id"] for x in m["annotations"]] == list(range(1, len(m["annotations"]) + 1))
    assert all(side["annotations"][str(x["id"])] for x in m["annotations"]) and m["info"]["zoo"] == "test"
    cs = load_coco(tmp_path / "m")                         # a valid dataset dir: files present, boxes inside
    assert len(cs.images) == 5 and os.stat(tmp_path / "m" / "images" / "000004.jpg").st_nlink == 2


def test_progress_lines_on_a_stream_that_is_not_a_terminal():
    """core.progress (tqdm): off a terminal each redraw is one line (counts, percent, ETA, postfix), nested bars
    write no cursor moves, and the bar is what tests/test_bad_inputs.py filters out of stderr."""
    import io
    import re

    from core.progress import Progress, fmt_duration
    buf = io.StringIO()
    with Progress(2, "cells", interval=0.0, stream=buf) as outer:
        with Progress(4, "epochs", initial=1, interval=0.0, stream=buf) as inner:
            inner.update(3, postfix="val mAP 0.5")
            inner.n -= 1                                   # work redone: the count may go back
        outer.update(2)
    lines = buf.getvalue().splitlines()
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()
    assert lines[0] == "cells [------------------------] 0/2   0.0% elapsed 00:00 eta ?"
    assert lines[1] == "epochs [######------------------] 1/4  25.0% elapsed 00:00 eta ?"
    assert re.fullmatch(r"epochs \[#{24}\] 4/4 100\.0% elapsed 00:00 eta 00:00, val mAP 0\.5", lines[2])
    assert lines[-1].startswith("cells [########################] 2/2 100.0%")
    assert all(re.search(r"\[[#-]{24}\] \d+/\d+", ln) for ln in lines)
    assert (fmt_duration(61.6), fmt_duration(3725.4), fmt_duration(-3)) == ("01:02", "1:02:05", "00:00")


def test_timed_adds_a_blocks_wall_seconds_and_skips_a_failed_block(tmp_path):
    from core.io import timed
    path = tmp_path / "t.json"
    with timed(path, "a"):
        pass
    with timed(path, "a"):                        # a resumed part adds to the same key
        pass
    with pytest.raises(RuntimeError):
        with timed(path, "b"):
            raise RuntimeError("killed")
    rec = json.loads(path.read_text())
    assert set(rec) == {"a"} and 0.0 <= rec["a"] < 5.0
