"""render's public API: what code outside the package may import (docs/design.md §8). Main environment only;
the render environment's worker (render.worker) is started by render_dataset.

    render_dataset(config_or_plan, n, out_dir, workers=2, seed=None, backend="local"|"ray", ray_address=None,
                   device="auto"|"cpu"|"cuda"|"optix")
        -> the dataset dir (COCO + sidecar + images, DONE last; resumable, byte-deterministic per device)
    check_device(device) -> device (a GPU kind Cycles cannot find here is a UserError; render/devices.py)
    describe(out_dir) -> progress / state of a dataset dir
    SceneConfig (from_yaml, from_mapping, to_mapping, name), expand_grid(path_or_mapping) -> [SceneConfig]
    load_manifest() -> Manifest (the assets)
    make_plates(coco_json, images, split, out, size, ...) -> plates.json content (exposed photos only);
    sheet_png(paths, cols=8) -> PNG bytes (contact sheet), sheet_paths(set_cs, real_cs, exposed, n); photo_like(config_mapping, plates_dir) -> mapping
"""
from render.config import SceneConfig, is_grid
from render.dataset import RenderIncomplete, default_shard_size, describe, render_dataset
from render.devices import check_device
from render.grid import expand_grid
from render.manifest import Manifest, load_manifest
from render.plates import make_plates, sheet_paths, sheet_png
from render.postfx import photo_like

__all__ = ["render_dataset", "check_device", "describe", "RenderIncomplete", "default_shard_size", "SceneConfig", "is_grid",
           "expand_grid", "Manifest", "load_manifest", "make_plates", "sheet_paths", "sheet_png", "photo_like"]
