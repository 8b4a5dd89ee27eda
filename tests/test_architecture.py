"""The project's shape (issue: architecture): floors, no file circles, function sizes, and three of the four
extension points (detectors, selectors, variants; regimes are the benchmark's own, tests/test_regimes.py).

- floors: core < render < align < benchmark < synthgap; a module imports only its own package or a lower
  floor (every `import`, module-level or inside a function), and core imports nothing of the project;
- no file circles: no two project modules import each other, directly or through other modules (the same
  imports counted);
- no function over 60 lines and no module over 500 lines in the five packages (issue 22);
- a detector, a selector and a variant set registered from this test module (no project file edited) run
  through the benchmark matrix and the loop's selection, set, distance, benchmark and report stages, and
  both reports list them.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from standins import stand_in_trained

REPO = Path(__file__).resolve().parent.parent
FLOORS = {"core": 0, "render": 1, "align": 2, "benchmark": 3, "synthgap": 4}


def _modules():
    for pkg in FLOORS:
        for p in sorted((REPO / pkg).rglob("*.py")):
            yield pkg, p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p))


def _imported_packages(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_imports_never_run_up_a_floor():
    up = []
    for pkg, path, tree in _modules():
        for line, target in _imported_packages(tree):
            if target in FLOORS and FLOORS[target] > FLOORS[pkg]:
                up.append(f"{path.relative_to(REPO)}:{line} ({pkg}) imports {target}")
    assert not up, "imports that run up a floor:\n" + "\n".join(up)


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _import_graph() -> dict[str, dict[str, str]]:
    """module -> {project module it imports: "file:line" of the first such import}, every `import` counted
    (module level or inside a function, as for the floors); `from pkg import mod` imports pkg.mod, `from pkg.mod
    import name` imports pkg.mod, anything else of a package its __init__."""
    trees = {_module_name(path): (path, tree) for _, path, tree in _modules()}

    def resolve(name: str) -> str:
        while name and name not in trees:
            name = name.rpartition(".")[0]
        return name
    graph: dict[str, dict[str, str]] = {}
    for mod, (path, tree) in trees.items():
        out = graph.setdefault(mod, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in filter(None, map(resolve, names)):
                if target != mod:
                    out.setdefault(target, f"{path.relative_to(REPO)}:{node.lineno}")
    return graph


def _cycle_through(graph: dict[str, dict[str, str]], start: str) -> list[str] | None:
    """The shortest import chain start -> ... -> start (breadth first), or None."""
    prev, todo = {start: None}, [start]
    for mod in todo:
        for target in sorted(graph.get(mod, {})):
            if target == start:
                chain = [mod]
                while prev[chain[-1]] is not None:
                    chain.append(prev[chain[-1]])
                return chain[::-1] + [start]
            if target not in prev:
                prev[target] = mod
                todo.append(target)
    return None


def test_no_module_imports_itself_through_a_circle():
    """No two project modules import each other, directly or through other modules (a file circle)."""
    assert _cycle_through({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}, "a") == ["a", "b", "c", "a"]
    assert _cycle_through({"a": {"b": ""}, "b": {}}, "a") is None
    graph = _import_graph()
    assert "benchmark.frcnn_init" in graph["benchmark.frcnn"]          # function-level imports are seen
    circles, seen = [], set()
    for mod in sorted(graph):
        chain = None if mod in seen else _cycle_through(graph, mod)
        if chain:
            seen.update(chain)
            circles.append(" -> ".join(f"{a} ({graph[a][b]})" for a, b in zip(chain, chain[1:])) + f" -> {mod}")
    assert not circles, "modules that import each other:\n" + "\n".join(circles)


def test_function_sizes():
    long = []
    for pkg, path, tree in _modules():
        limit = 60
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > 500:
            long.append(f"{path.relative_to(REPO)}: module of {lines} lines (> 500)")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} {n} lines (> {limit})")
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert not long, "functions or modules too long:\n" + "\n".join(long)


def test_every_package_has_a_public_api_facade():
    import importlib
    for pkg in FLOORS:
        api = importlib.import_module(f"{pkg}.api")
        assert api.__doc__ and api.__all__
        for name in api.__all__:
            assert hasattr(api, name), f"{pkg}.api.{name}"


def test_synthgap_imports_other_packages_only_through_their_facades():
    """docs/design.md §8: the top floor calls core, render, align and benchmark through their api.py."""
    bypass = []
    for path in sorted((REPO / "synthgap").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for m in mods:
                pkg, _, rest = m.partition(".")
                if pkg in FLOORS and pkg != "synthgap" and rest != "api":
                    bypass.append(f"{path.relative_to(REPO)}:{node.lineno} {m}")
    assert not bypass, "imports that bypass a facade:\n" + "\n".join(bypass)


def test_design_md_lists_what_the_registries_hold(tmp_path):
    """docs/design.md §9's registry list is generated from the registries (`make docs`) and current."""
    from synthgap.registries_doc import BEGIN, END, is_current, render, update
    from synthgap.variants import VARIANTS
    assert is_current(), "docs/design.md §9 is stale: run `make docs`"
    doc = tmp_path / "design.md"
    doc.write_text(f"# head\n{BEGIN}\nstale-row\n{END}\ntail\n")

    class Mine:
        description = "a user's set | with a bar"
        default = False
        needs = ("baseline",)
    VARIANTS.register("mine-doc", Mine)
    try:
        assert update(doc) and not update(doc)                   # rewritten once, then current
        text = doc.read_text()
        assert text.startswith("# head\n") and text.endswith("tail\n") and "stale-row" not in text
        assert "| `mine-doc` | a user's set \\| with a bar | - | opt-in | baseline |" in text
        assert "`--frcnn-freeze` (14)" in render()                # a detector's own option and its default
    finally:
        VARIANTS.unregister("mine-doc")


