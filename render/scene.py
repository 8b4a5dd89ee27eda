# synthgap's BlenderProc render script: SceneConfig scenes -> RGB, distance, instance masks -> COCO + sidecar.
#
# Two ways to run it (render environment; docs in README.md "Rendering"):
#   (a) blenderproc run render/scene.py --custom-blender-path .venv-render/blender-shim \
#           --config cfg.yaml --n 4 --out DIR [--seed S] [--threads T]
#       (one process renders all scenes into DIR, merged, DONE last; the shim is made by render.envsetup)
#   (b) in-process, as a library of the render workers (render/worker.py): `import_blenderproc()` first,
#       then `init_renderer()` once per process and `render_scene()` for many scenes (clean_up between).
# BlenderProc requires `import blenderproc` to be the first statement of a script given to `blenderproc run`.
import blenderproc as bproc  # noqa: I001

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from render import annotate, camera, postfx, scene_assets  # noqa: E402
from render.bproc_compat import hard_exit, in_blenderproc_run, patch_blenderproc  # noqa: E402
from render.config import EffectsConfig, MaterialsConfig, SceneConfig, hex_to_rgb, photo_files  # noqa: E402
from render.manifest import AssetEntry, Manifest  # noqa: E402
from render.shards import SceneTask, image_file_name  # noqa: E402

patch_blenderproc(bproc)

_PRIMITIVE_OPS = {"cube": "CUBE", "cylinder": "CYLINDER", "sphere": "SPHERE", "cone": "CONE"}
_STATE: dict[str, Any] = {"init": False, "denoiser": None, "transparent": False, "device": "cpu"}
ANNOTATED_PREFIX, DISTRACTOR_PREFIX, CLUTTER_PREFIX = "sg_obj_", "sg_distractor_", "sg_clutter_"
CLUTTER_SALT, MATERIAL_SALT = 0xC1A7, 0x3A7E


@dataclass
class Placed:
    name: str
    entry: AssetEntry
    objs: list = field(default_factory=list)
    annotated: bool = True


# ---- process-level setup ---------------------------------------------------------------------------
def init_renderer(threads: int = 0, device: str | None = None) -> dict:
    """bproc.init(), the Cycles device (render/devices.py; `device`, else $SYNTHGAP_RENDER_DEVICE, else auto)
    and the outputs every scene needs; once per process. -> {"device", "names"} chosen."""
    if _STATE["init"]:
        return _STATE["chosen"]
    import os

    from render.devices import ENV, select_device
    bproc.init()
    _STATE["chosen"] = select_device(device or os.environ.get(ENV, "auto"))
    _STATE["device"] = _STATE["chosen"]["device"]
    if threads > 0:
        bproc.renderer.set_cpu_threads(threads)
    bproc.renderer.enable_distance_output(activate_antialiasing=False)
    bproc.renderer.enable_segmentation_output(map_by=["instance", "name"])
    _STATE["init"] = True
    return _STATE["chosen"]


def _apply_render_settings(cfg: SceneConfig, seed: int) -> None:
    import bpy

    bproc.camera.set_resolution(*cfg.resolution)
    bproc.renderer.set_max_amount_of_samples(cfg.samples_for(seed))
    if _STATE["denoiser"] != cfg.denoiser:
        bproc.renderer.set_denoiser(None if cfg.denoiser == "none" else "INTEL")
        _STATE["denoiser"] = cfg.denoiser
    transparent = cfg.background.kind == "photo"   # objects over a transparent film, the photo goes behind
    if _STATE["transparent"] != transparent:
        bproc.renderer.set_output_format(enable_transparency=transparent)
        _STATE["transparent"] = transparent
    bpy.context.scene.cycles.seed = int(seed) % (2 ** 31)
    # bproc.init() turns on Cycles' persistent data; with it the first render of a process samples
    # differently from later ones (OBJ textures), so a scene's pixels would depend on what the worker
    # rendered before it. Every scene is rebuilt after clean_up anyway: nothing to keep.
    bpy.context.scene.render.use_persistent_data = False


