"""The benchmark matrix on Ray (`benchmark run --backend ray`): the same records as the local backend, a
fine-tuning cell only after its synthetic cell, finished cells never retrained, and a cell on a node that
is lost retried on another node. The detector is test_architecture's dummy (ground truth boxes, no training),
registered from this module and made to sleep in `train` so a cell is in flight long enough to lose its node;
Ray's workers import it from this folder (on PYTHONPATH, as a user's own detector module would be)."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from test_architecture import DummyDetector

TESTS = Path(__file__).resolve().parent
TIMING = ("train_s", "epoch_s", "cell_s")
SLEEP = "SYNTHGAP_TEST_TRAIN_SLEEP"          # forwarded to the tasks like every SYNTHGAP_* variable


class SleepyDummy(DummyDetector):
    """The dummy, sleeping $SYNTHGAP_TEST_TRAIN_SLEEP s in train after a marker OUT/markers/<cell>@<node>@<t>."""

    def train(self, train, ctx, seed, cell_dir):
        node = "local"
        try:
            import ray
            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
        except ImportError:
            pass
        markers = Path(ctx.out) / "markers"
        markers.mkdir(exist_ok=True)
        (markers / f"{Path(cell_dir).name}@{node}@{time.time():.3f}").touch()
        time.sleep(float(os.environ.get(SLEEP, "0")))
        return super().train(train, ctx, seed, cell_dir)


@pytest.fixture
def sleepy(monkeypatch):
    pytest.importorskip("ray")
    from benchmark.detectors import DETECTORS
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv(SLEEP, "0.3")
    monkeypatch.delenv("SYNTHGAP_RAY_ADDRESS", raising=False)
    DETECTORS.register("sleepy", SleepyDummy)
    yield
    DETECTORS.unregister("sleepy")


@pytest.fixture
def target(tmp_path):
    from benchmark.toydata import make_toy_set, make_toy_split
    real = make_toy_set(tmp_path / "real", 12, size=(64, 48), seed=1, max_objects=1)
    split = make_toy_split(tmp_path / "split.json", 12, 6)
    sets = [(f"syn{i}", str(make_toy_set(tmp_path / f"syn{i}", 4, size=(64, 48), seed=2 + i))) for i in (1, 2)]
    return {"real": real, "split": split, "sets": sets, "root": tmp_path}


def _spec(t, out: str, **kw):
    from benchmark.run import RunSpec
    return RunSpec(variants=kw.pop("variants", t["sets"]), real_json=str(t["real"] / "coco_annotations.json"),
                   images_dir=str(t["real"]), split=str(t["split"]), out=str(t["root"] / out), detectors=["sleepy"],
                   epochs=1, imgsz=64, metadata=["area_frac", "cy"], real_baseline=False, **kw)


def _records(out: Path) -> dict[str, dict]:
    """Every results record and its predictions, timing fields dropped, the run dir's path as OUT."""
    recs = {}
    for p in sorted((out / "results").glob("*.json")):
        text = p.read_text().replace(str(out), "OUT")
        rec = {k: v for k, v in json.loads(text).items() if k not in TIMING}
        rec["predictions"] = json.loads((out / "predictions" / p.name).read_text())
        recs[p.stem] = rec
    return recs


