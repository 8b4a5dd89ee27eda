"""Render speed: `synthgap render` vs a bare Cycles render of the same scenes vs one `blenderproc run` per scene.

    PYTHONPATH=. .venv/bin/python benchmarks/render_speed.py [--n 16] [--bare-n 16] [--per-process-n 4]
        [--workers 2] [--resolution 320 240] [--samples 16] [--json results.json] [--keep]

Prints seconds per image of
  (1) synthgap render --config C --n N --workers W (wall clock, process start-up, annotation and merge included),
  (2) a bare Cycles render of the first scenes of (1) (same SceneConfig, same scene seeds, built by
      render/scene.py), timing only bpy.ops.render.render: no segmentation / distance passes, no annotation,
      no BlenderProc output loading, no process start-up; run with the same layout as (1) (W processes side
      by side, cores/W threads each; per image = slowest process's render time / images) and, for reference,
      (2b) one process with all cores,
  (3) one `blenderproc run render/scene.py --n 1` process per scene, one after another with all cores
      (the fake-Blender shim; wall clock; same config, scene seeds from --seed 1000+i),
and the ratios (1)/(2) (goal <= 1.15) and (1)/(3) (goal <= 0.35), in wall clock and in CPU seconds (children's
user+sys for (1) and (3), the render call's process time for (2)); CPU time moves less with other load.

--devices D1,D2,... (e.g. `--devices cpu,auto --resolution 640 480 --samples 64` on a GPU machine; issue 26's goal
is GPU s/img <= 0.1x the CPU's) instead times (1) once per Cycles device on the same scenes and prints each
device's s/image, the `render_device` its sidecars record and the ratio to the first device; no (2) or (3).

Everything uses the manifest's meshes (the asset cache when present). On a shared machine the figures move
with the other load: the load average is printed at start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def bench_config(w: int, h: int, samples: int) -> dict:
    return {"resolution": [w, h], "samples": samples, "objects_per_scene": [2, 4], "classes": ["bottle", "cup"],
            "distractors": [0, 1], "camera": {"distance": [0.8, 1.6], "elevation_deg": [15, 50]}, "seed": 11}


def bare_worker(cfg_path: str, indices: list[int], out: str, threads: int) -> None:
    """Runs in the render environment: build the given scenes like synthgap, time only Cycles."""
    from render.bproc_compat import hard_exit, import_blenderproc

    bproc = import_blenderproc()
    import bpy

    from render import scene
    from render.config import SceneConfig
    from render.manifest import load_manifest
    from render.shards import scene_seed

    cfg = SceneConfig.from_yaml(cfg_path)
    manifest = load_manifest()
    bproc.init()  # no distance / segmentation outputs: plain RGB
    if threads:
        bproc.renderer.set_cpu_threads(threads)
    times, cpu = [], []
    for i in indices:
        seed = scene_seed(cfg.seed, i)
        scene._apply_render_settings(cfg, seed)
        scene.build_scene(cfg, manifest, seed)
        bpy.context.scene.frame_start, bpy.context.scene.frame_end = 0, 0
        bpy.context.scene.render.filepath = os.path.join(out, f"bare_{i:03d}.png")
        t, c = time.perf_counter(), time.process_time()
        bpy.ops.render.render(write_still=True)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # all threads of this process
    print("BARE " + json.dumps({"wall": times, "cpu": cpu}), flush=True)
    hard_exit(0)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--bare-n", type=int, default=16)
    ap.add_argument("--per-process-n", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--resolution", type=int, nargs=2, default=[320, 240])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--devices", default=None, help="compare (1) across these Cycles devices (auto, cpu, cuda, "
                    "optix), the first the reference; nothing else is timed")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--bare-worker", nargs=4, metavar=("CFG", "INDICES", "OUT", "THREADS"), help=argparse.SUPPRESS)
    return ap.parse_args()


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_synthgap(args: argparse.Namespace, cfg_path: Path, tmp: Path, env: dict,
                  device: str = "auto") -> tuple[float, float]:
    """(1) synthgap render on `device`: (wall, CPU) seconds per image."""
    t, c = time.perf_counter(), children_cpu()
    subprocess.run([sys.executable, "-m", "synthgap", "render", "--quiet", "--config", str(cfg_path), "--n",
                    str(args.n), "--out", str(tmp / f"synthgap-{device}"), "--workers", str(args.workers),
                    "--device", device], check=True, env=env)
    s1 = (time.perf_counter() - t) / args.n
    c1 = (children_cpu() - c) / args.n  # driver + workers, start-up and merge included
    print(f"(1) synthgap render --workers {args.workers} --device {device}: {s1:.3f} s/image ({args.n} images); "
          f"CPU {c1:.3f} s/image")
    return s1, c1


def compare_devices(args: argparse.Namespace, cfg_path: Path, tmp: Path, env: dict) -> dict:
    """(1) per device in args.devices on the same scenes: {device: {s_per_image, render_device, ratio}}."""
    out: dict[str, dict] = {}
    for dev in args.devices.split(","):
        s1, _ = time_synthgap(args, cfg_path, tmp, env, dev)
        side = json.loads((tmp / f"synthgap-{dev}" / "sidecar.json").read_text())["images"]
        used = sorted({str(rec.get("render_device")) for rec in side.values()})
        out[dev] = {"s_per_image": s1, "render_device": used}
    ref = next(iter(out.values()))["s_per_image"]
    for dev, rec in out.items():
        rec["ratio"] = rec["s_per_image"] / ref
        print(f"--device {dev}: {rec['s_per_image']:.3f} s/image, rendered on {','.join(rec['render_device'])}, "
              f"{rec['ratio']:.3f}x the first")
    return out


def time_bare(args: argparse.Namespace, py: Path, cfg_path: Path, tmp: Path, env: dict,
              n_proc: int) -> tuple[float, float]:
    """(2) bare Cycles on the same scenes in n_proc processes x (cores / n_proc) threads: (wall, CPU) per image."""
    threads = max(1, (os.cpu_count() or 1) // n_proc)
    procs = [subprocess.Popen([str(py), __file__, "--bare-worker", str(cfg_path),
                               ",".join(str(i) for i in range(k, args.bare_n, n_proc)), str(tmp / "bare"),
                               str(threads)], env=env, stdout=subprocess.PIPE, text=True)
             for k in range(n_proc)]
    per_proc = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"bare worker failed ({p.returncode})")
        per_proc.append(json.loads([ln for ln in stdout.splitlines() if ln.startswith("BARE ")][-1][5:]))
    # render-only wall time of the slowest process per image (processes run side by side); CPU: all
    return (max(sum(t["wall"]) for t in per_proc) / args.bare_n,
            sum(sum(t["cpu"]) for t in per_proc) / args.bare_n)


def time_per_process(args: argparse.Namespace, py: Path, cfg_path: Path, tmp: Path,
                     env: dict) -> tuple[float, float, int]:
    """(3) one `blenderproc run` process per scene: (wall, CPU) per image and the number of processes."""
    shim = py.parent.parent / "blender-shim"
    per = []
    c = children_cpu()
    for i in range(args.per_process_n):
        t = time.perf_counter()
        subprocess.run([str(py.parent / "blenderproc"), "run", "render/scene.py", "--custom-blender-path", str(shim),
                        "--config", str(cfg_path), "--n", "1", "--seed", str(1000 + i), "--out",
                        str(tmp / f"bprocrun_{i}")], check=True, env=env, cwd=REPO, capture_output=True)
        per.append(time.perf_counter() - t)
    s3 = sum(per) / len(per)
    c3 = (children_cpu() - c) / len(per)
    print(f"(3) one `blenderproc run` process per scene: {s3:.3f} s/image ({len(per)} processes); "
          f"CPU {c3:.3f} s/image")
    return s3, c3, len(per)


def write_json(args: argparse.Namespace, load: tuple[float, float], wall: dict[str, float], cpu: dict[str, float],
               per_process_n: int) -> None:
    """The figures to args.json; wall and cpu: seconds per image of synthgap, bare, bare_1proc, per_process."""
    Path(args.json).write_text(json.dumps({
        "command": " ".join(sys.argv), "resolution": args.resolution, "samples": args.samples,
        "workers": args.workers, "cores": os.cpu_count(), "load_avg_start": load[0], "load_avg_end": load[1],
        "synthgap_s_per_image": wall["synthgap"], "n": args.n, "bare_s_per_image": wall["bare"],
        "bare_1proc_s_per_image": wall["bare_1proc"], "bare_n": args.bare_n,
        "per_process_s_per_image": wall["per_process"], "per_process_n": per_process_n,
        "ratio_vs_bare": wall["synthgap"] / wall["bare"],
        "ratio_vs_per_process": wall["synthgap"] / wall["per_process"],
        "cpu_s_per_image": cpu, "cpu_ratio_vs_bare": cpu["synthgap"] / cpu["bare"],
        "cpu_ratio_vs_per_process": cpu["synthgap"] / cpu["per_process"]}, indent=1) + "\n")


def main() -> int:
    args = parse_args()
    if args.bare_worker:
        cfg, idx, out, threads = args.bare_worker
        bare_worker(cfg, [int(i) for i in idx.split(",")], out, int(threads))
        return 0

    import yaml

    from core.envs import render_python, subprocess_env

    py = render_python()
    env = subprocess_env()
    tmp = Path(tempfile.mkdtemp(prefix="render_speed_", dir=REPO / ".synthgap" if (REPO / ".synthgap").is_dir()
                                else None))
    cfg_path = tmp / "bench.yaml"
    cfg_path.write_text(yaml.safe_dump(bench_config(*args.resolution, args.samples)))
    load_start = os.getloadavg()[0]
    print(f"config {cfg_path}: {args.resolution[0]}x{args.resolution[1]} {args.samples} spp, "
          f"{os.cpu_count()} cores, load avg at start {load_start:.2f}")

    if args.devices:
        figures = compare_devices(args, cfg_path, tmp, env)
        if args.json:
            Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), "resolution": args.resolution,
                                                   "samples": args.samples, "n": args.n, "devices": figures},
                                                  indent=1) + "\n")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    s1, c1 = time_synthgap(args, cfg_path, tmp, env)
    # (2) W processes x (cores / W) threads like (1), and (2b) 1 process x all cores
    s2, c2 = time_bare(args, py, cfg_path, tmp, env, args.workers)
    print(f"(2) bare Cycles, {args.workers} processes x {max(1, (os.cpu_count() or 1) // args.workers)} threads "
          f"(bpy.ops.render.render only): {s2:.3f} s/image ({args.bare_n} images); CPU {c2:.3f} s/image")
    s2b, c2b = time_bare(args, py, cfg_path, tmp, env, 1)
    print(f"(2b) bare Cycles, 1 process x {os.cpu_count()} threads: {s2b:.3f} s/image ({args.bare_n} images); "
          f"CPU {c2b:.3f} s/image")
    s3, c3, n3 = time_per_process(args, py, cfg_path, tmp, env)
    print(f"ratio (1)/(2) = {s1 / s2:.3f}  (goal <= 1.15);  (1)/(2b) = {s1 / s2b:.3f};  CPU (1)/(2) = {c1 / c2:.3f}")
    print(f"ratio (1)/(3) = {s1 / s3:.3f}  (goal <= 0.35);  CPU (1)/(3) = {c1 / c3:.3f}")
    load_end = os.getloadavg()[0]
    print(f"load avg at end {load_end:.2f}")
    if args.json:
        write_json(args, (load_start, load_end), {"synthgap": s1, "bare": s2, "bare_1proc": s2b, "per_process": s3},
                   {"synthgap": c1, "bare": c2, "bare_1proc": c2b, "per_process": c3}, n3)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
