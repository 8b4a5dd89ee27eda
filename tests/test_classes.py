"""Several classes in one run (synthgap/classes.py, issue 23 part 3) at toy scale: a stand-in target whose
bottles are large and cups small, a grid whose camera distance sets the object size, a renderer stand-in that
draws the classes a config asks for. Pooled, one fit would mix the sizes; per class, the bottles' plan must
take the near config and the cups' the far one, in the photos' proportions, with the other class never a
distractor; distances and mAP come per class."""
import json
from pathlib import Path

import pytest

from core.api import UserError
from standins import stand_in_trained

SIZE = (64, 48)
NAMES = ("bottle", "cup")
SHIFT = {0.5: 0.0, 2.0: 0.9}           # camera distance (a grid value's low end) -> object size shift


def _toy(out: Path, n: int, seed: int, classes, shift: float, config: dict | None = None) -> Path:
    """Toy images of `classes` only, with both categories in the file (as the manifest's renders have)."""
    from benchmark.toydata import make_toy_set
    parts = []
    for k, c in enumerate(classes):
        m = n // len(classes) + (1 if k < n % len(classes) else 0)
        parts.append(make_toy_set(out.parent / f".{out.name}-{c}", m, size=SIZE, seed=seed + k, max_objects=1,
                                  names=(c,), category_offset=NAMES.index(c), shift=shift))
    from core.api import merge_dirs
    for p in parts:
        coco = json.loads((p / "coco_annotations.json").read_text())
        coco["categories"] = [{"id": i + 1, "name": nm} for i, nm in enumerate(NAMES)]
        coco["info"]["config"] = config or {}
        (p / "coco_annotations.json").write_text(json.dumps(coco))
    merge_dirs(parts, out, n, {})
    return out


def _renders(calls: list):
    def render(what, n, out, seed):
        import yaml
        out = Path(out)
        if (out / "DONE").exists():
            return out
        calls.append(out.name)
        if hasattr(what, "to_mapping"):
            m = what.to_mapping()
            return _toy(out, n, seed, m["classes"], SHIFT[float(m["camera"]["distance"][0])], m)
        plan = yaml.safe_load(Path(what).read_text())
        from core.api import merge_dirs
        parts = [_toy(out.parent / f".{out.name}-{i}", e["count"], seed + i, e["config"]["classes"],
                      SHIFT[float(e["config"]["camera"]["distance"][0])], e["config"])
                 for i, e in enumerate(plan["entries"])]
        merge_dirs(parts, out, plan["total"], {"plan": str(what)})
        return out
    return render


class BottlesOnly:
    """Finds every bottle exactly and no cup: per-class mAP 1 and 0."""
    description = "test stand-in: sees bottles only"

    def __init__(self, settings):
        self.settings = settings

    def train(self, train, ctx, seed, cell_dir):
        return stand_in_trained(train, cell_dir, "bottles")

    def predict(self, trained, ctx, image_ids):
        keep = set(image_ids)
        return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]), "score": 0.9}
                for a in ctx.real.annotations if a["image_id"] in keep and a["category_id"] == ctx.real_ids["bottle"]]


@pytest.fixture
def bottles_only():
    from benchmark.api import DETECTORS
    DETECTORS.register("bottles-only", BottlesOnly)
    yield
    DETECTORS.unregister("bottles-only")


def _target(root: Path) -> tuple[Path, Path]:
    """24 photos: 16 large bottles, then 8 small cups; exposed 12 bottles + 6 cups, test the rest."""
    real = _toy(root / "real", 24, 1, ("bottle",), 0.0)
    cups = _toy(root / "cups", 8, 2, ("cup",), 0.9)
    from core.api import merge_dirs
    merge_dirs([_toy(root / "bottles", 16, 1, ("bottle",), 0.0), cups], real.parent / "target", 24, {})
    exposed = [*range(1, 13), *range(17, 23)]
    split = root / "split.json"
    split.write_text(json.dumps({"exposed": exposed, "test": [i for i in range(1, 25) if i not in exposed]}))
    return real.parent / "target", split