def test_ray_backend_matches_local_and_resumes(sleepy, target, capsys):
    """2 variants x 1 detector x 2 seeds: the ray backend's results files (written by its tasks) equal the local
    backend's but for timing; a rerun trains nothing, and a lost results file is the only cell trained again."""
    from benchmark.run import run_matrix
    run_matrix(_spec(target, "local", seeds=[0, 1]))
    ray_out = target["root"] / "ray"
    paths = run_matrix(_spec(target, "ray", seeds=[0, 1], backend="ray", workers=2, threads=1))
    assert [p.name for p in paths] == [f"syn{i}__sleepy__seed{s}.json" for i in (1, 2) for s in (0, 1)]
    assert _records(ray_out) == _records(target["root"] / "local")
    assert len({m.name.split("@")[1] for m in (ray_out / "markers").iterdir()}) == 1   # the local Ray node

    kept = {p.name: p.stat().st_mtime_ns for p in paths}
    (ray_out / "results" / "syn2__sleepy__seed1.json").unlink()
    capsys.readouterr()
    run_matrix(_spec(target, "ray", seeds=[0, 1], backend="ray", workers=2, threads=1))
    assert "3 of 4 cells already have results (skipped)" in capsys.readouterr().out
    again = {p.name: p.stat().st_mtime_ns for p in (ray_out / "results").glob("*.json")}
    assert {n for n in again if again[n] != kept.get(n)} == {"syn2__sleepy__seed1.json"}
    assert len(list((ray_out / "markers").iterdir())) == 5
    run_matrix(_spec(target, "ray", seeds=[0, 1], backend="ray", workers=2, threads=1))   # all done: no Ray
    assert "4 of 4 cells already have results (skipped)" in capsys.readouterr().out
    assert _records(ray_out) == _records(target["root"] / "local")


def test_ray_finetune_cell_starts_after_its_synthetic_cell(sleepy, target):
    """With two slots free, the finetune cell still waits for its synthetic cell's results file, and starts
    from that cell's weights."""
    from benchmark.run import run_matrix
    out = target["root"] / "ft"
    run_matrix(_spec(target, "ft", variants=target["sets"][:1], regimes=["synthetic", "finetune"], backend="ray",
                     workers=2, threads=1))
    syn, ft = (json.loads((out / "results" / f"syn1__sleepy__seed0{s}.json").read_text()) for s in ("", "__finetune"))
    assert ft["start"] == syn["weights"] and ft["regime"] == "finetune"
    started = {m.name.split("@")[0]: float(m.name.split("@")[2]) for m in (out / "markers").iterdir()}
    assert started["syn1__sleepy__seed0__finetune"] >= (out / "results" / "syn1__sleepy__seed0.json").stat().st_mtime


def test_ray_two_node_cluster_survives_losing_a_node(sleepy, target, capsys, monkeypatch):
    """A local two-node Ray cluster (ray.cluster_utils.Cluster; the head takes no task, each node one cell):
    while both nodes train a cell, one node is removed; its cell is tried again on the other node, the matrix
    completes and the retried cell is reported."""
    from ray.cluster_utils import Cluster

    from benchmark.run import run_matrix
    monkeypatch.setenv(SLEEP, "4")
    mem = {"object_store_memory": 80 * 2 ** 20}
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 0, **mem})
    out, seen = target["root"] / "two", {}
    try:
        cluster.add_node(num_cpus=1, **mem)
        victim = cluster.add_node(num_cpus=1, **mem)
        cluster.wait_for_nodes()

        def remove_when_busy():        # both cells started (a marker from each node), none finished
            deadline = time.time() + 90
            while time.time() < deadline:
                marks = list((out / "markers").glob("*@*")) if (out / "markers").is_dir() else []
                if len({m.name.split("@")[1] for m in marks}) == 2:
                    seen["results_before"] = list((out / "results").glob("*.json"))
                    seen["on_victim"] = [m.name.split("@")[0] for m in marks if victim.node_id in m.name]
                    cluster.remove_node(victim)
                    return
                time.sleep(0.05)
        watcher = threading.Thread(target=remove_when_busy, daemon=True)
        watcher.start()
        paths = run_matrix(_spec(target, "two", variants=target["sets"][:1], seeds=[0, 1], backend="ray",
                                 ray_address=cluster.address, workers=2, threads=1))
        watcher.join(timeout=5)
        assert seen.get("on_victim") and seen["results_before"] == [], seen
        assert [p.name for p in paths] == ["syn1__sleepy__seed0.json", "syn1__sleepy__seed1.json"]
        stdout = capsys.readouterr().out
        assert f"benchmark: 1 cell(s) finished after a retry ({seen['on_victim'][0]}: " in stdout, stdout
        assert "node it was running on is dead" in stdout, stdout
        runs = [m.name.split("@")[1] for m in (out / "markers").iterdir() if m.name.startswith(seen["on_victim"][0])]
        assert len(runs) == 2 and victim.node_id in runs and len(set(runs)) == 2    # again, on the other node
    finally:
        cluster.shutdown()


