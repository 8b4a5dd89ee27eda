"""Render core end to end (render environment): both run modes, COCO/sidecar contract, resume, retries.

Scenes are 64x48 with 4 samples; rendered datasets are session fixtures shared by the tests.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.render

REPO = Path(__file__).resolve().parent.parent
CFG = """resolution: [64, 48]
samples: 4
objects_per_scene: [2, 3]
classes: [bottle, cup]
distractors: [0, 1]
camera: {distance: [0.8, 1.2], elevation_deg: [20, 50]}
lights: {count: [1, 2], energy: [80, 200]}
seed: 3
"""
N, SHARD = 6, 2


_MANIFEST_ENV: dict[str, str] = {}  # SYNTHGAP_MANIFEST for the renders, set by the render_manifest fixture
# its sitecustomize.py makes a render worker die (SIGKILL) before the image SYNTHGAP_RENDER_FAULT="IMAGE_ID:N" names
FAULTINJECT = REPO / "tests" / "faultinject"


def _env(**extra):
    """The child processes' environment; with SYNTHGAP_RENDER_FAULT the fault hook goes first on PYTHONPATH
    (the driver passes it on to its render workers, Ray tasks included)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("SYNTHGAP_RENDER_FAULT", None)
    env.update(_MANIFEST_ENV)
    env.update(extra)
    if "SYNTHGAP_RENDER_FAULT" in extra:
        env["PYTHONPATH"] = str(FAULTINJECT) + os.pathsep + env["PYTHONPATH"]
    return env


def _manifest_files_present(manifest) -> bool:
    """Every file the manifest lists (meshes of all classes: distractors come from the other classes) exists."""
    return all(a.resolved_path() is not None and a.resolved_path().exists()
               for a in manifest.assets if not a.is_primitive)


def _write_primitives_manifest(manifest, path: Path) -> Path:
    """The manifest's primitive meshes only (what a machine without the asset cache can render)."""
    from render.manifest import Manifest, dump_manifest

    prim = Manifest(path=path, assets=[a for a in manifest.assets if a.is_primitive])
    assert prim.assets, f"{manifest.path} lists no primitives"
    path.write_text(dump_manifest(prim, "# test: primitives only\n"))
    return path


@pytest.fixture(scope="session", autouse=True)
def render_manifest(tmp_path_factory):
    """The manifest this module's renders use: assets_manifest.yaml when every file it lists is in the cache
    (scripts/setup.sh imports them), else its primitives only (SYNTHGAP_MANIFEST in the subprocesses' env)."""
    from render.manifest import load_manifest

    real = load_manifest()
    if _manifest_files_present(real):
        yield real
        return
    path = _write_primitives_manifest(real, tmp_path_factory.mktemp("manifest") / "primitives.yaml")
    _MANIFEST_ENV["SYNTHGAP_MANIFEST"] = str(path)
    try:
        yield load_manifest(path)
    finally:
        _MANIFEST_ENV.clear()