def test_category_lists_and_shares(tmp_path):
    from benchmark.toydata import make_toy_set
    from core.api import load_coco
    from synthgap.classes import shares
    d = make_toy_set(tmp_path / "t", 6, names=("bottle", "cup", "mug"), seed=0)
    assert load_coco(d, category="mug,bottle").category == "bottle,mug"          # id order, one spelling
    assert load_coco(d, category="all").category is None
    assert load_coco(d).class_names("cup,3") == ["cup", "mug"]
    with pytest.raises(UserError, match="category 'vase' not in the file"):
        load_coco(d, category="bottle,vase")
    with pytest.raises(UserError, match="an empty name"):
        load_coco(d, category="bottle,")
    assert shares({"bottle": 35, "cup": 6}, 20) == {"bottle": 17, "cup": 3}       # proportions, >= 1 each
    assert shares({"bottle": 35, "cup": 0}, 20) == {"bottle": 19, "cup": 1}


def test_two_classes_aligned_per_class_with_per_class_map(bottles_only, tmp_path, monkeypatch):
    from synthgap import loop
    from synthgap.options import RunOptions
    real, split = _target(tmp_path)
    grid = tmp_path / "grid.yaml"
    grid.write_text("classes: [bottle]\ndistractors: [0, 1]\ncamera: {distance: {grid: [[0.5, 0.7], [2.0, 2.2]]}}\n")
    calls: list = []
    monkeypatch.setattr(loop, "make_renderer", lambda o: _renders(calls))
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=split, grid=grid,
                      out=tmp_path / "run", category="cup,bottle", total=12, probe_n=6, probe_max=6,
                      detectors=["bottles-only"], epochs=1, imgsz=64, kmax=1, selectors=["component"],
                      variants=["baseline"], metadata=["area_frac"])
    with pytest.raises(UserError, match="--rounds: top-down rounds are for one class"):
        loop.run(RunOptions(**{**opts.__dict__, "rounds": 1}))
    with pytest.raises(UserError, match="--total 1: fewer images than the run's 2 classes"):
        loop.run(RunOptions(**{**opts.__dict__, "total": 1}))
    assert not (opts.out / "run.json").exists()                          # the corrected command is not blocked
    report = loop.run(opts).read_text()
    out = opts.out
    fit = json.loads((out / "fit.json").read_text())
    assert fit["classes"]["bottle"]["share"] == 8 and fit["classes"]["cup"]["share"] == 4      # 12 : 6
    import yaml
    entries = yaml.safe_load((out / "plan.yaml").read_text())["entries"]
    by_class = {c: [e for e in entries if e["config"]["classes"] == [c]] for c in NAMES}
    assert {float(e["config"]["camera"]["distance"][0]) for e in by_class["bottle"]} == {0.5}   # large: near
    assert {float(e["config"]["camera"]["distance"][0]) for e in by_class["cup"]} == {2.0}      # small: far
    assert sum(e["count"] for e in by_class["cup"]) == 4
    assert all(e["config"]["distractor_exclude"] == ["cup"] for e in by_class["bottle"])
    base = json.loads((out / "sets" / "baseline" / "coco_annotations.json").read_text())
    assert {a["category_id"] for a in base["annotations"]} == {1, 2}    # the comparison set shows both classes
    dist = json.loads((out / "distances.json").read_text())
    per = dist["aligned-component"]["classes"]
    assert set(per) == set(NAMES) and per["cup"]["boxes"] == 4 and per["bottle"]["boxes"] == 8
    assert dist["aligned-component"]["mean_db"] < dist["baseline"]["mean_db"]
    for v in ("aligned-component", "baseline"):     # the benchmark's D_B is the classes' mean too (one rule)
        bench = json.loads((out / "benchmark" / "metadata" / f"{v}.json").read_text())
        assert bench["by_class"] and bench["db"]["area_frac"] == pytest.approx(dist[v]["db"]["area_frac"])
    rec = json.loads((out / "benchmark" / "results" / "aligned-component__bottles-only__seed0.json").read_text())
    assert rec["classes"] == ["bottle", "cup"]
    assert rec["test_per_class"]["bottle"]["map"] == pytest.approx(1.0, abs=0.01)
    assert rec["test_per_class"]["cup"]["map"] == 0.0 and rec["test_per_class"]["cup"]["boxes"] == 2
    assert "### Per class" in report and "## mAP50-95 per class (test photos)" in report
    assert "| aligned-component | synthetic | bottles-only | 1.000 [" in report
    before = list(calls)
    loop.run(opts)                                                       # resumes: nothing rendered again
    assert calls == before
