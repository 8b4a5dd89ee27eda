"""The benchmark's one options record, `RunSpec`: what `run_matrix` trains (variants, detectors, seeds, regimes) and
how (epochs, input size, start weights, backend). Its own module so the cells (benchmark/cells.py) and the Ray
backend (benchmark/run_ray.py) name it without importing the matrix."""
from __future__ import annotations

from dataclasses import dataclass, field

DISTANCE_METADATA = ["area_frac", "aspect", "cx", "cy", "sharpness", "brightness", "contrast", "entropy"]


@dataclass
class RunSpec:
    variants: list[tuple[str, str]]        # (name, dataset dir or COCO json)
    real_json: str
    images_dir: str
    split: str
    out: str
    detectors: list[str] = field(default_factory=lambda: ["yolo", "frcnn"])
    epochs: int = 30
    seeds: list[int] = field(default_factory=lambda: [0])
    imgsz: int = 320
    category: str | None = None
    real_baseline: bool = True
    patience: int = 20
    device: str | None = None
    batch: int = 8
    metadata: list[str] = field(default_factory=lambda: list(DISTANCE_METADATA))
    regimes: list[str] = field(default_factory=lambda: ["synthetic", "real"])   # benchmark/regimes.py
    init: str = "auto"                     # start weights (Faster R-CNN: auto|imagenet|coco|scratch|PATH)
    detector_params: dict[str, dict] = field(default_factory=dict)   # {detector: {field: value}}: the options
                                           # a user set of detectors that declare them (benchmark/detectors.py)
    regime_params: dict[str, dict] = field(default_factory=dict)   # {regime: {field: value}} set by the user
                                           # (--mixed-share, --finetune-epochs: benchmark/regimes.py Params)
    mean_metadata: list[str] | None = None  # what "mean D_B" averages (default: align's fit metadata)
    real_table: str | None = None          # the real exposed boxes' saved MetadataTable to compare against (e.g.
                                           # the run's, with predicted depth) instead of measuring the photos
    accept_changed: bool = False           # real COCO / split / photos edited in place: supersede, start over
    backend: str = "local"                 # local: one cell after another here; ray: cells as Ray tasks
    ray_address: str | None = None         # ray: the cluster (None: $SYNTHGAP_RAY_ADDRESS, else a local instance)
    workers: int = 2                       # ray: most cells in flight
    threads: int | None = None             # ray: CPUs each cell asks for and trains with (None: cores / workers
                                           # on a local instance, 1 on a cluster)
    retries: int = 2                       # ray: a failed cell (crash, lost node) is tried 1 + retries times
    warm_from: dict[str, str] = field(default_factory=dict)   # regime warm: variant -> the set it grew from
