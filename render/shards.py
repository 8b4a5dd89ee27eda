"""A render job split into shards, and the merge into one dataset dir (pure Python: both environments).

Layout of an output dir while rendering (design.md §2 once DONE):

    DIR/.render/job.json              what is rendered (configs, counts, master seed, shard size, manifest)
    DIR/.render/shards/NNNNN.json     one per finished shard (written atomically, last step of the shard)
    DIR/.render/logs/                 worker logs
    DIR/images/NNNNNN.jpg             written as scenes finish
    DIR/coco_annotations.json, DIR/sidecar.json, DIR/DONE   written by merge(), DONE last

Scene i (0-based over all entries) has image id i + 1 and a seed derived only from (master seed, i), so
the result does not depend on sharding, worker count, retries or interruptions. Annotation ids are
numbered 1..n in image order at merge time.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

from core.io import atomic_write_json, atomic_write_text, read_json

JOB_DIR = ".render"


def scene_seed(master_seed: int, index: int) -> int:
    """Seed of scene `index`: a hash of (master seed, index) only, < 2**31."""
    h = hashlib.sha256(f"synthgap-scene:{int(master_seed)}:{int(index)}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def image_file_name(image_id: int) -> str:
    return f"images/{image_id:06d}.jpg"


@dataclass
class SceneTask:
    index: int
    image_id: int
    scene_seed: int
    config: dict[str, Any]
    config_name: str


@dataclass
class ShardSpec:
    """Everything a worker needs to render one shard (JSON-able, so it can travel to any process)."""
    shard_id: int
    out_dir: str
    manifest_path: str
    scenes: list[SceneTask] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ShardSpec":
        return cls(shard_id=d["shard_id"], out_dir=d["out_dir"], manifest_path=d["manifest_path"],
                   scenes=[SceneTask(**s) for s in d["scenes"]])

    @property
    def result_path(self) -> Path:
        return shard_result_path(self.out_dir, self.shard_id)


def shard_result_path(out_dir: str | Path, shard_id: int) -> Path:
    return Path(out_dir) / JOB_DIR / "shards" / f"{shard_id:05d}.json"


@dataclass
class JobEntry:
    config: dict[str, Any]
    config_name: str
    count: int


@dataclass
class Job:
    entries: list[JobEntry]
    seed: int
    shard_size: int
    manifest_path: str
    manifest_digest: str

    @property
    def total(self) -> int:
        return sum(e.count for e in self.entries)

    def tasks(self) -> list[SceneTask]:
        out, i = [], 0
        for e in self.entries:
            for _ in range(e.count):
                out.append(SceneTask(index=i, image_id=i + 1, scene_seed=scene_seed(self.seed, i),
                                     config=e.config, config_name=e.config_name))
                i += 1
        return out

    def shards(self, out_dir: str | Path) -> list[ShardSpec]:
        tasks = self.tasks()
        return [ShardSpec(shard_id=k, out_dir=str(out_dir), manifest_path=self.manifest_path,
                          scenes=tasks[s:s + self.shard_size])
                for k, s in enumerate(range(0, len(tasks), self.shard_size))]

    def fingerprint(self) -> dict[str, Any]:
        return {"entries": [asdict(e) for e in self.entries], "seed": self.seed, "shard_size": self.shard_size,
                "manifest_digest": self.manifest_digest}


def manifest_digest(manifest) -> str:
    return hashlib.sha256(json.dumps(manifest.to_mapping(), sort_keys=True).encode()).hexdigest()[:16]


def prepare_job_dir(out_dir: Path, job: Job) -> None:
    """Record the job, or check that an existing (partial) dir holds the same job (resume)."""
    job_file = out_dir / JOB_DIR / "job.json"
    if job_file.exists():
        old = read_json(job_file, "render job")
        if old.get("fingerprint") != job.fingerprint():
            raise UserError(f"{out_dir}: holds a different render job ({job_file}: other configs, counts, seed, "
                            "shard size or manifest); use a new --out, or delete the dir to start over")
        return
    if out_dir.exists() and any(p.name != JOB_DIR for p in out_dir.iterdir()):
        raise UserError(f"{out_dir}: exists and is not a synthgap render dir (no {JOB_DIR}/job.json); use a new --out")
    (out_dir / JOB_DIR / "shards").mkdir(parents=True, exist_ok=True)
    atomic_write_json(job_file, {"fingerprint": job.fingerprint(), "total": job.total})


def merge(out_dir: Path, job: Job, manifest) -> tuple[Path, int, int]:
    """Merge all shard results into coco_annotations.json + sidecar.json, then write DONE.
    Returns (coco path, n images, n annotations). Identical input -> byte-identical output."""
    shards = job.shards(out_dir)
    images, anns, side_img, side_ann = [], [], {}, {}
    used_assets: set[str] = set()
    ann_id = 0
    for spec in shards:
        res = read_json(spec.result_path, "shard result")
        for scene in res["scenes"]:
            img = scene["image"]
            images.append(img)
            side_img[str(img["id"])] = scene["image_sidecar"]
            used_assets.update(scene["image_sidecar"].get("asset_ids", []))
            for a in scene["annotations"]:
                ann_id += 1
                side = a.pop("sidecar")
                anns.append({"id": ann_id, "image_id": img["id"], **a})
                side_ann[str(ann_id)] = side
    by_id = {e.id: e for e in manifest.assets}
    licenses = [{"asset_id": i, "licence": by_id[i].licence, "author": by_id[i].author, "source": by_id[i].source}
                for i in sorted(used_assets) if i in by_id]
    configs = [e.config for e in job.entries]
    info = {"description": "synthgap render (BlenderProc 2.8 / Cycles)",
            "config": configs[0] if len(configs) == 1 else configs,
            "config_names": [e.config_name for e in job.entries],
            "counts": [e.count for e in job.entries],
            "seed": job.seed, "licenses": licenses}
    coco = {"info": info, "images": images, "annotations": anns, "categories": manifest.categories()}
    coco_path = out_dir / "coco_annotations.json"
    atomic_write_text(coco_path, json.dumps(coco, separators=(",", ":")) + "\n")
    atomic_write_json(out_dir / "sidecar.json", {"images": side_img, "annotations": side_ann})
    atomic_write_text(out_dir / "DONE", f"{len(images)} images, {len(anns)} annotations\n")
    return coco_path, len(images), len(anns)


def done_shards(out_dir: Path, shards: list[ShardSpec]) -> set[int]:
    return {s.shard_id for s in shards if s.result_path.exists()}


def damaged_shards(out_dir: Path, shards: list[ShardSpec]) -> dict[int, str]:
    """Finished shards (result file present) with an image missing, unreadable or not the size its record says:
    shard id -> the first such file. Only image headers are read."""
    from core.coco import image_file_ok
    from core.io import read_json
    bad: dict[int, str] = {}
    for s in shards:
        if not s.result_path.exists():
            continue
        for scene in read_json(s.result_path, "shard result").get("scenes", []):
            im = scene["image"]
            if not image_file_ok(out_dir / im["file_name"], im["width"], im["height"]):
                bad[s.shard_id] = im["file_name"]
                break
    return bad


def remove_done_marker(out_dir: Path) -> None:
    try:
        os.unlink(out_dir / "DONE")
    except FileNotFoundError:
        pass


def log_tail(log: Path) -> str:
    """The last line of a worker log (200 characters at most), with the log's path."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return f"no log {log}"
    return (lines[-1][:200] if lines else "no output") + f" (log {log})"


def report_retries(retried: dict[int, str], failures: dict[int, tuple]) -> None:
    """One line for the shards that were rendered after a retry, with the first one's reason."""
    ok = {sid: why for sid, why in retried.items() if sid not in failures}
    if ok:
        first = next(iter(ok.items()))
        print(f"render: {len(ok)} shard(s) rendered after a retry (shard {first[0]}: {first[1]})", flush=True)
