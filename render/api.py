"""render_dataset(): SceneConfig or plan -> dataset dir (main environment; spawns render-env workers).

Shards of scenes go to worker subprocesses (`python -m render.worker` in the render environment), each
rendering a batch of shards in one Blender process and replaced after `recycle_after` scenes. Finished
shards are files, so a rerun after Ctrl-C / kill -9 renders only the missing ones; the merged dataset is the
same as an uninterrupted run's. A crashed worker's shard is retried `retries` times; shards that still fail
are reported at the end (RenderIncomplete, no DONE) after the rest has been rendered.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render.config import SceneConfig, is_grid, load_yaml
from render.shards import (JOB_DIR, Job, JobEntry, ShardSpec, done_shards, manifest_digest, merge,
                           prepare_job_dir, remove_done_marker)
from synthgap.util import Progress, UserError, atomic_write_json, read_json

DEFAULT_SHARD_SIZE = 8
DEFAULT_RECYCLE_AFTER = 200


class RenderIncomplete(UserError):
    """Some shards failed after their retries; the rest is on disk and a rerun resumes."""


@dataclass
class _Worker:
    wid: int
    proc: subprocess.Popen
    batch: list[ShardSpec]
    log: Path
    done: set[int] = field(default_factory=set)
    counted: dict[int, int] = field(default_factory=dict)
    current: int | None = None


def _load_manifest(path: str | os.PathLike | None = None):
    from render.manifest import ManifestError, load_manifest

    try:
        return load_manifest(path)
    except ManifestError as e:
        raise UserError(str(e)) from None


def _entries_from(config_or_plan: Any, n: int | None, manifest) -> tuple[list[tuple[SceneConfig, int]], str]:
    """[(config, count)] and a label naming the source file."""
    classes = manifest.class_names()
    if isinstance(config_or_plan, SceneConfig):
        cfg, source = config_or_plan, "<config>"
        SceneConfig.from_mapping(cfg.to_mapping(), source, classes)
        data = None
    elif isinstance(config_or_plan, dict):
        data, source = config_or_plan, "<mapping>"
    else:
        source = str(config_or_plan)
        data = load_yaml(config_or_plan)
    if data is not None and isinstance(data, dict) and "entries" in data:
        return _plan_entries(data, source, classes), source
    if data is not None:
        if is_grid(data):
            raise UserError(f"{source}: has {{grid: [...]}} values: expand it (render.grid.expand_grid) into a "
                            "plan, or render one config at a time")
        cfg = SceneConfig.from_mapping(data, source, classes)
    if n is None or n < 1:
        raise UserError(f"{source}: --n must be >= 1 for a single config (got {n})")
    return [(cfg, int(n))], source


def _plan_entries(plan: dict, source: str, classes: list[str]) -> list[tuple[SceneConfig, int]]:
    entries = plan.get("entries")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{source}: key 'entries': must be a non-empty list")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "config" not in e or "count" not in e:
            raise UserError(f"{source}: key 'entries[{i}]': needs 'config' and 'count'")
        c = e["count"]
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise UserError(f"{source}: key 'entries[{i}].count': must be an integer >= 0, got {c!r}")
        cfg = SceneConfig.from_mapping(e["config"], f"{source} entries[{i}].config", classes)
        if c:
            out.append((cfg, c))
    if not out:
        raise UserError(f"{source}: key 'entries': all counts are 0")
    return out


def _check_renderable(entries: list[tuple[SceneConfig, int]], manifest, source: str) -> None:
    kinds = {"hdri": "hdri", "floor": "floor_texture"}
    for cfg, _ in entries:
        k = cfg.background.kind
        if k in kinds:
            avail = [e.id for e in manifest.backgrounds(kinds[k])]
            if not avail:
                raise UserError(f"{source}: key 'background.kind': {k!r} but {manifest.path} lists no "
                                f"{kinds[k]} assets (add them, e.g. `synthgap assets ...`, or use kind color)")
            missing = [i for i in cfg.background.ids if i not in avail]
            if missing:
                raise UserError(f"{source}: key 'background.ids': {missing[0]!r} is not a {kinds[k]} asset "
                                f"in {manifest.path}")
        for c in cfg.classes:
            if not manifest.meshes([c]):
                raise UserError(f"{source}: key 'classes': no mesh of class {c!r} in {manifest.path}")


def build_job(config_or_plan: Any, n: int | None, out_dir: Path, seed: int | None = None,
              shard_size: int | None = None, manifest=None) -> tuple[Job, Any]:
    manifest = manifest or _load_manifest()
    entries, source = _entries_from(config_or_plan, n, manifest)
    _check_renderable(entries, manifest, source)
    master = entries[0][0].seed if seed is None else int(seed)
    if shard_size is None:
        job_file = out_dir / JOB_DIR / "job.json"
        shard_size = read_json(job_file)["fingerprint"]["shard_size"] if job_file.exists() else DEFAULT_SHARD_SIZE
    if shard_size < 1:
        raise UserError(f"--shard-size must be >= 1 (got {shard_size})")
    job = Job([JobEntry(c.to_mapping(), c.name, k) for c, k in entries], master, int(shard_size),
              str(manifest.path), manifest_digest(manifest))
    return job, manifest


def render_dataset(config_or_plan: Any, n: int | None, out_dir: str | os.PathLike, workers: int = 2,
                   seed: int | None = None, backend: str = "local", *, shard_size: int | None = None,
                   recycle_after: int = DEFAULT_RECYCLE_AFTER, retries: int = 2, threads: int | None = None,
                   progress: bool = True) -> Path:
    """Render a SceneConfig (n scenes) or a plan (mapping / plan.yaml with entries) into out_dir.

    Resumable; returns out_dir once coco_annotations.json, sidecar.json and DONE are written."""
    if backend not in ("local", "ray"):
        raise UserError(f"backend must be 'local' or 'ray', got {backend!r}")
    if workers < 1:
        raise UserError(f"--workers must be >= 1 (got {workers})")
    out = Path(out_dir)
    job, manifest = build_job(config_or_plan, n, out, seed, shard_size)
    prepare_job_dir(out, job)
    shards = job.shards(out)
    if (out / "DONE").exists() and len(done_shards(out, shards)) == len(shards):
        return out
    remove_done_marker(out)
    pending = [s for s in shards if not s.result_path.exists()]
    if pending:
        if backend == "ray":
            raise UserError("render backend 'ray' is not implemented yet (use backend='local')")
        initial = job.total - sum(len(s.scenes) for s in pending)
        failures = _run_local(out, pending, job.total, initial, workers, recycle_after, retries, threads, progress)
        if failures:
            lines = "; ".join(f"shard {sid} (images {fs.scenes[0].image_id}-{fs.scenes[-1].image_id}): {why}"
                              for sid, (fs, why) in sorted(failures.items()))
            raise RenderIncomplete(f"{out}: {len(failures)} of {len(shards)} shards failed after {retries} "
                                   f"retries, the rest is rendered; rerun the same command to retry them. {lines}")
    merge(out, job, manifest)
    return out


def _log_tail(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return f"no log {log}"
    return (lines[-1][:200] if lines else "no output") + f" (log {log})"


def _run_local(out: Path, pending: list[ShardSpec], total: int, initial: int, workers: int,
               recycle_after: int, retries: int, threads: int | None, progress: bool) -> dict[int, tuple]:
    from synthgap.envs import render_python, subprocess_env

    py = render_python()
    env = subprocess_env({"PYTHONUNBUFFERED": "1"})
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    jobdir = out / JOB_DIR
    (jobdir / "batches").mkdir(parents=True, exist_ok=True)
    (jobdir / "logs").mkdir(parents=True, exist_ok=True)
    todo: deque[ShardSpec] = deque(pending)
    attempts: dict[int, int] = {}
    failures: dict[int, tuple] = {}
    running: dict[int, _Worker] = {}
    events: queue.Queue = queue.Queue()
    counter = 0

    def pump(w: _Worker) -> None:
        assert w.proc.stdout is not None
        for line in w.proc.stdout:
            events.put((w.wid, line.strip()))
        events.put((w.wid, None))

    def start(n_free: int) -> None:
        nonlocal counter
        per = max(1, recycle_after // max(1, len(todo[0].scenes)))
        take = max(1, min(per, -(-len(todo) // n_free)))
        batch = [todo.popleft() for _ in range(min(take, len(todo)))]
        counter += 1
        bfile = jobdir / "batches" / f"{os.getpid()}-{counter}.json"
        atomic_write_json(bfile, [s.to_json() for s in batch], indent=None)
        log = jobdir / "logs" / f"worker-{os.getpid()}-{counter}.log"
        proc = subprocess.Popen([str(py), "-m", "render.worker", "--batch", str(bfile), "--log", str(log),
                                 "--threads", str(threads)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, text=True, env=env)
        w = _Worker(counter, proc, batch, log)
        running[counter] = w
        threading.Thread(target=pump, args=(w,), daemon=True).start()

    prog = Progress(total, "render", initial=initial) if progress else None
    try:
        if prog:
            prog.__enter__()
        while todo or running:
            while todo and len(running) < workers:
                start(workers - len(running))
            try:
                wid, line = events.get(timeout=1.0)
            except queue.Empty:
                continue
            w = running[wid]
            if line is None:  # worker ended
                rc = w.proc.wait()
                del running[wid]
                unfinished = [s for s in w.batch if s.shard_id not in w.done]
                requeue = []
                for k, s in enumerate(unfinished):
                    if prog and w.counted.get(s.shard_id):
                        prog.n -= w.counted[s.shard_id]  # its scenes are rendered again
                    if k == 0 and (w.current == s.shard_id or rc != 0):  # the shard it died on
                        attempts[s.shard_id] = attempts.get(s.shard_id, 0) + 1
                        if attempts[s.shard_id] > retries:
                            failures[s.shard_id] = (s, f"worker exit {rc}: {_log_tail(w.log)}")
                            continue
                    requeue.append(s)
                todo.extendleft(reversed(requeue))
                continue
            parts = line.split()
            if not parts or not parts[0].startswith("@"):
                continue
            if parts[0] == "@start":
                w.current = int(parts[1])
            elif parts[0] == "@scene":
                sid = int(parts[1])
                w.counted[sid] = w.counted.get(sid, 0) + 1
                if prog:
                    prog.update(1, postfix=f"workers {len(running)}")
            elif parts[0] == "@shard":
                w.done.add(int(parts[1]))
                w.current = None
    except BaseException:
        for w in running.values():
            if w.proc.poll() is None:
                w.proc.kill()
        raise
    finally:
        if prog:
            prog.__exit__(None, None, None)
    return failures


def describe(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Counts of a finished dataset dir (for the CLI's summary line)."""
    out = Path(out_dir)
    coco = read_json(out / "coco_annotations.json", "COCO")
    return {"images": len(coco["images"]), "annotations": len(coco["annotations"]),
            "categories": [c["name"] for c in coco["categories"]], "dir": str(out)}