# ---- scene content (the assets issue extends these two) ---------------------------------------------
def load_mesh(entry: AssetEntry, rng: np.random.Generator) -> list:
    """Create one manifest mesh at real size (metres), upright, its base centred on the origin.

    format primitive: a Blender primitive scaled to size_cm, with a random plain material;
    a mesh file (obj, ply, stl, glb/gltf, fbx, blend): render.scene_assets.load_mesh_entry (parts joined,
    importer's Y-up and hierarchy baked in, rotation_deg, each axis scaled to size_cm like Sweet Home 3D,
    textures kept, a neutral material where the file has none).
    Returns [MeshObject] (one object per instance, so one mask per instance)."""
    size = np.array(entry.size_cm or (10.0, 10.0, 10.0)) / 100.0
    if entry.is_primitive:
        obj = bproc.object.create_primitive(_PRIMITIVE_OPS[entry.path])
        obj.set_scale(size / 2.0)
        obj.persist_transformation_into_mesh()
        mat = bproc.material.create(f"mat_{entry.id}")
        mat.set_principled_shader_value("Base Color", [*rng.uniform(0.05, 0.95, 3), 1.0])
        mat.set_principled_shader_value("Roughness", float(rng.uniform(0.2, 0.9)))
        obj.add_material(mat)
        lo, hi = scene_assets.object_bounds(obj)
        obj.set_location([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
        obj.persist_transformation_into_mesh()
    else:  # already at size, upright, base centred on the origin
        obj = scene_assets.load_mesh_entry(bproc, entry)
    return [obj]


def setup_background(cfg: SceneConfig, manifest: Manifest, rng: np.random.Generator) -> dict[str, Any]:
    """World background, and the support plane (z=0) for surface placement or a floor texture.
    Returns the sampled values for the sidecar."""
    kind, out = cfg.background.kind, {"background_kind": cfg.background.kind}
    need_plane = cfg.placement == "surface" or kind in ("floor", "room")
    if kind == "color":
        rgb = hex_to_rgb(str(rng.choice(list(cfg.background.ids)))) if cfg.background.ids else \
            tuple(float(x) for x in rng.uniform(0.05, 0.95, 3))
        bproc.renderer.set_world_background(list(rgb), strength=1.0)
        out["background_id"] = "#%02x%02x%02x" % tuple(int(round(c * 255)) for c in rgb)
    elif kind == "hdri":
        out.update(scene_assets.set_hdri_background(bproc, _pick_background(cfg, manifest, "hdri", rng), rng))
    elif kind == "photo":   # lit by the photo's mean colour; the photo itself is composited after the render
        photos = photo_files(cfg.background.dir)
        pick = photos[int(rng.integers(len(photos)))]
        world = postfx.mean_linear_colour(postfx.load_photo(pick, *cfg.resolution))
        bproc.renderer.set_world_background(list(world), strength=1.0)
        out.update(background_id=pick.name, background_world_rgb=[round(c, 4) for c in world])
    else:  # floor / room: neutral world light, textured support plane (room: and walls, build_room)
        bproc.renderer.set_world_background([0.6, 0.6, 0.6], strength=0.7)
    if need_plane:  # sg_support at z=0: textured (floor, room) or a random plain colour
        entry = _pick_background(cfg, manifest, "floor_texture", rng) if kind in ("floor", "room") else None
        plane, info = scene_assets.make_floor(bproc, entry, rng)
        if kind == "photo":   # the plane shows only the objects' shadows on the photo
            plane.blender_obj.is_shadow_catcher = True
        out.update(info)
    return out


def _pick_background(cfg: SceneConfig, manifest: Manifest, kind: str, rng: np.random.Generator) -> AssetEntry:
    entries = manifest.backgrounds(kind)
    if cfg.background.ids:
        entries = [e for e in entries if e.id in cfg.background.ids]
    if not entries:
        raise ValueError(f"background kind {cfg.background.kind!r}: no {kind} entries in {manifest.path}"
                         + (f" with ids {list(cfg.background.ids)}" if cfg.background.ids else ""))
    return entries[int(rng.integers(len(entries)))]


# ---- one scene --------------------------------------------------------------------------------------
def _int_range(r, rng) -> int:
    return int(rng.integers(int(r[0]), int(r[1]) + 1))


ROOM_TABLE = "sg_room_table"


def build_room(cfg: SceneConfig, manifest: Manifest, rng: np.random.Generator, sampled: dict[str, Any]) -> Placed:
    """kind room: four walls of a light, muted colour around the scene (half-size: the farthest camera
    distance + 0.5-1.5 m, 2.4-3 m high) and a dining table of the manifest, unannotated, in the middle: the
    layout stands the small objects (targets, clutter) on its top. -> the table."""
    import colorsys

    half = float(cfg.camera.distance[1] + rng.uniform(0.5, 1.5))
    height = float(rng.uniform(2.4, 3.0))
    rgb = colorsys.hsv_to_rgb(float(rng.uniform()), float(rng.uniform(0.0, 0.25)), float(rng.uniform(0.55, 0.95)))
    scene_assets.make_walls(bproc, half, height, rgb)
    tables = manifest.meshes(["dining table"])
    entry = tables[int(rng.integers(len(tables)))]
    objs = load_mesh(entry, rng)
    objs[0].set_name(ROOM_TABLE)
    sampled.update(room_half_m=round(half, 3), room_height_m=round(height, 3),
                   wall_rgb=[round(float(c), 4) for c in rgb], room_table=entry.id)
    return Placed(ROOM_TABLE, entry, objs, False)


def _add_lights(cfg: SceneConfig, poi: np.ndarray, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Point lights on the upper hemisphere around the objects; -> their sidecar records."""
    lights = []
    for _ in range(_int_range(cfg.lights.count, rng)):
        le, la = math.radians(rng.uniform(20, 80)), rng.uniform(0, 2 * math.pi)
        r = float(rng.uniform(1.0, 3.0))
        loc = poi + r * np.array([math.cos(le) * math.cos(la), math.cos(le) * math.sin(la), math.sin(le)])
        energy, temp = float(rng.uniform(*cfg.lights.energy)), float(rng.uniform(*cfg.lights.color_temp_k))
        light = bproc.types.Light()
        light.set_type("POINT")
        light.set_location(loc.tolist())
        light.set_energy(energy)
        light.set_color(list(annotate.kelvin_to_rgb(temp)))
        lights.append({"energy": round(energy, 3), "color_temp_k": round(temp, 1),
                       "location": [round(float(x), 4) for x in loc]})
    return lights


def jitter_materials(obj, m: MaterialsConfig, rng: np.random.Generator) -> dict[str, float]:
    """One draw per object, applied to each of its Principled materials: the base colour's hue shifted and its
    saturation and value scaled (a plain colour directly; a textured one through a Hue/Saturation/Value node
    between the texture and the shader), roughness set when a range is given, transmission weight set.
    -> the drawn values (sidecar placement[].material)."""
    import colorsys

    d = {"hue_shift": float(rng.uniform(*m.hue_shift)), "saturation": float(rng.uniform(*m.saturation)),
         "value": float(rng.uniform(*m.value)), "transmission": float(rng.uniform(*m.transmission))}
    if m.roughness:
        d["roughness"] = float(rng.uniform(*m.roughness))
    seen = set()
    for slot in obj.blender_obj.material_slots:
        mat = slot.material
        if mat is None or not mat.use_nodes or mat.name in seen:
            continue
        seen.add(mat.name)
        tree = mat.node_tree
        for bsdf in [n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"]:
            base = bsdf.inputs["Base Color"]
            if base.is_linked:
                hsv = tree.nodes.new("ShaderNodeHueSaturation")
                hsv.inputs["Hue"].default_value = (0.5 + d["hue_shift"]) % 1.0
                hsv.inputs["Saturation"].default_value = d["saturation"]
                hsv.inputs["Value"].default_value = d["value"]
                tree.links.new(base.links[0].from_socket, hsv.inputs["Color"])
                tree.links.new(hsv.outputs["Color"], base)
            else:
                r, g, b, a = base.default_value
                h, sat, val = colorsys.rgb_to_hsv(r, g, b)
                base.default_value = (*colorsys.hsv_to_rgb((h + d["hue_shift"]) % 1.0, min(1.0, sat * d["saturation"]),
                                                           val * d["value"]), a)
            if "roughness" in d and not bsdf.inputs["Roughness"].is_linked:
                bsdf.inputs["Roughness"].default_value = d["roughness"]
            if d["transmission"] > 0:
                bsdf.inputs["Transmission Weight"].default_value = d["transmission"]
    return {k: round(v, 4) for k, v in d.items()}


def _add_clutter(cfg: SceneConfig, manifest: Manifest, rng: np.random.Generator) -> list[Placed]:
    """`clutter.count` unlabelled objects drawn from the manifest's clutter (never annotated: not `annotated`,
    and clutter has no class, so no category id)."""
    n = _int_range(cfg.clutter.count, rng) if cfg.clutter.count[1] > 0 else 0
    pool = manifest.clutter() if n else []
    out = []
    for k in range(n):
        entry = pool[int(rng.integers(len(pool)))]
        objs = load_mesh(entry, rng)
        objs[0].set_name(f"{CLUTTER_PREFIX}{k}")
        out.append(Placed(f"{CLUTTER_PREFIX}{k}", entry, objs, False))
    return out


def _occlude(clutter: list[Placed], targets: list[Placed], cam: np.ndarray, cfg: SceneConfig,
             rng: np.random.Generator) -> str | None:
    """With chance clutter.occlude, move the smallest clutter object into the line of sight of a random target,
    in front of it as things stand in front of each other on a table: its centre at 70-90 % of the way from
    the camera to the target's centre, sideways by up to half the target's width; on a surface it keeps its
    support height, floating it is centred on that point. -> the occluder's asset id, or None."""
    import bpy

    if not targets or rng.uniform() >= cfg.clutter.occlude:
        return None
    size = [float(np.max(np.subtract(*scene_assets.object_bounds(c.objs[0])[::-1]))) for c in clutter]
    pick = clutter[int(np.argmin(size))]
    occ, tgt = pick.objs[0], targets[int(rng.integers(len(targets)))].objs[0]
    lo, hi = (np.asarray(b) for b in scene_assets.object_bounds(tgt))
    c = (lo + hi) / 2
    point = cam + float(rng.uniform(0.7, 0.9)) * (c - cam)
    ray = (c - cam) / max(np.linalg.norm(c - cam), 1e-9)
    side = np.cross(ray, [0.0, 0.0, 1.0])
    side /= max(np.linalg.norm(side), 1e-9)
    point = point + side * float(rng.uniform(-0.5, 0.5)) * float(np.linalg.norm((hi - lo)[:2]))
    olo, ohi = (np.asarray(b) for b in scene_assets.object_bounds(occ))
    loc = np.asarray(occ.get_location(), dtype=float)
    shift = point - (olo + ohi) / 2
    if cfg.placement == "surface":
        shift[2] = 0.0
    occ.set_location((loc + shift).tolist())
    bpy.context.view_layer.update()
    return pick.entry.id


def _place(placed: list[Placed], cfg: SceneConfig, rng: np.random.Generator) -> list[dict[str, Any]]:
    """render.scene_assets: `surface` stands objects upright (yaw only) on the floor or, for small ones, on
    a table top of the scene, footprints not overlapping; `floating` gives free poses above the floor.
    Distractors go in a ring around the annotated objects, so they occlude sometimes rather than hide all.
    Returns one record per object for the image sidecar (`placement`): object, asset_id, class, annotated,
    support ('floor', a table's object name, or 'free'), support_z and min_z (world z of the lowest vertex,
    metres): on a surface min_z == support_z."""
    objs = [p.objs[0] for p in placed]
    outer = [not p.annotated and p.name != ROOM_TABLE for p in placed]   # a room's table stands in the middle
    support: dict[str, tuple[str, float | None]] = {}
    if cfg.placement == "surface":
        group = ROOM_TABLE if any(p.name == ROOM_TABLE for p in placed) else None
        for f in scene_assets.layout_surface(objs, [p.entry.cls for p in placed], rng, outer=outer, group_on=group):
            support[f.obj.get_name()] = (f.support, f.support_z)
    else:
        scene_assets.pose_floating(objs, rng, outer=outer)
    out = []
    for p in placed:
        sup, sz = support.get(p.name, ("free", None))
        out.append({"object": p.name, "asset_id": p.entry.id, "class": p.entry.cls, "annotated": p.annotated,
                    "support": sup, "support_z": None if sz is None else round(float(sz), 6),
                    "min_z": round(scene_assets.object_min_z(p.objs[0]), 6)})
    return out


def _load_objects(cfg: SceneConfig, manifest: Manifest, rng: np.random.Generator) -> tuple[list[Placed], int, int]:
    """The annotated objects (of cfg.classes), then the distractors (other classes, not distractor_exclude)."""
    placed: list[Placed] = []
    n_obj = _int_range(cfg.objects_per_scene, rng)
    for k in range(n_obj):
        cls = cfg.classes[int(rng.integers(len(cfg.classes)))]
        choices = [e for e in manifest.meshes([cls]) if e.id not in cfg.exclude_assets]
        entry = choices[int(rng.integers(len(choices)))]
        objs = load_mesh(entry, rng)
        objs[0].set_name(f"{ANNOTATED_PREFIX}{k}")
        placed.append(Placed(f"{ANNOTATED_PREFIX}{k}", entry, objs, True))
    others = [c for c in manifest.class_names() if c not in cfg.classes and c not in cfg.distractor_exclude]
    n_dis = _int_range(cfg.distractors, rng) if others else 0
    for k in range(n_dis):
        choices = manifest.meshes([others[int(rng.integers(len(others)))]])
        entry = choices[int(rng.integers(len(choices)))]
        objs = load_mesh(entry, rng)
        objs[0].set_name(f"{DISTRACTOR_PREFIX}{k}")
        placed.append(Placed(f"{DISTRACTOR_PREFIX}{k}", entry, objs, False))
    return placed, n_obj, n_dis


def build_scene(cfg: SceneConfig, manifest: Manifest, seed: int) -> tuple[list[Placed], dict[str, Any]]:
    """clean_up + background + objects + lights + camera for one scene; returns the objects and the
    sampled values (image sidecar)."""
    import bpy

    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # BlenderProc's own samplers use the global generator
    bproc.clean_up()
    sampled = setup_background(cfg, manifest, rng)
    placed, n_obj, n_dis = _load_objects(cfg, manifest, rng)
    if cfg.background.kind == "room":
        placed.append(build_room(cfg, manifest, rng, sampled))
    crng = np.random.default_rng([int(seed) % (2 ** 63), CLUTTER_SALT])   # its own draws: configs without
    clutter = _add_clutter(cfg, manifest, crng)                            # clutter keep their scenes
    placed += clutter
    placement = _place(placed, cfg, rng)
    if cfg.materials != MaterialsConfig():   # its own draws: configs without it keep their scenes
        mrng = np.random.default_rng([int(seed) % (2 ** 63), MATERIAL_SALT])
        for rec, p in zip(placement, placed):
            rec["material"] = jitter_materials(p.objs[0], cfg.materials, mrng)
    bpy.context.view_layer.update()  # matrix_world of the moved objects

    cam, poi, aimed = camera.aim(bproc, cfg, [p.objs for p in placed if p.annotated], rng, seed)
    occluder = _occlude(clutter, [p for p in placed if p.annotated], cam, cfg, crng) if clutter else None

    lights = _add_lights(cfg, poi, rng)

    # objects get their pass_index only in enable_segmentation_output(): renumber this scene's objects,
    # else the instance map misses them and COCO silently gets no annotations.
    for i, bo in enumerate(o for o in bpy.context.scene.objects if o.type == "MESH"):
        bo.pass_index = i + 1
    sampled.update({**aimed["pose"], "n_objects": n_obj, "n_distractors": n_dis, "lights": lights,
                    "blur_sigma_px": float(rng.uniform(*cfg.blur_sigma_px)), "placement": placement,
                    "asset_ids": sorted({p.entry.id for p in placed} |
                                        ({sampled["background_id"]} if cfg.background.kind in ("hdri", "floor", "room")
                                         else set()))})
    sampled.update(aimed["framing"])
    if clutter:
        sampled.update(n_clutter=len(clutter), clutter_occluder=occluder)
    if not isinstance(cfg.samples, int):
        sampled["samples"] = cfg.samples_for(seed)
    if cfg.effects != EffectsConfig():   # drawn last: configs without effects keep their scenes
        sampled["effects"] = postfx.sample_effects(cfg.effects, rng)
    return placed, sampled


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(rgb).save(tmp, format="JPEG", quality=int(quality))
    os.replace(tmp, path)


def _finish_image(colors: np.ndarray, cfg: SceneConfig, sampled: dict[str, Any], seed: int) -> np.ndarray:
    """The render's colours -> the image: photo behind (kind photo), blur, camera effects (render/postfx.py)."""
    if cfg.background.kind == "photo":
        h, w = colors.shape[:2]
        photo = postfx.load_photo(Path(cfg.background.dir) / sampled["background_id"], w, h)
        rgb = postfx.composite(colors.astype(np.uint8), photo)
    else:
        rgb = colors[..., :3].astype(np.uint8)
    sigma = sampled["blur_sigma_px"]
    if sigma > 0:
        import cv2

        rgb = cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    fx = sampled.get("effects")
    if fx:
        rgb = postfx.apply_effects(rgb, fx["exposure_ev"], fx["white_balance_k"], fx["noise_sigma"], seed,
                                   fx.get("motion_px", 0.0), fx.get("motion_angle_deg", 0.0))
    return rgb


def render_scene(task: SceneTask, manifest: Manifest, out_dir: str | Path) -> dict[str, Any]:
    """Render one scene; write its image; return {"image", "image_sidecar", "annotations"} (no ids but the
    image's: annotation ids are given at merge)."""
    cfg = SceneConfig.from_mapping(task.config, f"scene {task.index}")
    init_renderer()
    _apply_render_settings(cfg, task.scene_seed)
    placed, sampled = build_scene(cfg, manifest, task.scene_seed)
    data = bproc.renderer.render()
    rgb = _finish_image(np.asarray(data["colors"][0]), cfg, sampled, task.scene_seed)
    distance = np.asarray(data["distance"][0], dtype=np.float64)
    if distance.ndim == 3:
        distance = distance[..., 0]
    seg = np.asarray(data["instance_segmaps"][0])
    if seg.ndim == 3:
        seg = seg[..., 0]
    idx_by_name = {a["name"]: int(a["idx"]) for a in data["instance_attribute_maps"][0]}
    masks = {p.name: (seg == idx_by_name[p.name]) if p.name in idx_by_name else np.zeros(seg.shape, bool)
             for p in placed}
    all_objects = np.zeros(seg.shape, bool)
    for m in masks.values():
        all_objects |= m
    anns = []
    for p in placed:
        m = masks[p.name]
        if not p.annotated or not m.any():  # distractor, fully occluded or outside the frame
            continue
        stats = annotate.object_stats(rgb, distance, m, all_objects & ~m)
        anns.append({"category_id": manifest.category_id(p.entry.cls), "bbox": annotate.mask_bbox(m),
                     "area": float(m.sum()), "iscrowd": 0, "segmentation": annotate.rle_encode(m),
                     "sidecar": {**stats, "asset_id": p.entry.id, "class": p.entry.cls, "object": p.name}})
    file_name = image_file_name(task.image_id)
    _write_jpeg(Path(out_dir) / file_name, rgb, sampled.get("effects", {}).get("jpeg_quality", 95))
    h, w = rgb.shape[:2]
    image_side = {"camera_distance": sampled.pop("camera_distance"),
                  "camera_elevation_deg": sampled.pop("camera_elevation_deg"),
                  "config_name": task.config_name, "scene_seed": task.scene_seed, "scene_index": task.index,
                  "render_device": _STATE["device"], **sampled}
    return {"image": {"id": task.image_id, "file_name": file_name, "width": int(w), "height": int(h)},
            "image_sidecar": image_side, "annotations": anns}


# ---- (a) `blenderproc run render/scene.py ...` ---------------------------------------------------
def main(argv: list[str]) -> int:
    import argparse
    import time

    from render.manifest import load_manifest
    from render.shards import Job, JobEntry, manifest_digest, merge, prepare_job_dir
    from core.progress import Progress
    from core.errors import UserError
    from core.io import atomic_write_json

    ap = argparse.ArgumentParser(prog="blenderproc run render/scene.py")
    ap.add_argument("--config", required=True, help="SceneConfig YAML")
    ap.add_argument("--n", type=int, required=True, help="number of scenes (one image each)")
    ap.add_argument("--out", required=True, help="dataset dir")
    ap.add_argument("--seed", type=int, default=None, help="master seed (default: the config's seed)")
    ap.add_argument("--threads", type=int, default=0, help="Cycles CPU threads (0: all)")
    args = ap.parse_args(argv)
    try:
        manifest = load_manifest()
        cfg = SceneConfig.from_yaml(args.config, manifest.class_names())
        seed = cfg.seed if args.seed is None else args.seed
        job = Job([JobEntry(cfg.to_mapping(), cfg.name, args.n)], seed, max(args.n, 1), str(manifest.path),
                  manifest_digest(manifest))
        out = Path(args.out)
        prepare_job_dir(out, job)
    except (UserError, ValueError) as e:
        print(f"render/scene.py: error: {e}", file=sys.stderr)
        return 2
    init_renderer(args.threads)
    for spec in job.shards(out):
        if spec.result_path.exists():
            continue
        scenes = []
        t0 = time.monotonic()
        with Progress(len(spec.scenes), "render") as prog:
            for task in spec.scenes:
                scenes.append(render_scene(task, manifest, out))
                prog.update(1)
        atomic_write_json(spec.result_path, {"shard": spec.shard_id, "seconds": time.monotonic() - t0,
                                             "scenes": scenes}, indent=None)
    coco, n_img, n_ann = merge(out, job, manifest)
    print(f"wrote {coco} ({n_img} images, {n_ann} annotations)")
    return 0


if __name__ == "__main__" and in_blenderproc_run():
    hard_exit(main(sys.argv[1:]))