# ---------------------------------------------------------------------------------------------- the dummies
class DummyDetector:
    """Predicts every real image's own ground truth boxes, shrunk more for a higher seed (mAP < 1, varies)."""
    description = "test dummy: ground truth boxes, shrunk"

    def __init__(self, settings):
        self.settings = settings

    def train(self, train, ctx, seed, cell_dir):
        self.shrink = 0.05 + 0.08 * seed
        return stand_in_trained(train, cell_dir, "dummy", note=f"{train.name} {seed}")

    def predict(self, trained, ctx, image_ids):
        keep = set(image_ids)
        out = []
        for a in ctx.real.annotations:
            if a["image_id"] in keep:
                x, y, w, h = a["bbox"]
                k = self.shrink
                out.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
                            "bbox": [x + k * w, y + k * h, (1 - 2 * k) * w, (1 - 2 * k) * h]})
        return out


class FirstProbeSelector:
    """Everything from the probe whose name sorts first."""
    description = "test dummy: all images from the first probe"
    variant, plan_file = "first-probe", "plan-first.yaml"

    def __init__(self, seed=0, real=None):
        self.seed = seed

    def select(self, fit, probes, total):
        from align.plan import Plan, PlanEntry
        name = sorted(probes)[0]
        return Plan(total=total, entries=[PlanEntry(dict(probes[name][0]), name, total, [], "first")],
                    metadata=list(fit.metadata))


