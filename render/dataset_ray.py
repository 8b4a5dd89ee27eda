"""render_dataset's Ray backend (render/dataset.py, backend="ray"): each shard is one Ray task that starts the same
render-env worker subprocess as the local backend (a fresh Blender process per shard), which writes the same shard
files; at most `workers` tasks in flight, retried by core.raycluster's own loop, progress counted from the images
written.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from core.io import atomic_write_json
from core.progress import Progress
from render.shards import JOB_DIR, ShardSpec, image_file_name, log_tail, report_retries


def ray_render_shard(spec_json: dict, threads: int, env_extra: dict[str, str]) -> dict[str, Any]:
    """Body of one Ray task (main environment, any node): render one shard through the render-env worker
    subprocess (`python -m render.worker`, as the local backend), which writes the shard result file.
    Raises with the worker log's last line when the shard did not finish."""
    from core.envs import render_python, subprocess_env

    spec = ShardSpec.from_json(spec_json)
    if spec.result_path.exists():
        return {"shard_id": spec.shard_id, "skipped": True}
    jobdir = Path(spec.out_dir) / JOB_DIR
    tag = f"ray-{spec.shard_id:05d}-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
    (jobdir / "batches").mkdir(parents=True, exist_ok=True)
    (jobdir / "logs").mkdir(parents=True, exist_ok=True)
    bfile, log = jobdir / "batches" / f"{tag}.json", jobdir / "logs" / f"{tag}.log"
    atomic_write_json(bfile, [spec.to_json()], indent=None)
    env = subprocess_env({**env_extra, "PYTHONUNBUFFERED": "1"})
    proc = subprocess.run([str(render_python()), "-m", "render.worker", "--batch", str(bfile), "--log", str(log),
                           "--threads", str(threads)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        bfile.unlink()
    except FileNotFoundError:
        pass
    if proc.returncode != 0 or not spec.result_path.exists():
        raise RuntimeError(f"worker exit {proc.returncode} on {socket.gethostname()}: {log_tail(log)}")
    n_ann = [int(ln.split()[2]) for ln in proc.stdout.splitlines() if ln.startswith("@shard ")]
    return {"shard_id": spec.shard_id, "skipped": False, "n_annotations": n_ann[-1] if n_ann else -1}


def _rendered_since(out: Path, spec: ShardSpec, t_start: float) -> int:
    """Images of an unfinished shard written since t_start (this run's progress on it)."""
    n = 0
    for t in spec.scenes:
        try:
            n += (out / image_file_name(t.image_id)).stat().st_mtime >= t_start
        except FileNotFoundError:
            pass
    return n


def run_ray(out: Path, pending: list[ShardSpec], total: int, initial: int, workers: int, retries: int,
             threads: int | None, progress: bool, address: str | None) -> dict[int, tuple]:
    """Shards as Ray tasks, at most `workers` in flight; own retry loop (core.raycluster.run_tasks: Ray's
    max_retries=0, so a shard is tried 1 + retries times whether its worker crashed, its node died or Blender
    failed)."""
    from core.raycluster import forwarded_env, run_tasks, start_ray
    if threads is None:  # local: share this machine's cores between the task slots like the local backend
        threads = 1 if address else max(1, (os.cpu_count() or 1) // workers)
    ray, started = start_ray(address, workers, threads, "render backend 'ray'")
    task = ray.remote(ray_render_shard).options(num_cpus=threads, max_retries=0, retry_exceptions=False)
    env_extra = forwarded_env()
    finished = 0
    t_start = time.time() - 1.0
    prog = Progress(total, "render", initial=initial) if progress else None

    def done(spec: ShardSpec, _result) -> None:
        nonlocal finished
        finished += len(spec.scenes)

    def tick(in_flight: list[ShardSpec]) -> None:
        if prog:
            n = initial + finished + sum(_rendered_since(out, s, t_start) for s in in_flight)
            prog.update(max(0, n - prog.n), postfix=f"ray tasks {len(in_flight)}")

    try:
        if prog:
            prog.__enter__()
        run = run_tasks(ray, lambda spec: task.remote(spec.to_json(), threads, env_extra), pending, workers,
                        retries, key=lambda spec: spec.shard_id, done=done, tick=tick)
        report_retries(run.retried, run.failures)
    finally:
        if prog:
            prog.__exit__(None, None, None)
        if started:
            ray.shutdown()
    return run.failures
