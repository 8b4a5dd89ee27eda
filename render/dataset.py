"""render_dataset(): SceneConfig or plan -> dataset dir (main environment; spawns render-env workers).

Shards of scenes go to worker subprocesses (`python -m render.worker --stdin` in the render environment): each
gets its next shard on stdin as it finishes one (one queued ahead, so no worker idles while others have
work left), renders them in one Blender process and is replaced after `recycle_after` scenes. Finished
shards are files, so a rerun after Ctrl-C / kill -9 renders only the missing ones; the merged dataset is the
same as an uninterrupted run's. A crashed worker's shard is retried `retries` times; shards that still fail
are reported at the end (RenderIncomplete, no DONE) after the rest has been rendered.

backend="ray" (render/dataset_ray.py) runs the same shards as Ray tasks: each task starts the same render-env worker subprocess for
one shard (a fresh Blender process per shard) and that writes the same shard files, so resume, retries and
the merged result are the same as the local backend's. `ray_address` (or $SYNTHGAP_RAY_ADDRESS) joins an
existing cluster; without one a local Ray instance with `workers` task slots is started and shut down after.
On a cluster, out_dir must be on a filesystem every node sees at the same path, and every node needs the
project checkout (same path) with its render venv and asset cache (scripts/setup.sh).
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render.config import SceneConfig, is_grid
from render.shards import (JOB_DIR, Job, JobEntry, ShardSpec, done_shards, log_tail, manifest_digest, merge,
                           prepare_job_dir, remove_done_marker, report_retries)
from core.progress import Progress
from core.errors import UserError
from core.io import check_out_dir, load_yaml, read_json

DEFAULT_SHARD_SIZE = 8
DEFAULT_RECYCLE_AFTER = 200


class RenderIncomplete(UserError):
    """Some shards failed after their retries; the rest is on disk and a rerun resumes."""


@dataclass
class _Worker:
    wid: int
    proc: subprocess.Popen
    batch: list[ShardSpec]  # shards sent to it, in order
    log: Path
    scenes_sent: int = 0
    closed: bool = False
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
        if not isinstance(data, dict):
            raise UserError(f"{source}: key '<top>': a config or plan must be a YAML mapping "
                            f"({'the file is empty' if data is None else f'got a {type(data).__name__}'})")
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


ASSET_BACKGROUNDS = {"hdri": "hdri", "floor": "floor_texture", "room": "floor_texture"}   # kind -> asset kind


def _check_renderable(entries: list[tuple[SceneConfig, int]], manifest, source: str) -> None:
    kinds = ASSET_BACKGROUNDS
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
            if not [e for e in manifest.meshes([c]) if e.id not in cfg.exclude_assets]:
                raise UserError(f"{source}: key 'exclude_assets': excludes every mesh of class {c!r}")
        unknown = [i for i in cfg.exclude_assets if i not in {a.id for a in manifest.assets}]
        if unknown:
            raise UserError(f"{source}: key 'exclude_assets': {unknown[0]!r} is not an asset of {manifest.path}")
        odd = [c for c in cfg.distractor_exclude if c not in manifest.class_names()]
        if odd:
            raise UserError(f"{source}: key 'distractor_exclude': {odd[0]!r} is not a class of {manifest.path}")
        if k == "room" and not manifest.meshes(["dining table"]):
            raise UserError(f"{source}: key 'background.kind': room needs a dining table mesh in {manifest.path}")
        if cfg.clutter.count[1] > 0 and not manifest.clutter():
            raise UserError(f"{source}: key 'clutter.count': {list(cfg.clutter.count)} but {manifest.path} lists no "
                            "clutter assets (`synthgap assets import-sweethome3d --clutter`, then `make setup`)")
    _check_asset_files(entries, manifest)


def _check_asset_files(entries: list[tuple[SceneConfig, int]], manifest) -> None:
    """Every file a scene may draw (the classes' meshes, distractors from the other classes, the background
    assets) exists, before any Blender starts: one line naming the asset, its file and the fix."""
    kinds = ASSET_BACKGROUNDS
    need: dict[str, Any] = {}
    for cfg, _ in entries:
        classes = list(cfg.classes) + ([c for c in manifest.class_names() if c not in cfg.classes]
                                       if cfg.distractors[1] > 0 else [])
        if cfg.background.kind == "room":
            classes.append("dining table")
        for e in manifest.meshes(classes) + (manifest.clutter() if cfg.clutter.count[1] > 0 else []):
            need[e.id] = e
        if cfg.background.kind in kinds:
            for e in manifest.backgrounds(kinds[cfg.background.kind]):
                if not cfg.background.ids or e.id in cfg.background.ids:
                    need[e.id] = e
    for e in need.values():
        path = e.resolved_path()
        if path is not None and not path.exists():
            raise UserError(f"{manifest.path}: asset {e.id!r}: file {path} not found (run `make setup` / "
                            "scripts/setup.sh to fill the asset cache, or remove the entry)")


def default_shard_size(total: int, workers: int, backend: str = "local") -> int:
    """At most DEFAULT_SHARD_SIZE scenes. Local: at least ~8 shards per worker, so the work spreads evenly and
    workers finish together (shards are handed out as workers get free; a worker process renders many).
    Ray: each shard is a fresh Blender process (~1.3 s start-up), so only as small as needed to give every
    slot a shard. The result never depends on it."""
    per = 8 if backend == "local" else 1
    return max(1, min(DEFAULT_SHARD_SIZE, total // (per * max(1, workers))))


def build_job(config_or_plan: Any, n: int | None, out_dir: Path, seed: int | None = None,
              shard_size: int | None = None, manifest=None, workers: int = 2,
              backend: str = "local") -> tuple[Job, Any]:
    manifest = manifest or _load_manifest()
    entries, source = _entries_from(config_or_plan, n, manifest)
    _check_renderable(entries, manifest, source)
    master = entries[0][0].seed if seed is None else int(seed)
    if shard_size is None:  # a resumed dir keeps its own
        job_file = out_dir / JOB_DIR / "job.json"
        shard_size = read_json(job_file)["fingerprint"]["shard_size"] if job_file.exists() else \
            default_shard_size(sum(k for _, k in entries), workers, backend)
    if shard_size < 1:
        raise UserError(f"--shard-size must be >= 1 (got {shard_size})")
    job = Job([JobEntry(c.to_mapping(), c.name, k) for c, k in entries], master, int(shard_size),
              str(manifest.path), manifest_digest(manifest))
    return job, manifest


def _check_options(backend: str, workers: int, recycle_after: int, retries: int, threads: int | None,
                   shard_size: int | None) -> None:
    if backend not in ("local", "ray"):
        raise UserError(f"--backend must be 'local' or 'ray', got {backend!r}")
    for name, v, lo in (("--workers", workers, 1), ("--recycle-after", recycle_after, 1), ("--retries", retries, 0),
                        ("--threads", threads, 1), ("--shard-size", shard_size, 1)):
        if v is not None and v < lo:
            raise UserError(f"{name} must be >= {lo} (got {v})")


def render_dataset(config_or_plan: Any, n: int | None, out_dir: str | os.PathLike, workers: int = 2,
                   seed: int | None = None, backend: str = "local", *, ray_address: str | None = None,
                   shard_size: int | None = None, recycle_after: int = DEFAULT_RECYCLE_AFTER, retries: int = 2,
                   threads: int | None = None, progress: bool = True, device: str = "auto") -> Path:
    """Render a SceneConfig (n scenes) or a plan (mapping / plan.yaml with entries) into out_dir.

    backend "local": `workers` render-env worker processes on this machine; "ray": the shards as Ray tasks
    (at most `workers` in flight), on `ray_address` / $SYNTHGAP_RAY_ADDRESS or a local Ray instance.
    `device`: the Cycles device (render/devices.py: auto, cpu, cuda, optix).
    Resumable; returns out_dir once coco_annotations.json, sidecar.json and DONE are written."""
    from render.devices import ENV, check_device
    _check_options(backend, workers, recycle_after, retries, threads, shard_size)
    check_device(device)
    out = check_out_dir(out_dir)
    job, manifest = build_job(config_or_plan, n, out, seed, shard_size, workers=workers, backend=backend)
    prepare_job_dir(out, job)
    shards = job.shards(out)
    _drop_damaged(out, shards)
    if (out / "DONE").exists() and len(done_shards(out, shards)) == len(shards):
        return out
    remove_done_marker(out)
    pending = [s for s in shards if not s.result_path.exists()]
    if pending:
        initial = job.total - sum(len(s.scenes) for s in pending)
        previous = os.environ.get(ENV)
        os.environ[ENV] = device                 # the workers' (and Ray tasks': forwarded_env) device
        try:
            if backend == "ray":
                from render.dataset_ray import run_ray
                failures = run_ray(out, pending, job.total, initial, workers, retries, threads, progress,
                                    ray_address if ray_address is not None else
                                    os.environ.get("SYNTHGAP_RAY_ADDRESS"))
            else:
                failures = _run_local(out, pending, job.total, initial, workers, recycle_after, retries,
                                      threads, progress)
        finally:
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous
        if failures:
            lines = "; ".join(f"shard {sid} (images {fs.scenes[0].image_id}-{fs.scenes[-1].image_id}): {why}"
                              for sid, (fs, why) in sorted(failures.items()))
            n_ok = len(done_shards(out, shards))
            raise RenderIncomplete(f"{out}: {len(failures)} of {len(shards)} shards failed after {retries} "
                                   f"retries ({n_ok} rendered); rerun the same command to retry them. {lines}")
    merge(out, job, manifest)
    return out


def _drop_damaged(out: Path, shards: list[ShardSpec]) -> None:
    """A reused dir is verified: shards whose images went missing or were damaged are rendered again (scenes
    are deterministic, so the result is the same bytes)."""
    from render.shards import damaged_shards
    bad = damaged_shards(out, shards)
    if bad:
        first = next(iter(bad.values()))
        print(f"{out}: {len(bad)} finished shard(s) have a missing or damaged image (first: {first}); "
              "rendering them again", flush=True)
        for s in shards:
            if s.shard_id in bad:
                s.result_path.unlink()


class _LocalPool:
    """The local backend's state: render-env worker processes, the shards still to hand out, attempts and
    failures. Each worker's stdout is pumped by a thread into one event queue that `run` consumes."""

    def __init__(self, out: Path, pending: list[ShardSpec], workers: int, recycle_after: int, retries: int,
                 threads: int) -> None:
        from core.envs import render_python, subprocess_env
        from render.devices import ENV, gpu_count

        self.py = render_python()
        self.env = subprocess_env({"PYTHONUNBUFFERED": "1"})
        self.device = self.env.get(ENV, "auto")
        self.n_gpus = 0 if self.device == "cpu" else gpu_count()
        self.workers, self.recycle_after, self.retries, self.threads = workers, recycle_after, retries, threads
        self.prog: Progress | None = None  # set by the caller
        self.logs = out / JOB_DIR / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.todo: deque[ShardSpec] = deque(pending)
        self.attempts: dict[int, int] = {}
        self.failures: dict[int, tuple] = {}
        self.retried: dict[int, str] = {}         # shard -> why its last worker ended (retried)
        self.running: dict[int, _Worker] = {}
        self.events: queue.Queue = queue.Queue()
        self.counter = 0

    def run(self) -> dict[int, tuple]:
        """Hand out every shard (starting workers as slots free up); return {shard_id: (spec, why)} failures."""
        while self.todo or self.running:
            while self.todo and len(self.running) < self.workers:
                self._start()
            for w in list(self.running.values()):
                self._feed(w)
            try:
                wid, line = self.events.get(timeout=1.0)
            except queue.Empty:
                continue
            w = self.running[wid]
            if line is None:  # worker ended
                self._worker_ended(w)
            else:
                self._protocol_line(w, line)
        return self.failures

    def kill_all(self) -> None:
        for w in self.running.values():
            if w.proc.poll() is None:
                w.proc.kill()

    def _pump(self, w: _Worker) -> None:
        assert w.proc.stdout is not None
        for line in w.proc.stdout:
            self.events.put((w.wid, line.strip()))
        self.events.put((w.wid, None))

    def _start(self) -> None:
        self.counter += 1
        log = self.logs / f"worker-{os.getpid()}-{self.counter}.log"
        from render.devices import worker_env
        env = {**self.env, **worker_env(self.device, (self.counter - 1) % self.workers, self.n_gpus)}
        proc = subprocess.Popen([str(self.py), "-m", "render.worker", "--stdin", "--log", str(log),
                                 "--threads", str(self.threads)], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        w = _Worker(self.counter, proc, [], log)
        self.running[self.counter] = w
        threading.Thread(target=self._pump, args=(w,), daemon=True).start()
        self._feed(w)

    def _feed(self, w: _Worker) -> None:
        """Keep one shard queued behind the one it renders; close stdin when nothing is left for it or it
        has been sent recycle_after scenes (it exits after its queue and a fresh process takes over)."""
        if w.closed:
            return
        while self.todo and len(w.batch) - len(w.done) < 2 and w.scenes_sent < self.recycle_after:
            spec = self.todo.popleft()
            w.batch.append(spec)
            w.scenes_sent += len(spec.scenes)
            try:
                assert w.proc.stdin is not None
                w.proc.stdin.write(json.dumps(spec.to_json()) + "\n")
                w.proc.stdin.flush()
            except (BrokenPipeError, OSError):  # it died; its end is handled when its stdout closes
                break
        if not self.todo or w.scenes_sent >= self.recycle_after:
            w.closed = True
            try:
                w.proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError):
                pass

    def _worker_ended(self, w: _Worker) -> None:
        """Requeue its unfinished shards (first in line); the one it died on counts an attempt, and fails
        once it has used up its retries."""
        rc = w.proc.wait()
        del self.running[w.wid]
        unfinished = [s for s in w.batch if s.shard_id not in w.done]
        requeue = []
        for k, s in enumerate(unfinished):
            if self.prog and w.counted.get(s.shard_id):
                self.prog.n -= w.counted[s.shard_id]  # its scenes are rendered again
            if k == 0 and (w.current == s.shard_id or rc != 0):  # the shard it died on
                self.attempts[s.shard_id] = self.attempts.get(s.shard_id, 0) + 1
                why = f"worker exit {rc}: {log_tail(w.log)}"
                if self.attempts[s.shard_id] > self.retries:
                    self.failures[s.shard_id] = (s, why)
                    continue
                self.retried[s.shard_id] = why
            requeue.append(s)
        self.todo.extendleft(reversed(requeue))

    def _protocol_line(self, w: _Worker, line: str) -> None:
        """`@start SHARD`, `@scene SHARD IMAGE_ID`, `@shard SHARD N_ANNOTATIONS`; other output is ignored."""
        parts = line.split()
        if not parts or not parts[0].startswith("@"):
            return
        if parts[0] == "@start":
            w.current = int(parts[1])
        elif parts[0] == "@scene":
            sid = int(parts[1])
            w.counted[sid] = w.counted.get(sid, 0) + 1
            if self.prog:
                self.prog.update(1, postfix=f"workers {len(self.running)}")
        elif parts[0] == "@shard":
            w.done.add(int(parts[1]))
            w.current = None
            self._feed(w)


def _run_local(out: Path, pending: list[ShardSpec], total: int, initial: int, workers: int,
               recycle_after: int, retries: int, threads: int | None, progress: bool) -> dict[int, tuple]:
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    pool = _LocalPool(out, pending, workers, recycle_after, retries, threads)
    prog = pool.prog = Progress(total, "render", initial=initial) if progress else None
    try:
        if prog:
            prog.__enter__()
        failures = pool.run()
        report_retries(pool.retried, failures)
        return failures
    except BaseException:
        pool.kill_all()
        raise
    finally:
        if prog:
            prog.__exit__(None, None, None)


def describe(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Counts of a finished dataset dir (for the CLI's summary line)."""
    out = Path(out_dir)
    coco = read_json(out / "coco_annotations.json", "COCO")
    return {"images": len(coco["images"]), "annotations": len(coco["annotations"]),
            "categories": [c["name"] for c in coco["categories"]], "dir": str(out)}