def test_yolo_exports_built_at_once_by_two_cells_keep_the_first(tmp_path, target):
    """Cells of the ray backend may export one set at the same time: each builds its own folder and one that is
    current already stays in place (a cell may train on it); combine_exports likewise."""
    from benchmark import convert
    from core.coco import load_coco
    cs = load_coco(target["sets"][0][1])
    out = convert.export_yolo(cs, tmp_path / "data" / "syn1", ["bottle", "cup"])
    inode = out.stat().st_ino
    assert convert.export_yolo(cs, out, ["bottle", "cup"]).stat().st_ino == inode
    tmp = tmp_path / "data" / "syn1.partial-other"          # another builder's finished copy arrives late
    shutil.copytree(out, tmp, symlinks=True)
    convert._swap_in(tmp, out, lambda: True)
    assert out.stat().st_ino == inode and not tmp.exists()
    comb = convert.combine_exports([(out, 2)], tmp_path / "data" / "mix.combined")
    inode = comb.stat().st_ino
    assert convert.combine_exports([(out, 2)], comb).stat().st_ino == inode
    assert len(list((comb / "images").iterdir())) == 2 * len(cs.images)
    assert convert.combine_exports([(out, 1)], comb).stat().st_ino != inode     # other content: swapped
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mix.combined", "syn1"]


def test_backend_options_are_checked_before_anything_runs(sleepy, target):
    from benchmark.run import run_matrix
    from core.errors import UserError
    for kw, msg in (({"backend": "dask"}, "--backend must be 'local' or 'ray'"), ({"workers": 0}, "--workers must be >= 1"),
                    ({"threads": 0}, "--threads must be >= 1"), ({"retries": -1}, "--retries must be >= 0")):
        with pytest.raises(UserError, match=msg):
            run_matrix(_spec(target, "bad", **kw))
    assert not (target["root"] / "bad").exists()


def test_run_and_zoo_pass_the_bench_backend_into_the_run_spec(tmp_path, monkeypatch):
    """`synthgap run|zoo --bench-backend ray --ray-address A --workers N`: the RunSpec their benchmark stage builds."""
    import argparse
    from types import SimpleNamespace

    import benchmark.api
    from synthgap import stages, zoo
    from synthgap.options import RunOptions, add_common_args, apply_args
    from synthgap.variants import set_names
    specs = []
    monkeypatch.setattr(benchmark.api, "run_matrix", specs.append)              # synthgap calls the facade
    monkeypatch.setattr(benchmark.api, "write_report", lambda *a, **k: None)
    base = RunOptions(tmp_path / "r.json", tmp_path, tmp_path / "s.json", tmp_path / "g.yaml", tmp_path / "o")
    ap = argparse.ArgumentParser()
    add_common_args(ap, base)
    opts = apply_args(base, ap.parse_args(["--bench-backend", "ray", "--ray-address", "h:6379", "--workers", "3"]))
    assert apply_args(base, ap.parse_args([])).bench_backend == "local"
    fit = SimpleNamespace(metadata=["area_frac", "cy"])
    stages.stage_benchmark(opts, {v: {"images": 1} for v in set_names(opts)}, fit)
    zoo.stage_benchmark(opts, fit, ["random-grid"])
    assert [(s.backend, s.ray_address, s.workers) for s in specs] == [("ray", "h:6379", 3)] * 2