class HalfBaseline:
    """The baseline's first half of images."""
    description = "test dummy: half of the baseline"
    needs = ("baseline",)

    def build(self, ctx, out):
        coco = json.loads((ctx.sets / "baseline" / "coco_annotations.json").read_text())
        keep = {im["id"] for im in coco["images"][: len(coco["images"]) // 2]}
        shutil.copytree(ctx.sets / "baseline", out)
        coco["images"] = [im for im in coco["images"] if im["id"] in keep]
        coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in keep]
        (out / "coco_annotations.json").write_text(json.dumps(coco))


@pytest.fixture
def dummies():
    from align.selectors import SELECTORS
    from benchmark.detectors import DETECTORS
    from synthgap.variants import VARIANTS
    DETECTORS.register("dummy", DummyDetector)
    SELECTORS.register("first", FirstProbeSelector)
    VARIANTS.register("half", HalfBaseline)
    yield
    DETECTORS.unregister("dummy")
    SELECTORS.unregister("first")
    VARIANTS.unregister("half")


def _toy_target(root: Path):
    from benchmark.toydata import make_toy_set, make_toy_split
    real = make_toy_set(root / "real", 16, size=(64, 48), seed=1, max_objects=1)
    return real, make_toy_split(root / "split.json", 16, 8)


def _fake_render(what, n, out, seed):
    """Stands in for Blender: a toy set whose object size depends on the seed (and a plan's first entry)."""
    from benchmark.toydata import make_toy_set
    if (Path(out) / "DONE").exists():
        return Path(out)
    if not isinstance(what, (str, Path)) and hasattr(what, "to_mapping"):
        config = what.to_mapping()
    else:
        import yaml
        plan = yaml.safe_load(Path(what).read_text())
        config, n = plan["entries"][0]["config"], plan["total"]
    d = make_toy_set(out, n, size=(64, 48), seed=seed, max_objects=1, shift=(seed % 7) / 7)
    coco = json.loads((d / "coco_annotations.json").read_text())
    coco["info"]["config"] = config
    (d / "coco_annotations.json").write_text(json.dumps(coco))
    return d


def test_a_detector_registered_by_a_user_runs_in_the_benchmark_matrix(dummies, tmp_path):
    from benchmark.report import write_report
    from benchmark.run import RunSpec, run_matrix
    from benchmark.toydata import make_toy_set
    real, split = _toy_target(tmp_path)
    syn = make_toy_set(tmp_path / "syn", 6, size=(64, 48), seed=2)
    out = tmp_path / "bench"
    paths = run_matrix(RunSpec(variants=[("syn", str(syn))], real_json=str(real / "coco_annotations.json"),
                               images_dir=str(real), split=str(split), out=str(out), detectors=["dummy"],
                               epochs=1, imgsz=64, metadata=["area_frac", "cy"]))
    assert sorted(p.name for p in paths) == ["real__dummy__seed0.json", "syn__dummy__seed0.json"]
    rec = json.loads(paths[1].read_text())
    assert rec["init"] == "none" and rec["model"] == "dummy" and 0.2 < rec["test"]["map"] < 1.0
    md = write_report(out).read_text()
    assert "dummy mAP" in md and "dummy: none" in md


@dataclasses.dataclass
class ShrinkOptions:
    """A test detector's own two options: --tuned-shrink and --tuned-note."""
    shrink: float = dataclasses.field(default=0.05, metadata={"help": "how far the boxes shrink"})
    note: str = dataclasses.field(default="plain", metadata={"help": "what the weights file says"})

    def check(self) -> None:
        from core.errors import UserError
        if not 0 <= self.shrink < 0.5:
            raise UserError(f"--tuned-shrink: must be in [0, 0.5), got {self.shrink}")


class TunedDetector(DummyDetector):
    """DummyDetector whose shrink is its own option (one class + one register line, no project file edited)."""
    description = "test dummy: ground truth boxes, shrunk by --tuned-shrink"
    Params = ShrinkOptions

    def train(self, train, ctx, seed, cell_dir):
        self.shrink = self.settings.params.shrink
        return stand_in_trained(train, cell_dir, "tuned", note=self.settings.params.note)


def test_a_detector_with_its_own_options_takes_them_from_the_cli_and_yaml(tmp_path):
    """Its Params' fields are flags of `synthgap run` and `benchmark run` (in --help), --config keys, checked by
    its own check, recorded in the benchmark's run.json and report, and the trained detector receives them."""
    import argparse

    from benchmark.cli import parser as bench_parser
    from benchmark.detectors import DETECTORS, detector_args
    from benchmark.report import write_report
    from benchmark.run import RunSpec, run_matrix
    from benchmark.toydata import make_toy_set
    from core.errors import UserError
    from synthgap.options import RunOptions, add_common_args, apply_args, parse_with_config
    DETECTORS.register("tuned", TunedDetector)
    try:
        d = RunOptions(tmp_path / "r.json", tmp_path, tmp_path / "s.json", tmp_path / "g.yaml", tmp_path / "o")
        ap = argparse.ArgumentParser(prog="synthgap run")
        add_common_args(ap, d)
        assert "--tuned-shrink" in ap.format_help() and "how far the boxes shrink" in ap.format_help()
        bench = bench_parser().parse_args(["run", "--real", "r", "--split", "s", "--out", "o", "--tuned-note", "x"])
        assert detector_args(bench) == {"tuned": {"note": "x"}}
        cfg = tmp_path / "run.yaml"
        cfg.write_text("tuned-note: from-yaml\ntuned-shrink: 0.4\n")
        opts = apply_args(d, parse_with_config(ap, ["--config", str(cfg), "--tuned-shrink", "0.1",
                                                    "--detectors", "tuned"]))
        assert opts.detector_params == {"tuned": {"shrink": 0.1, "note": "from-yaml"}}
        with pytest.raises(UserError, match=r"--tuned-shrink: must be in \[0, 0.5\), got 0.7"):
            apply_args(d, ap.parse_args(["--tuned-shrink", "0.7"]))
        regimes = apply_args(d, ap.parse_args(["--mixed-share", "0.3", "--finetune-epochs", "4"])).regime_params
        assert regimes == {"mixed": {"share": 0.3}, "finetune": {"epochs": 4}}       # the regimes' Params alike
        with pytest.raises(UserError, match="--mixed-share must be between 0 and 1, got 1.5"):
            apply_args(d, ap.parse_args(["--mixed-share", "1.5"]))
        real, split = _toy_target(tmp_path)
        syn = make_toy_set(tmp_path / "syn", 6, size=(64, 48), seed=2)
        out = tmp_path / "bench"
        paths = run_matrix(RunSpec(variants=[("syn", str(syn))], real_json=str(real / "coco_annotations.json"),
                                   images_dir=str(real), split=str(split), out=str(out), detectors=["tuned"],
                                   epochs=1, imgsz=64, metadata=["area_frac", "cy"], real_baseline=False,
                                   detector_params=opts.detector_params))
        assert (out / "cells" / "syn__tuned__seed0" / "weights.txt").read_text() == "from-yaml"
        assert 0 < json.loads(paths[0].read_text())["test"]["map"] < 0.6     # boxes shrunk by 0.1 a side: IoU 0.64
        assert json.loads((out / "run.json").read_text())["settings"]["detector_params"] == opts.detector_params
        from benchmark.run import _upgraded          # a run dir of before: its yolo_weights is yolo's option
        assert _upgraded({"yolo_weights": "a.pt", "epochs": 1}) == {"epochs": 1, "detector_params": {
            "yolo": {"weights": "a.pt"}}}
        assert "detector options --tuned-shrink 0.1 --tuned-note from-yaml" in write_report(out).read_text()
    finally:
        DETECTORS.unregister("tuned")


def test_loop_stages_use_registered_selector_variant_and_detector(dummies, tmp_path, monkeypatch):
    from render.config import SceneConfig
    from synthgap import loop
    from synthgap.options import RunOptions
    from synthgap.report import write_run_report
    real, split = _toy_target(tmp_path)
    grid = tmp_path / "grid.yaml"
    grid.write_text("camera: {distance: {grid: [[0.5, 0.7], [2.0, 2.2]]}}\n")
    opts = RunOptions(real_json=real / "coco_annotations.json", images=real, split=split, grid=grid,
                      out=tmp_path / "run", total=10, probe_n=6, detectors=["dummy"], epochs=1, imgsz=64, seeds=[0, 1],
                      selectors=["component", "first"], variants=["half", "on-surface"])
    monkeypatch.setattr(loop, "make_renderer", lambda o: _fake_render)
    report = loop.run(opts).read_text()
    sets = sorted(p.name for p in (opts.out / "sets").iterdir())
    # baseline: needed by half; aligned: the recommended selector's set, hard links (equal sets: the first)
    assert sets == ["aligned", "aligned-component", "baseline", "first-probe", "half", "on-surface"]
    rec = json.loads((opts.out / "recommended.json").read_text())
    assert rec["recommended"] == "aligned-component" and rec["alias"] == "aligned"
    assert (opts.out / "sets" / "aligned" / "coco_annotations.json").stat().st_ino == \
        (opts.out / "sets" / "aligned-component" / "coco_annotations.json").stat().st_ino
    assert (opts.out / "plan-first.yaml").exists() and (opts.out / "plan.yaml").exists()
    half = json.loads((opts.out / "sets" / "half" / "coco_annotations.json").read_text())
    assert len(half["images"]) == 5
    dist = json.loads((opts.out / "distances.json").read_text())
    assert set(dist) == set(sets) - {"aligned"}                       # the alias is not measured twice
    for text in (report, (opts.out / "benchmark" / "report.md").read_text()):
        assert "first-probe" in text and "half" in text and "dummy" in text
        top = text.split("\n## ", 2)[1]                               # the verdict, right under the title
        assert top.startswith("Verdict") and "Recommended set: `aligned` = aligned-component" in top
        assert "Test mAP50-95 [95 %], trained on aligned-component alone: dummy " in top
    assert "test dummy: half of the baseline" in report and "test dummy: all images from the first probe" in report
    html = (opts.out / "report.html").read_text()
    assert "<title>synthgap run report</title>" in html and "**" not in html and "<table" in html
    assert "<strong>" in html and "data:image/png;base64," in html
    # the same ± (sample sd over the 2 seeds) for the same cells in both reports (one summary function)
    import re
    bench = (opts.out / "benchmark" / "report.md").read_text()
    pat = r"([0-9.]+) ± ([0-9.]+) \(n=2\)"
    b = [float(x) for x in re.findall(pat, [ln for ln in bench.splitlines() if ln.startswith("| half |") and "n=2" in ln][0])[0]]
    r = [float(x) for x in re.findall(pat, [ln for ln in report.splitlines() if ln.startswith("| half |") and "n=2" in ln][0])[0]]
    assert b[1] > 0.01 and b == pytest.approx(r, abs=6e-4)
    write_run_report(opts, {})   # the report alone can be rewritten
    # one probe per grid config, each rendered from that SceneConfig (its recorded mapping parses to the same name)
    from render.grid import expand_grid
    probes = sorted(p.name for p in (opts.out / "probes").iterdir() if not p.name.startswith("."))
    assert probes == sorted(c.name for c in expand_grid(grid)) and len(probes) == 2
    for name in probes:
        info = json.loads((opts.out / "probes" / name / "coco_annotations.json").read_text())["info"]
        assert SceneConfig.from_mapping(info["config"]).name == name


def test_a_variant_with_its_own_options_takes_them_from_the_cli_and_builds_with_them(tmp_path, monkeypatch):
    """A comparison set's Params fields are `synthgap run` flags (--feature-filtered-score), checked by its own
    check, refused for a set the run does not render, recorded in the run key, and reach its build."""
    import argparse

    import align.api
    import synthgap.variants as variants
    from core.errors import UserError
    from synthgap.inputs import _run_key
    from synthgap.options import RunOptions, add_common_args, apply_args
    d = RunOptions(tmp_path / "r.json", tmp_path, tmp_path / "s.json", tmp_path / "g.yaml", tmp_path / "o")
    ap = argparse.ArgumentParser(prog="synthgap run")
    add_common_args(ap, d)
    assert "--feature-filtered-score" in ap.format_help() and "--feature-blackout-score" in ap.format_help()
    opts = apply_args(d, ap.parse_args(["--variants", "baseline,feature-filtered", "--feature-filtered-score", "kde"]))
    assert opts.variant_params == {"feature-filtered": {"score": "kde"}}
    with pytest.raises(UserError, match="--feature-filtered-score: one of knn, kde, got 'cosine'"):
        apply_args(d, ap.parse_args(["--variants", "feature-filtered", "--feature-filtered-score", "cosine"]))
    with pytest.raises(UserError, match="--feature-blackout-score: the set feature-blackout is not rendered"):
        apply_args(d, ap.parse_args(["--variants", "feature-filtered", "--feature-blackout-score", "kde"]))
    for f in ("r.json", "s.json"):
        (tmp_path / f).write_text("{}")
    assert _run_key(opts, {}, [])["variant_params"] == {"feature-filtered": {"score": "kde"}}
    seen = {}
    monkeypatch.setattr(variants, "real_exposed", lambda o: ("real.json", [1]))
    monkeypatch.setattr(align.api, "filter_dataset", lambda src, real, ids, out, score: seen.update(score=score))
    ctx = variants.VariantContext(opts, {}, tmp_path / "sets", render=None)
    variants.FeatureFiltered().build(ctx, tmp_path / "sets" / "feature-filtered")
    assert seen == {"score": "kde"} and ctx.params("feature-blackout").score == "knn"     # unset: the default


def test_seeds_a_count_or_a_list_and_seed_zero_alone_named_in_the_error():
    from core.api import UserError, parse_seeds
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,5") == [0, 5] and parse_seeds("0,") == [0]
    with pytest.raises(UserError, match=r"--seeds: a bare number is a count .*\(for seed 0 alone write 0,\)"):
        parse_seeds("0")
    with pytest.raises(UserError, match="--seeds: expected a count"):
        parse_seeds("x")


def test_a_selector_with_its_own_options_takes_them_from_the_cli_and_yaml_and_selects_with_them(tmp_path,
                                                                                                 monkeypatch):
    """A selector's Params fields are `synthgap run` flags and --config keys (--mixture-bandwidth-min), checked by
    its own check, refused for a selector the run does not use, recorded in the run key, and reach the selector."""
    import argparse

    import align.select
    from core.errors import UserError
    from synthgap.inputs import _run_key
    from synthgap.options import RunOptions, add_common_args, apply_args, check_options, parse_with_config
    d = RunOptions(tmp_path / "r.json", tmp_path, tmp_path / "s.json", tmp_path / "g.yaml", tmp_path / "o")
    ap = argparse.ArgumentParser(prog="synthgap run")
    add_common_args(ap, d)
    assert "--mixture-bandwidth-min" in ap.format_help()
    opts = apply_args(d, ap.parse_args(["--mixture-bandwidth-min", "0.3"]))
    check_options(opts)
    assert opts.selector_params == {"mixture": {"bandwidth_min": 0.3}}
    cfg = tmp_path / "run.yaml"
    cfg.write_text("mixture-bandwidth-min: 0.5\n")
    assert apply_args(d, parse_with_config(ap, ["--config", str(cfg)])).selector_params == {
        "mixture": {"bandwidth_min": 0.5}}
    with pytest.raises(UserError, match="--mixture-bandwidth-min: between 0"):
        apply_args(d, ap.parse_args(["--mixture-bandwidth-min", "0"]))
    with pytest.raises(UserError, match="--mixture-bandwidth-min: the selector mixture does not run"):
        check_options(apply_args(d, ap.parse_args(["--selectors", "component", "--mixture-bandwidth-min", "0.3"])))
    for f in ("r.json", "s.json"):
        (tmp_path / f).write_text("{}")
    assert _run_key(opts, {}, [])["selector_params"] == {"mixture": {"bandwidth_min": 0.3}}
    seen = {}
    monkeypatch.setattr(align.select, "_select_mixture", lambda fit, probes, total, real, seed, h_min:
                        seen.update(h_min=h_min))
    monkeypatch.setattr(align.select, "_check_inputs", lambda fit, probes, total: (fit, probes))
    opts.selector("mixture").select(None, {}, 3)
    assert seen == {"h_min": 0.3} and opts.selector("component").params is None