def _cli(*args, env=None, check=True, timeout=300):
    p = subprocess.run([sys.executable, "-m", "synthgap", "render", "--quiet", *map(str, args)], cwd=REPO,
                       capture_output=True, text=True, env=env or _env(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"synthgap render failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="session")
def cfg_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "cfg.yaml"
    p.write_text(CFG)
    return p


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, cfg_file, render_python, render_manifest):
    out = tmp_path_factory.mktemp("render") / "ds"
    _cli("--config", cfg_file, "--n", N, "--out", out, "--workers", 2, "--shard-size", SHARD)
    return out


@pytest.fixture(scope="session")
def rendered_bproc_run(tmp_path_factory, cfg_file, render_python, render_manifest):
    """Run mode (a): `blenderproc run render/scene.py` with the project's fake Blender folder."""
    shim = render_python.parent.parent / "blender-shim"
    assert (shim / "blender").exists(), "run `python -m render.envsetup` in the render env (scripts/setup.sh)"
    out = tmp_path_factory.mktemp("bprocrun") / "ds"
    p = subprocess.run([str(render_python.parent / "blenderproc"), "run", "render/scene.py",
                        "--custom-blender-path", str(shim), "--config", str(cfg_file), "--n", "3", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return out


def _load(d):
    coco = json.loads((d / "coco_annotations.json").read_text())
    side = json.loads((d / "sidecar.json").read_text())
    return coco, side


def _check_asset(manifest, asset_id: str, cls: str) -> None:
    """asset_id is a manifest mesh of class cls that the renderer may pick for it (real meshes win over
    primitives of the same class)."""
    entry = manifest.by_id(asset_id)
    assert entry.kind == "mesh" and entry.cls == cls, (asset_id, cls)
    assert entry in manifest.meshes([cls]), f"{asset_id} ({cls}) is not among the meshes used for {cls}"


def check_coco_contract(d: Path, manifest, n: int, classes=("bottle", "cup")) -> None:
    from pycocotools import mask as mu
    from pycocotools.coco import COCO

    assert (d / "DONE").exists()
    coco = COCO(str(d / "coco_annotations.json"))
    ds = coco.dataset
    assert ds["categories"] == manifest.categories()
    assert [c["name"] for c in ds["categories"]] == sorted(c["name"] for c in ds["categories"])
    assert [im["id"] for im in ds["images"]] == list(range(1, n + 1))
    assert [a["id"] for a in ds["annotations"]] == list(range(1, len(ds["annotations"]) + 1))
    assert len(ds["annotations"]) >= n  # at least 2 objects per scene are sampled; most are visible
    names = {c["id"]: c["name"] for c in ds["categories"]}
    for im in ds["images"]:
        f = d / im["file_name"]
        assert f.exists() and (im["width"], im["height"]) == (64, 48)
    for a in ds["annotations"]:
        rle = coco.annToRLE(a)
        m = mu.decode(rle).astype(bool)
        assert m.shape == (48, 64) and m.any()
        assert list(mu.toBbox(rle)) == a["bbox"], a
        assert a["area"] == float(m.sum())
        assert names[a["category_id"]] in classes  # distractors (other classes) not annotated
    info = ds["info"]
    assert info["seed"] == 3 and info["config"]["resolution"] == [64, 48] and info["licenses"]
    # one licence record per asset used in any image (annotated or distractor), each a manifest entry
    side = json.loads((d / "sidecar.json").read_text())
    used = {i for s in side["images"].values() for i in s["asset_ids"]}
    lic = {x["asset_id"]: x for x in info["licenses"]}
    assert set(lic) == used
    for asset_id, x in lic.items():
        e = manifest.by_id(asset_id)
        assert (x["licence"], x["author"]) == (e.licence, e.author)
        if e.kind == "mesh":
            _check_asset(manifest, asset_id, e.cls)
    annotated = {side["annotations"][str(a["id"])]["asset_id"] for a in ds["annotations"]}
    assert annotated <= used and {manifest.by_id(i).cls for i in annotated} <= set(classes)


def check_sidecar_contract(d: Path, manifest, classes=("bottle", "cup")) -> None:
    coco, side = _load(d)
    assert set(side["images"]) == {str(im["id"]) for im in coco["images"]}
    assert set(side["annotations"]) == {str(a["id"]) for a in coco["annotations"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    for iid, s in side["images"].items():
        assert 0.8 <= s["camera_distance"] <= 1.2 and 20 <= s["camera_elevation_deg"] <= 50
        assert s["config_name"].startswith("cfg-") and isinstance(s["scene_seed"], int)
        assert s["render_device"] in ("cpu", "cuda", "optix")
        assert 1 <= len(s["lights"]) <= 2 and all(80 <= lt["energy"] <= 200 for lt in s["lights"])
        assert s["background_kind"] == "color" and s["background_id"].startswith("#")
        for asset_id in s["asset_ids"]:
            e = manifest.by_id(asset_id)
            assert e.kind == "mesh" and e in manifest.meshes([e.cls])
    n_nan = 0
    for a in coco["annotations"]:
        s = side["annotations"][str(a["id"])]
        img = side["images"][str(a["image_id"])]
        vals = [s["depth_median"], s["depth_min"], s["occlusion_ad2"]]
        assert all(math.isfinite(v) for v in vals), s
        # objects sit around the point the camera looks at, within ~0.5 m of it
        assert 0.2 < s["depth_min"] <= s["depth_median"] < img["camera_distance"] + 0.6
        assert s["visible_px"] == a["area"] > 0
        assert s["occlusion_ad2"] == pytest.approx(s["visible_px"] * s["depth_median"] ** 2) and s["occlusion_ad2"] > 0
        # NaN (design.md: missing = NaN) when no background pixel touches the object: render/scene.py counts
        # every other object, distractors included, as not-background, so a small item standing on a table
        # (a distractor) next to another item can have an empty background ring
        if math.isnan(s["bg_similarity"]):
            n_nan += 1
        else:
            assert 0.0 <= s["bg_similarity"] <= 1.0 + 1e-9
        assert s["class"] in classes and s["class"] == names[a["category_id"]]
        _check_asset(manifest, s["asset_id"], s["class"])
        assert s["asset_id"] in img["asset_ids"]
    assert n_nan < len(coco["annotations"]), "bg_similarity is NaN for every annotation"


def test_coco_contract(rendered, render_manifest):
    check_coco_contract(rendered, render_manifest, N)


def test_sidecar_contract(rendered, render_manifest):
    check_sidecar_contract(rendered, render_manifest)


def test_contract_primitives_only(tmp_path, cfg_file, render_python, render_manifest):
    """Without the asset cache only the manifest's primitives can be rendered: the contract holds there too
    (the module's other renders use the full manifest where its files exist)."""
    from render.manifest import load_manifest

    path = _write_primitives_manifest(load_manifest(), tmp_path / "primitives.yaml")
    prim = load_manifest(path)
    out = tmp_path / "ds"
    _cli("--config", cfg_file, "--n", 2, "--out", out, "--workers", 1, env=_env(SYNTHGAP_MANIFEST=str(path)))
    check_coco_contract(out, prim, 2)
    check_sidecar_contract(out, prim)
    coco, side = _load(out)
    assert all(prim.by_id(i).is_primitive for s in side["images"].values() for i in s["asset_ids"])


def test_both_run_modes_agree(rendered, rendered_bproc_run):
    """`blenderproc run` (one process) and the sharded in-process workers give the same annotations."""
    a, sa = _load(rendered_bproc_run)
    b, sb = _load(rendered)
    assert (rendered_bproc_run / "DONE").exists() and len(a["images"]) == 3
    assert a["annotations"] == [x for x in b["annotations"] if x["image_id"] <= 3]
    for k, v in sa["annotations"].items():
        assert v == sb["annotations"][k]
    assert a["categories"] == b["categories"]


def test_resume_after_kill9_of_driver(tmp_path, cfg_file, rendered):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "synthgap", "render", "--quiet", "--config", str(cfg_file), "--n", str(N),
           "--out", str(out), "--workers", "1", "--shard-size", "1"]
    p = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    shards = out / ".render" / "shards"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120 and len(list(shards.glob("*.json"))) < 2:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)  # the driver; its worker dies with it (PR_SET_PDEATHSIG)
    p.wait()
    time.sleep(0.5)
    before = {f.name: f.stat().st_mtime_ns for f in shards.glob("*.json")}
    assert 2 <= len(before) < N and not (out / "DONE").exists()
    _cli("--config", cfg_file, "--n", N, "--out", out, "--workers", 2)  # resumes with the dir's shard size
    after = {f.name: f.stat().st_mtime_ns for f in shards.glob("*.json")}
    assert len(after) == N and all(after[k] == v for k, v in before.items())  # done shards not re-rendered
    a, sa = _load(out)
    b, sb = _load(rendered)
    assert a["annotations"] == b["annotations"] and a["images"] == b["images"]
    _assert_pixels_equal(out, rendered)


def _assert_pixels_equal(a_dir: Path, b_dir: Path) -> None:
    """Images and the pixel-derived sidecar values (bg_similarity) equal too: same seeds, Cycles is
    deterministic on CPU, and each scene renders the same whatever its worker rendered before."""
    a, sa = _load(a_dir)
    b, sb = _load(b_dir)
    assert sa["annotations"] == sb["annotations"]
    for im in a["images"]:
        assert (a_dir / im["file_name"]).read_bytes() == (b_dir / im["file_name"]).read_bytes(), im


def test_fault_hook_inert_without_variable():
    """tests/faultinject/sitecustomize.py installs its import hook only when SYNTHGAP_RENDER_FAULT is set."""
    code = ("import sys, sitecustomize; print(sitecustomize.__file__); "
            "print(sum(type(f).__name__ == '_RenderSceneFinder' for f in sys.meta_path))")
    for extra, hooks in (({}, "0"), ({"SYNTHGAP_RENDER_FAULT": "1:1"}, "1")):
        env = _env(**extra)
        env["PYTHONPATH"] = str(FAULTINJECT) + os.pathsep + str(REPO)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == [str(FAULTINJECT / "sitecustomize.py"), hooks]


def test_crashed_worker_retried_and_persistent_failure_reported(tmp_path, cfg_file, rendered):
    # a worker killed (SIGKILL) once on image 4 is retried; the result equals the uninterrupted run
    out = tmp_path / "retry"
    p = _cli("--config", cfg_file, "--n", N, "--out", out, "--workers", 2, "--shard-size", SHARD,
             env=_env(SYNTHGAP_RENDER_FAULT="4:1"))
    assert (out / ".render" / "faults" / "4-0").exists()
    assert "1 shard(s) rendered after a retry (shard 1: worker exit" in p.stdout + p.stderr
    assert _load(out)[0]["annotations"] == _load(rendered)[0]["annotations"]
    # image 2 always crashes: that shard fails, the others complete, exit != 0, no DONE; a rerun finishes it
    out = tmp_path / "fail"
    p = _cli("--config", cfg_file, "--n", N, "--out", out, "--workers", 2, "--shard-size", SHARD,
             "--retries", 1, env=_env(SYNTHGAP_RENDER_FAULT="2:99"), check=False)
    assert p.returncode != 0 and not (out / "DONE").exists()
    err = p.stderr.strip().splitlines()[-1]
    assert "1 of 3 shards failed" in err and "shard 0 (images 1-2)" in err and "(2 rendered)" in err
    assert sorted(f.name for f in (out / ".render" / "shards").glob("*.json")) == ["00001.json", "00002.json"]
    _cli("--config", cfg_file, "--n", N, "--out", out, "--workers", 2)
    assert (out / "DONE").exists() and _load(out)[0]["annotations"] == _load(rendered)[0]["annotations"]


def test_plan_floating_blur_denoise(tmp_path, render_python):
    import yaml

    base = {"resolution": [64, 48], "samples": 4, "objects_per_scene": [1, 2], "classes": ["bottle"],
            "camera": {"distance": [0.9, 1.1], "elevation_deg": [10, 40]}}
    e1 = dict(base, placement="floating", blur_sigma_px=[1.0, 2.0], background={"kind": "color", "ids": ["#336699"]})
    e2 = dict(base, denoiser="fast", distractors=[1, 1])
    plan = {"total": 3, "entries": [{"config": e1, "config_name": "a", "count": 2, "component": 0, "why": "t"},
                                    {"config": e2, "config_name": "b", "count": 1, "component": 1, "why": "t"}]}
    pf = tmp_path / "plan.yaml"
    pf.write_text(yaml.safe_dump(plan))
    out = tmp_path / "ds"
    _cli("--plan", pf, "--out", out, "--workers", 1)
    coco, side = _load(out)
    assert len(coco["images"]) == 3 and coco["info"]["counts"] == [2, 1]
    s = side["images"]
    assert s["1"]["background_id"] == "#336699" and 1.0 <= s["1"]["blur_sigma_px"] <= 2.0
    assert s["3"]["config_name"] == coco["info"]["config_names"][1] and s["3"]["n_distractors"] == 1
    assert s["1"]["config_name"] != s["3"]["config_name"]
    assert all(side["annotations"][str(a["id"])]["class"] == "bottle" for a in coco["annotations"])
    # rerunning a finished dir is a no-op
    t = (out / "DONE").stat().st_mtime_ns
    _cli("--plan", pf, "--out", out)
    assert (out / "DONE").stat().st_mtime_ns == t


def test_cli_errors_are_one_line(tmp_path, cfg_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera: {distance: [2, 1]}\n")
    p = _cli("--config", bad, "--n", 2, "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and p.stderr.strip() == f"synthgap render: error: {bad}: key 'camera.distance': " \
                                                    "empty range: min 2.0 > max 1.0"
    bad.write_text("classes: [unicorn]\n")
    p = _cli("--config", bad, "--n", 2, "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and "key 'classes': unknown class 'unicorn'" in p.stderr and p.stderr.count("\n") == 1
    bad.write_text("background: {kind: hdri, ids: [nope]}\n")
    p = _cli("--config", bad, "--n", 2, "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and "key 'background." in p.stderr and p.stderr.count("\n") == 1
    # a dir holding another job is refused instead of being mixed
    out = tmp_path / "o2"
    _cli("--config", cfg_file, "--n", 1, "--out", out, "--workers", 1)
    p = _cli("--config", cfg_file, "--n", 2, "--out", out, check=False)
    assert p.returncode == 2 and "holds a different render job" in p.stderr
    p = _cli("--config", cfg_file, "--n", 1, "--out", out, "--backend", "ray", check=False)
    assert p.returncode == 0  # already complete: nothing to run (no Ray started)
    p = _cli("--config", cfg_file, "--n", 1, "--out", tmp_path / "o3", "--backend", "ray", "--ray-address",
             "127.0.0.1:1", check=False, timeout=60)  # nothing listens there: fails at once, not after minutes
    assert p.returncode == 2 and "--ray-address '127.0.0.1:1': nothing answers there" in p.stderr
    assert p.stderr.count("\n") == 1


def test_gpu_device_without_a_gpu_is_one_line_before_any_shard(tmp_path, cfg_file):
    """--device cuda/optix on a machine whose Cycles finds no such GPU: refused before a shard starts (--device
    auto falls back to the CPU there: every sidecar image records render_device, see the contract)."""
    from render.devices import gpu_count
    if gpu_count():
        pytest.skip("this machine has a GPU: the refusal is for machines without one")
    for kind in ("cuda", "optix"):
        p = _cli("--config", cfg_file, "--n", 1, "--out", tmp_path / kind, "--device", kind, check=False)
        assert p.returncode == 2 and f"--device {kind}: Cycles finds no {kind.upper()} GPU" in p.stderr
        assert p.stderr.count("\n") == 1 and not (tmp_path / kind).exists()


# ---- Ray backend (a local Ray instance; primitives only, so the comparison needs no asset cache) -----------
RAY_N, RAY_SHARD = 4, 2


def _ray_env(manifest_path: Path, **extra):
    return _env(SYNTHGAP_MANIFEST=str(manifest_path), RAY_USAGE_STATS_ENABLED="0", **extra)


@pytest.fixture(scope="module")
def prim_local(tmp_path_factory, cfg_file, render_python):
    """The local backend's render of RAY_N scenes with the primitives-only manifest (the reference)."""
    from render.manifest import load_manifest

    d = tmp_path_factory.mktemp("ray")
    manifest = _write_primitives_manifest(load_manifest(), d / "primitives.yaml")
    out = d / "local"
    _cli("--config", cfg_file, "--n", RAY_N, "--out", out, "--workers", 2, "--shard-size", RAY_SHARD,
         env=_ray_env(manifest))
    return manifest, out


def _same_dataset(a: Path, b: Path) -> None:
    for f in ("coco_annotations.json", "sidecar.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    _assert_pixels_equal(a, b)


def test_ray_backend_matches_local(tmp_path, cfg_file, prim_local):
    """`--backend ray` on a local Ray instance: same shard files, merged result byte-identical to the local
    backend's; a task whose worker is killed (SIGKILL on image 3, once) is retried."""
    manifest, ref = prim_local
    out = tmp_path / "ray"
    p = _cli("--config", cfg_file, "--n", RAY_N, "--out", out, "--workers", 2, "--shard-size", RAY_SHARD,
             "--backend", "ray", env=_ray_env(manifest, SYNTHGAP_RENDER_FAULT="3:1"), timeout=180)
    assert f"{RAY_N} images" in p.stdout
    assert (out / ".render" / "faults" / "3-0").exists() and (out / "DONE").exists()
    assert sorted(f.name for f in (out / ".render" / "shards").glob("*.json")) == ["00000.json", "00001.json"]
    _same_dataset(out, ref)


def test_ray_backend_failure_report_and_resume(tmp_path, cfg_file, prim_local):
    """A shard that keeps failing is reported after its retries (exit 2, no DONE, the other shard kept);
    the rerun renders only the missing shard and ends identical to the local backend's result."""
    manifest, ref = prim_local
    out = tmp_path / "ray"
    p = _cli("--config", cfg_file, "--n", RAY_N, "--out", out, "--workers", 2, "--shard-size", RAY_SHARD,
             "--backend", "ray", "--retries", 1, env=_ray_env(manifest, SYNTHGAP_RENDER_FAULT="1:99"),
             check=False, timeout=180)
    err = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and not (out / "DONE").exists(), p.stderr[-2000:]
    assert "1 of 2 shards failed after 1 retries" in err and "shard 0 (images 1-2): worker exit" in err, err
    shards = out / ".render" / "shards"
    assert sorted(f.name for f in shards.glob("*.json")) == ["00001.json"]
    kept = (shards / "00001.json").stat().st_mtime_ns
    # resume through the API, the address from $SYNTHGAP_RAY_ADDRESS unset -> local instance
    _cli("--config", cfg_file, "--n", RAY_N, "--out", out, "--backend", "ray", env=_ray_env(manifest), timeout=180)
    assert (shards / "00001.json").stat().st_mtime_ns == kept  # not rendered again
    _same_dataset(out, ref)


def test_ray_two_node_cluster_survives_losing_a_node(tmp_path, cfg_file, prim_local):
    """A local two-node Ray cluster (ray.cluster_utils.Cluster; the head takes no task, each node one): while
    both nodes render a shard, one node is removed; its shard is retried on the other node and the merged
    result is byte-identical to the local backend's."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    manifest, ref = prim_local
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    mem = {"object_store_memory": 80 * 2 ** 20}
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 0, **mem})
    try:
        cluster.add_node(num_cpus=1, **mem)
        victim = cluster.add_node(num_cpus=1, **mem)
        cluster.wait_for_nodes()
        out = tmp_path / "ray"
        cmd = [sys.executable, "-m", "synthgap", "render", "--config", str(cfg_file), "--n", str(RAY_N), "--out",
               str(out), "--workers", "2", "--shard-size", str(RAY_SHARD), "--backend", "ray", "--ray-address",
               cluster.address]
        proc = subprocess.Popen(cmd, cwd=REPO, env=_ray_env(manifest), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if len(list((out / ".render" / "logs").glob("ray-*.log"))) >= 2:   # a task on each node
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert not list((out / ".render" / "shards").glob("*.json")), "a shard finished before the node went"
        cluster.remove_node(victim)
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        assert "render: 1 shard(s) rendered after a retry (shard " in stdout, stdout + stderr[-2000:]
        assert "node it was running on is dead" in stdout, stdout
        assert len(list((out / ".render" / "logs").glob("ray-*.log"))) == 3
        _same_dataset(out, ref)
    finally:
        cluster.shutdown()


def test_photo_background_keeps_boxes_exact(tmp_path, render_manifest):
    """A magenta plate behind the objects: every pixel off the plate's colour lies on an annotated box (+4 px for
    JPEG's chroma blur and the motion streak), the photo shows everywhere else, and the effects and the drawn
    sample count are recorded per image."""
    from PIL import Image

    plates = tmp_path / "plates"
    plates.mkdir()
    Image.new("RGB", (80, 60), (255, 0, 255)).save(plates / "magenta.png")
    cfg = tmp_path / "photo.yaml"
    cfg.write_text("resolution: [64, 48]\nsamples: [2, 6]\nobjects_per_scene: [1, 2]\nclasses: [bottle]\n"
                   "camera: {distance: [0.8, 1.2], elevation_deg: [20, 40]}\n"
                   f"background: {{kind: photo, dir: {plates}}}\n"
                   "effects: {jpeg_quality: [100, 100], exposure_ev: [0, 0.2], motion_px: [1, 2]}\nseed: 5\n")
    out = tmp_path / "ds"
    _cli("--config", cfg, "--n", 3, "--out", out, "--workers", 1)
    coco, side = _load(out)
    assert coco["annotations"], "no object in frame"
    inside_hits = 0
    for im in coco["images"]:
        s = side["images"][str(im["id"])]
        assert s["background_kind"] == "photo" and s["background_id"] == "magenta.png"
        assert s["effects"]["jpeg_quality"] == 100 and 0 <= s["effects"]["exposure_ev"] <= 0.2
        assert 1 <= s["effects"]["motion_px"] <= 2 and 2 <= s["samples"] <= 6   # motion streaks stay in the margin
        g = np.asarray(Image.open(out / im["file_name"]).convert("RGB"))[..., 1].astype(int)
        near = np.zeros(g.shape, bool)
        for a in (a for a in coco["annotations"] if a["image_id"] == im["id"]):
            x, y, w, h = a["bbox"]
            near[max(0, int(y) - 4):int(math.ceil(y + h)) + 4, max(0, int(x) - 4):int(math.ceil(x + w)) + 4] = True
            inside_hits += int((g[int(y):int(y + h), int(x):int(x + w)] > 60).sum())
        assert not ((g > 60) & ~near).any(), f"{im['file_name']}: non-plate pixels outside every box"
        assert (g[~near] < 30).mean() > 0.95            # the plate (or a shadow on it) shows off the objects
    assert inside_hits > 0


def test_clutter_is_placed_never_annotated_and_credited(tmp_path, render_manifest):
    """Clutter (manifest kind clutter: real models when the cache has them, else the primitives) stands around
    the targets and, with occlude 1, one piece in a target's line of sight; no clutter object ever gets an
    annotation; the clutter models are in the images' asset ids and credited in the COCO info.licenses."""
    cfg = tmp_path / "clutter.yaml"
    cfg.write_text("resolution: [64, 48]\nsamples: 2\nobjects_per_scene: [1, 2]\nclasses: [bottle]\n"
                   "camera: {distance: [1.0, 1.4], elevation_deg: [15, 35]}\n"
                   "clutter: {count: [3, 3], occlude: 1.0}\nseed: 8\n")
    out = tmp_path / "ds"
    _cli("--config", cfg, "--n", 3, "--out", out, "--workers", 1)
    coco, side = _load(out)
    clutter_ids = {a.id for a in render_manifest.clutter()}
    assert coco["annotations"], "no object in frame"
    assert all(side["annotations"][str(a["id"])]["object"].startswith("sg_obj_") for a in coco["annotations"])
    assert {c["name"] for c in coco["categories"]} == set(render_manifest.class_names())   # clutter: no class
    for im in coco["images"]:
        s = side["images"][str(im["id"])]
        on = [p for p in s["placement"] if p["object"].startswith("sg_clutter_")]
        assert s["n_clutter"] == 3 and len(on) == 3 and not any(p["annotated"] for p in on)
        assert {p["asset_id"] for p in on} <= clutter_ids and s["clutter_occluder"] in clutter_ids
        assert {p["asset_id"] for p in on} <= set(s["asset_ids"])
    used = {p["asset_id"] for im in side["images"].values() for p in im["placement"] if p["asset_id"] in clutter_ids}
    credited = {x["asset_id"]: x for x in coco["info"]["licenses"]}
    assert used and used <= set(credited)
    assert all(credited[a]["licence"] == render_manifest.by_id(a).licence for a in used)


def test_material_jitter_changes_objects_not_boxes(tmp_path, render_manifest):
    """The same scenes with `materials: {value: [0.3, 0.3], ...}`: every object's pixels darker, the boxes and
    the background the same; the drawn values per object in the sidecar."""
    base = ("resolution: [64, 48]\nsamples: 4\nobjects_per_scene: [1, 2]\nclasses: [bottle]\n"
            "camera: {distance: [0.8, 1.0], elevation_deg: [15, 30]}\nbackground: {kind: color, ids: ['#808080']}\n"
            "seed: 6\n")
    outs = {}
    for name, extra in (("plain", ""), ("dark", "materials: {value: [0.3, 0.3], roughness: [0.5, 0.9]}\n")):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(base + extra)
        outs[name] = tmp_path / name
        _cli("--config", cfg, "--n", 3, "--out", outs[name], "--workers", 1)
    (plain, ps), (dark, ds) = _load(outs["plain"]), _load(outs["dark"])
    assert [a["bbox"] for a in plain["annotations"]] == [a["bbox"] for a in dark["annotations"]] and plain["annotations"]
    from PIL import Image
    inside = {k: [] for k in outs}
    for k, (coco, _) in (("plain", (plain, ps)), ("dark", (dark, ds))):
        for a in coco["annotations"]:
            im = next(i for i in coco["images"] if i["id"] == a["image_id"])
            g = np.asarray(Image.open(outs[k] / im["file_name"]).convert("L"), dtype=float)
            mask = np.zeros(g.shape, bool)
            x, y, w, h = (int(round(v)) for v in a["bbox"])
            mask[y:y + h, x:x + w] = True
            inside[k].append(g[mask].mean())
    assert np.mean(inside["dark"]) < np.mean(inside["plain"]) - 5, inside
    for s in ds["images"].values():
        mats = [p["material"] for p in s["placement"]]
        assert mats and all(m["value"] == 0.3 and 0.5 <= m["roughness"] <= 0.9 for m in mats)
    assert all("material" not in p for s in ps["images"].values() for p in s["placement"])


def test_room_puts_the_objects_on_a_table_between_walls(tmp_path, render_manifest):
    """background kind room: a floor texture, four walls, a dining table of the manifest (never annotated) with
    the bottles standing on its top; the camera still sees them."""
    cfg = tmp_path / "room.yaml"
    cfg.write_text("resolution: [64, 48]\nsamples: 2\nobjects_per_scene: [1, 2]\nclasses: [bottle]\n"
                   "camera: {distance: [0.9, 1.2], elevation_deg: [20, 35]}\nbackground: {kind: room}\nseed: 2\n")
    out = tmp_path / "ds"
    _cli("--config", cfg, "--n", 3, "--out", out, "--workers", 1)
    coco, side = _load(out)
    assert coco["annotations"] and all(side["annotations"][str(a["id"])]["class"] == "bottle"
                                       for a in coco["annotations"])
    tables = {a.id for a in render_manifest.meshes(["dining table"])}
    for s in side["images"].values():
        assert s["background_kind"] == "room" and s["room_table"] in tables and len(s["wall_rgb"]) == 3
        assert s["room_half_m"] >= 1.2 + 0.5
        targets = [p for p in s["placement"] if p["annotated"]]
        assert targets and all(p["support"] == "sg_room_table" and p["support_z"] > 0.3 for p in targets), targets
        assert s["room_table"] in s["asset_ids"] and s["background_id"] in s["asset_ids"]   # table, floor credited
    bad = tmp_path / "bad.yaml"
    bad.write_text("background: {kind: room}\nplacement: floating\n")
    p = _cli("--config", bad, "--n", 1, "--out", tmp_path / "x", check=False)
    assert p.returncode == 2 and "key 'background.kind': room stands the objects on a table" in p.stderr


def test_exclude_assets_keeps_those_meshes_out(tmp_path, render_manifest):
    """exclude_assets: the listed meshes are never drawn; an unknown id, or one list that leaves a class without
    meshes, is a one-line error before any render."""
    ids = [a.id for a in render_manifest.meshes(["bottle"])]
    cfg = tmp_path / "ex.yaml"
    base = ("resolution: [64, 48]\nsamples: 2\nobjects_per_scene: [2, 2]\nclasses: [bottle]\n"
            "camera: {distance: [1.0, 1.2], elevation_deg: [20, 30]}\nseed: 3\n")
    cfg.write_text(base + f"exclude_assets: {ids[1:]}\n")
    if len(ids) > 1:
        out = tmp_path / "ds"
        _cli("--config", cfg, "--n", 3, "--out", out, "--workers", 1)
        coco, side = _load(out)
        assert coco["annotations"] and {side["annotations"][str(a["id"])]["asset_id"]
                                         for a in coco["annotations"]} == {ids[0]}
    cfg.write_text(base + f"exclude_assets: {ids}\n")
    p = _cli("--config", cfg, "--n", 1, "--out", tmp_path / "x", check=False)
    assert p.returncode == 2 and "key 'exclude_assets': excludes every mesh of class 'bottle'" in p.stderr
    cfg.write_text(base + "exclude_assets: [no-such-mesh]\n")
    p = _cli("--config", cfg, "--n", 1, "--out", tmp_path / "y", check=False)
    assert p.returncode == 2 and "'no-such-mesh' is not an asset of" in p.stderr


def test_framing_puts_single_objects_where_asked(tmp_path, render_manifest):
    """One object per scene with framing ranges: box centres follow the drawn targets and cover the range."""
    cfg = tmp_path / "frame.yaml"
    cfg.write_text("resolution: [64, 48]\nsamples: 4\nobjects_per_scene: [1, 1]\nclasses: [bottle]\n"
                   "camera: {distance: [1.0, 1.2], elevation_deg: [10, 30], target_u: [0.2, 0.8], "
                   "target_v: [0.25, 0.75], roll_deg: [-10, 10]}\nseed: 4\n")
    out = tmp_path / "ds"
    _cli("--config", cfg, "--n", 6, "--out", out, "--workers", 1)
    coco, side = _load(out)
    us, vs = [], []
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        s = side["images"][str(a["image_id"])]
        u, v = s["camera_target_uv"]
        assert 0.2 <= u <= 0.8 and 0.25 <= v <= 0.75 and -10 <= s["camera_roll_deg"] <= 10
        assert abs((x + w / 2) / 64 - u) < 0.08 and abs((y + h / 2) / 48 - v) < 0.08, (a["bbox"], u, v)
        us.append(u)
        vs.append(v)
    assert len(us) >= 5 and max(us) - min(us) > 0.25 and max(vs) - min(vs) > 0.2


def test_reused_dir_with_a_deleted_image_is_repaired(tmp_path, cfg_file, rendered):
    """A finished dir is verified on reuse: a deleted or truncated image is rendered again, byte-identical."""
    import shutil
    out = tmp_path / "ds"
    shutil.copytree(rendered, out)
    coco, _ = _load(out)
    gone, cut = out / coco["images"][0]["file_name"], out / coco["images"][-1]["file_name"]
    want = {p: p.read_bytes() for p in (gone, cut)}
    gone.unlink()
    cut.write_bytes(want[cut][:100])
    p = _cli("--config", cfg_file, "--n", N, "--out", out, "--workers", 2, "--shard-size", SHARD)
    assert "missing or damaged image" in p.stdout + p.stderr
    assert all(path.read_bytes() == b for path, b in want.items())
    assert (out / "DONE").exists() and _load(out)[0] == coco


def test_missing_asset_file_found_before_any_blender(tmp_path, cfg_file):
    """A manifest entry whose file is gone: one line naming the asset and file, exit 2, before any worker."""
    import dataclasses
    import time as _time

    from render.manifest import Manifest, dump_manifest, load_manifest
    real = load_manifest()
    gone = dataclasses.replace(next(a for a in real.assets if a.kind == "mesh" and a.cls == "cup"),
                               id="gone-cup", path=str(tmp_path / "no_such_cup.obj"), format="obj", sha256="0" * 64)
    m = tmp_path / "manifest.yaml"
    m.write_text(dump_manifest(Manifest(path=m, assets=[a for a in real.assets if a.is_primitive] + [gone]), "# t\n"))
    t0 = _time.monotonic()
    p = _cli("--config", cfg_file, "--n", 2, "--out", tmp_path / "o", env=_env(SYNTHGAP_MANIFEST=str(m)), check=False)
    err = p.stderr.strip()
    assert p.returncode == 2 and len(err.splitlines()) == 1, err
    assert "'gone-cup'" in err and "no_such_cup.obj" in err and "not found" in err
    assert not (tmp_path / "o" / ".render" / "logs").exists()          # no worker was started
    assert _time.monotonic() - t0 < 30
