"""Blender-side asset helpers (render environment only: called by render/scene.py inside BlenderProc).

- load_mesh_entry: a manifest mesh (obj, ply, stl, glb/gltf, fbx, blend) -> one MeshObject at catalogue size
  (metres), upright (Z-up via the entry's rotation_deg), textures kept, its base centred on the origin (lowest
  point at z = 0); load_upright: the same before sizing (what `synthgap assets add` measures).
- set_hdri_background / make_floor: world HDRI (random yaw) and a textured, UV-tiled support plane.
- layout_surface / pose_floating: placement. `surface`: big items (chairs, tables) stand on the floor
  (z = 0), small items stand on a table top (convex hull of its top vertices) when the scene has a table
  and they fit, else on the floor;
  footprints never overlap, rotation is yaw only, so every object's lowest point lies on its support plane.
  `floating`: free rotation and height.

Every function takes `bproc` (the imported BlenderProc module) so this file imports nothing heavy itself and
works both under `blenderproc run` and in-process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SMALL_HEIGHT_M = 0.45       # items lower than this may stand on a table top
GROUP_M = 0.2            # a group of objects on a room's table: each within this of the first one (metres)
TABLE_EDGE_MARGIN_M = 0.03  # keep small items this far inside the table top's footprint


# ---- meshes ------------------------------------------------------------------------------------------
def load_mesh_entry(bproc, entry, name: str | None = None):
    """Load a mesh entry (any render.manifest.MESH_FORMATS) as one MeshObject at its real size:
    `load_upright`, then scale each axis to size_cm (as Sweet Home 3D does: the catalogue size is the
    model's bounding box), move the base centre to the origin. Materials and textures stay as the file
    gives them (render/mesh_import.py; a neutral material where it gives none)."""
    obj = load_upright(bproc, entry.resolved_path(), entry.format, entry.rotation_deg, entry.id)
    lo, hi = _vertex_bounds(obj)
    ext = hi - lo
    if entry.size_cm:
        target = np.asarray(entry.size_cm, dtype=float) / 100.0
        # a flat axis (extent ~0, e.g. a plane) keeps the mean scale of the others instead of blowing up
        ok = ext > 1e-6 * ext.max()
        scale = np.where(ok, target / np.where(ok, ext, 1.0), 0.0)
        scale[~ok] = float(np.mean(scale[ok]))
        obj.set_scale(scale.tolist())
        obj.persist_transformation_into_mesh()
        # equal factors = the catalogue size is the model's own proportions, i.e. rotation_deg is right
        obj.set_cp("size_scale", [float(x) for x in scale])
    lo, hi = _vertex_bounds(obj)
    obj.set_location([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    obj.persist_transformation_into_mesh()
    if name:
        obj.set_name(name)
    obj.set_cp("asset_id", entry.id)
    return obj


def load_upright(bproc, path, fmt: str, rotation_deg, what: str):
    """The file's meshes joined into one MeshObject, in the file's own units: the importer's axis conversion
    and hierarchy baked in (render/mesh_import.py), then rotation_deg (XYZ Euler) applied. `synthgap assets add`
    reads its bounds to size an entry; load_mesh_entry scales it."""
    from render.mesh_import import import_parts

    if path is None or not path.exists():
        raise FileNotFoundError(f"asset {what}: mesh file {path} not found "
                                "(run scripts/setup.sh, or `synthgap assets check` for details)")
    parts = import_parts(bproc, path, fmt)
    if not parts:
        raise RuntimeError(f"asset {what}: {path} holds no mesh")
    for p in parts:  # the importer puts its axis conversion into each object's rotation: bake it
        p.persist_transformation_into_mesh()
    obj = parts[0]
    if len(parts) > 1:
        obj.join_with_other_objects(parts[1:])
    if any(rotation_deg):
        obj.set_rotation_euler([math.radians(a) for a in rotation_deg])
        obj.persist_transformation_into_mesh()
    lo, hi = _vertex_bounds(obj)
    ext = hi - lo
    if not np.all(np.isfinite(ext)) or ext.max() <= 0:
        raise RuntimeError(f"asset {what}: {path} has degenerate bounds {ext.tolist()}")
    return obj


def _vertex_bounds(obj) -> tuple[np.ndarray, np.ndarray]:
    v = world_vertices(obj)
    if len(v) == 0:
        return np.zeros(3), np.zeros(3)
    return v.min(axis=0), v.max(axis=0)


def local_vertices(obj) -> np.ndarray:
    mesh = obj.get_mesh()
    n = len(mesh.vertices)
    co = np.empty(n * 3, dtype=np.float64)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(n, 3)


def world_vertices(obj) -> np.ndarray:
    """All vertices of a MeshObject in world coordinates, (n, 3), from its current location/rotation/scale
    (computed here: Blender's matrix_world is only refreshed by a depsgraph update)."""
    m = np.eye(4)
    m[:3, :3] = euler_matrix(obj.get_rotation_euler()) * np.asarray(obj.get_scale(), dtype=float)[None, :]
    m[:3, 3] = np.asarray(obj.get_location(), dtype=float)
    return local_vertices(obj) @ m[:3, :3].T + m[:3, 3]


def euler_matrix(xyz) -> np.ndarray:
    """Blender's XYZ Euler as a matrix: R = Rz @ Ry @ Rx."""
    x, y, z = (float(a) for a in xyz)
    cx, sx, cy, sy, cz, sz = math.cos(x), math.sin(x), math.cos(y), math.sin(y), math.cos(z), math.sin(z)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def object_min_z(obj) -> float:
    v = world_vertices(obj)
    return float(v[:, 2].min()) if len(v) else float("nan")


# ---- backgrounds -------------------------------------------------------------------------------------
def set_hdri_background(bproc, entry, rng: np.random.Generator, strength: tuple[float, float] = (0.8, 1.2)) -> dict:
    """The entry's HDRI as world light and background, rotated by a random yaw. Returns the sampled values."""
    path = entry.resolved_path()
    if path is None or not path.exists():
        raise FileNotFoundError(f"asset {entry.id}: HDRI {path} not found (run scripts/setup.sh)")
    import bpy

    yaw = float(rng.uniform(0.0, 2 * math.pi))
    s = float(rng.uniform(*strength))
    world = bpy.context.scene.world
    if world is None:
        world = bpy.context.scene.world = bpy.data.worlds.new("World")
    world.use_nodes = True  # a fresh world after clean_up() has no node tree yet
    if not any(n.type == "BACKGROUND" for n in world.node_tree.nodes):
        bg = world.node_tree.nodes.new("ShaderNodeBackground")
        out = next((n for n in world.node_tree.nodes if n.type == "OUTPUT_WORLD"), None) or \
            world.node_tree.nodes.new("ShaderNodeOutputWorld")
        world.node_tree.links.new(bg.outputs["Background"], out.inputs["Surface"])
    bproc.world.set_world_background_hdr_img(str(path), strength=s, rotation_euler=[0.0, 0.0, yaw])
    return {"background_id": entry.id, "hdri_yaw_deg": round(math.degrees(yaw), 3), "hdri_strength": round(s, 4)}


def make_floor(bproc, entry=None, rng: np.random.Generator | None = None, half_size_m: float = 20.0,
               tile_m: tuple[float, float] = (0.6, 1.2), rgb=None):
    """A square support plane at z = 0 named sg_support: textured with a floor_texture entry (tiled every
    tile_m metres, random offset and rotation of the texture), or a plain colour `rgb`."""
    rng = rng if rng is not None else np.random.default_rng(0)
    plane = bproc.object.create_primitive("PLANE", scale=[half_size_m, half_size_m, 1])
    plane.set_name("sg_support")
    info: dict[str, Any] = {}
    if entry is not None:
        path = entry.resolved_path()
        if path is None or not path.exists():
            raise FileNotFoundError(f"asset {entry.id}: floor texture {path} not found (run scripts/setup.sh)")
        mat = bproc.material.create_material_from_texture(str(path), f"floor_{entry.id}")
        tile = float(rng.uniform(*tile_m))
        _tile_uvs(plane, repeats=2 * half_size_m / tile, offset=rng.uniform(0, 1, 2),
                  angle=float(rng.choice([0.0, 90.0])))
        mat.set_principled_shader_value("Roughness", float(rng.uniform(0.3, 0.8)))
        info.update(background_id=entry.id, floor_tile_m=round(tile, 4))
    else:
        mat = bproc.material.create("support")
        c = np.asarray(rgb if rgb is not None else rng.uniform(0.05, 0.95, 3), dtype=float)
        mat.set_principled_shader_value("Base Color", [*c.tolist(), 1.0])
        info["support_rgb"] = [round(float(x), 4) for x in c]
    plane.add_material(mat)
    return plane, info


def make_walls(bproc, half_m: float, height_m: float, rgb) -> list:
    """Four walls of plain colour `rgb` around the origin (a square room of half-size half_m), each facing
    inwards and transparent from behind (Cycles: Backfacing mixes in a Transparent BSDF), so a camera outside
    the room still sees in and the world still lights it."""
    walls = []
    for k, (loc, rot, scale) in enumerate((
            ((0.0, half_m, height_m / 2), (math.pi / 2, 0.0, 0.0), (half_m, height_m / 2, 1.0)),
            ((0.0, -half_m, height_m / 2), (-math.pi / 2, 0.0, 0.0), (half_m, height_m / 2, 1.0)),
            ((half_m, 0.0, height_m / 2), (0.0, -math.pi / 2, 0.0), (height_m / 2, half_m, 1.0)),
            ((-half_m, 0.0, height_m / 2), (0.0, math.pi / 2, 0.0), (height_m / 2, half_m, 1.0)))):
        w = bproc.object.create_primitive("PLANE")
        w.set_name(f"sg_wall_{k}")
        w.set_location(list(loc))
        w.set_rotation_euler(list(rot))
        w.set_scale(list(scale))
        mat = bproc.material.create(f"wall_{k}")
        mat.set_principled_shader_value("Base Color", [*map(float, rgb), 1.0])
        mat.set_principled_shader_value("Roughness", 0.9)
        tree = mat.blender_obj.node_tree
        bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
        out = next(n for n in tree.nodes if n.type == "OUTPUT_MATERIAL")
        geo, clear, mix = (tree.nodes.new(t) for t in ("ShaderNodeNewGeometry", "ShaderNodeBsdfTransparent",
                                                       "ShaderNodeMixShader"))
        tree.links.new(geo.outputs["Backfacing"], mix.inputs["Fac"])
        tree.links.new(bsdf.outputs["BSDF"], mix.inputs[1])
        tree.links.new(clear.outputs["BSDF"], mix.inputs[2])
        tree.links.new(mix.outputs["Shader"], out.inputs["Surface"])
        w.add_material(mat)
        walls.append(w)
    return walls


def _tile_uvs(plane, repeats: float, offset, angle: float) -> None:
    mesh = plane.get_mesh()
    if not mesh.uv_layers:
        plane.add_uv_mapping("cube")
    uv = mesh.uv_layers.active.data
    n = len(uv)
    co = np.empty(2 * n)
    uv.foreach_get("uv", co)
    co = co.reshape(n, 2) - 0.5
    if angle:
        a = math.radians(angle)
        co = co @ np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]).T
    co = co * repeats + np.asarray(offset)
    uv.foreach_set("uv", co.ravel())


# ---- placement ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class Footprint:
    """An object standing upright: yaw-rotated base around (x, y) at height z (its lowest point)."""
    obj: Any
    radius: float                # half the diagonal of the xy extent (yaw-invariant bound)
    height: float
    cls: str | None = None
    xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    z: float = 0.0
    yaw: float = 0.0
    support: str = "floor"
    support_z: float = 0.0       # height of the support plane (0 for the floor, the top for a table)


def _extent(obj) -> np.ndarray:
    lo, hi = _vertex_bounds(obj)
    return hi - lo


def _free_spot(r: float, taken: list[tuple[np.ndarray, float]], rng, lo: np.ndarray, hi: np.ndarray,
               tries: int = 200) -> np.ndarray | None:
    """A uniform point in the box [lo, hi] whose disc of radius r touches none of `taken`."""
    if np.any(hi < lo):
        return None
    for _ in range(tries):
        xy = rng.uniform(lo, hi)
        if all(np.linalg.norm(xy - c) >= r + rc for c, rc in taken):
            return xy
    return None


def layout_surface(objs: list, classes: list[str | None], rng: np.random.Generator, outer: list[bool] | None = None,
                   table_classes: tuple[str, ...] = ("dining table",), gap_m: float = 0.02,
                   ring_width_m: float = 0.6, group_on: str | None = None) -> list[Footprint]:
    """Stand every object upright on a support plane with a random yaw, footprints not overlapping.

    Big items stand on the floor (z = 0): `outer` ones (distractors) in a ring around the others, the rest
    in a square that grows until they fit. Small items (height < SMALL_HEIGHT_M) go on the top of a table of
    the scene when one is there and has room (the top: the convex hull of the table's vertices within 2 cm of
    its highest point, in the table's own frame, shrunk by TABLE_EDGE_MARGIN_M; so round and rotated tops
    work), else on the floor. Each object's lowest point ends on its support plane: its base is at z = 0 in
    mesh coordinates and only yaw is applied. Returns the footprints (support 'floor' or the table's object
    name, support_z the plane's height). `group_on` (a table's object name, a room's): the inner small items go
    on that table first and stand in a group, each within GROUP_M of the first one's spot, as photographed objects
    do; the outer ones spread over every table."""
    outer = list(outer) if outer is not None else [False] * len(objs)
    fps = []
    for o, c in zip(objs, classes):
        ext = _extent(o)
        fps.append(Footprint(o, 0.5 * float(math.hypot(ext[0], ext[1])) + gap_m / 2, float(ext[2]), c))
    is_outer = {id(f): bool(b) for f, b in zip(fps, outer)}
    tables = [f for f in fps if f.cls in table_classes]
    small = [f for f in fps if f not in tables and f.height < SMALL_HEIGHT_M]
    big = [f for f in fps if f not in small]
    floor = _Floor(0.5 * math.sqrt(sum(math.pi * f.radius ** 2 for f in fps if not is_outer[id(f)]) * 2.5) + 0.05,
                   ring_width_m, rng)
    # floor: inner big items first (biggest first), then the ring of outer big items
    for f in sorted(big, key=lambda f: (is_outer[id(f)], -f.radius)):
        floor.place(f, is_outer[id(f)])
    tops = _table_tops(tables, rng)
    anchor: list = []
    for f in sorted(small, key=lambda f: (is_outer[id(f)], -f.radius)):
        if not _on_a_table(f, tops, rng, group_on if not is_outer[id(f)] else None, anchor):
            floor.place(f, is_outer[id(f)])
    for f in fps:
        f.support_z = float(f.z)
    for f in fps:
        if f not in tables:
            f.yaw = float(rng.uniform(0, 2 * math.pi))
        _apply(f)
    return fps


class _Floor:
    """Spots on the floor (z = 0): inner items in a square that grows by 1.25x until they fit, outer items
    (distractors) in a ring of `ring_width_m` around the inner ones, moved out by half a ring when full."""

    def __init__(self, half: float, ring_width_m: float, rng: np.random.Generator):
        self.taken: list[tuple[np.ndarray, float]] = []
        self.half, self.r_in, self.ring, self.rng = half, 0.0, ring_width_m, rng

    def place(self, f: Footprint, outer: bool) -> None:
        xy = self._ring(f.radius) if outer else self._square(f.radius)
        f.xy, f.z, f.support = xy, 0.0, "floor"
        self.taken.append((xy, f.radius))

    def _ring(self, radius: float) -> np.ndarray:
        dist = max(self.r_in, 0.05) + radius
        while True:
            for _ in range(100):
                ang = self.rng.uniform(0, 2 * math.pi)
                d = dist + self.rng.uniform(0.0, self.ring)
                xy = np.array([math.cos(ang), math.sin(ang)]) * d
                if all(np.linalg.norm(xy - c) >= radius + rc for c, rc in self.taken):
                    return xy
            dist += self.ring / 2

    def _square(self, radius: float) -> np.ndarray:
        while True:
            h = self.half
            xy = _free_spot(radius, self.taken, self.rng, np.array([-h, -h]), np.array([h, h]))
            if xy is not None:
                break
            self.half *= 1.25
        self.r_in = max(self.r_in, float(np.linalg.norm(xy)) + radius)
        return xy


def _table_tops(tables: list[Footprint], rng: np.random.Generator) -> list:
    """Each table turned by a random yaw, with the convex hull of its top vertices in its own frame:
    [(table, hull, top z, items placed on it)]."""
    tops = []
    for t in tables:
        t.yaw = float(rng.uniform(0, 2 * math.pi))
        _apply(t)
        hull, top_z = table_top(t.obj)
        tops.append((t, hull, top_z, []))
    return tops


def _on_a_table(f: Footprint, tops: list, rng: np.random.Generator, group_on: str | None, anchor: list) -> bool:
    """Put a small item on a free spot of a table top (tables in random order; with `group_on`, that table
    first and near `anchor`, the group's first spot, which the first item there sets). -> placed or not."""
    order = [int(k) for k in rng.permutation(len(tops))] if tops else []
    if group_on is not None:
        order = sorted(order, key=lambda k: tops[k][0].obj.get_name() != group_on)
    for k in order:
        t, hull, top_z, taken = tops[k]
        grouping = group_on is not None and t.obj.get_name() == group_on
        local = _spot_in_polygon(f.radius + TABLE_EDGE_MARGIN_M, hull, taken, rng,
                                 near=anchor[0] if grouping and anchor else None)
        if local is None:
            continue
        if grouping and not anchor:
            anchor.append((local, GROUP_M))
        taken.append((local, f.radius))
        c, s_ = math.cos(t.yaw), math.sin(t.yaw)
        f.xy = np.asarray(t.xy, dtype=float) + np.array([c * local[0] - s_ * local[1], s_ * local[0] + c * local[1]])
        f.z, f.support = top_z, t.obj.get_name()
        return True
    return False


def _apply(f: Footprint) -> None:
    f.obj.set_location([float(f.xy[0]), float(f.xy[1]), float(f.z)])
    f.obj.set_rotation_euler([0.0, 0.0, f.yaw])


def table_top(obj, band_m: float = 0.02) -> tuple[np.ndarray, float]:
    """A table's top in its own frame (mesh coordinates: base centred on the origin, so a yaw about the
    origin and a translation give world coordinates): the convex hull (k, 2) of the vertices within band_m
    of the highest point, and that height above the table's base."""
    v = local_vertices(obj) * np.asarray(obj.get_scale(), dtype=float)[None, :]
    top = float(v[:, 2].max())
    hull = convex_hull(v[v[:, 2] >= top - band_m, :2])
    return hull, top - float(v[:, 2].min())


def convex_hull(pts: np.ndarray) -> np.ndarray:
    """2-D convex hull (Andrew's monotone chain), counter-clockwise, no repeated end point."""
    pts = np.unique(np.round(np.asarray(pts, dtype=float), 9), axis=0)
    if len(pts) < 3:
        return pts

    def half(points):
        out: list = []
        for p in points:
            while len(out) >= 2 and (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) - \
                    (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0]) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def inset_distance(p: np.ndarray, hull: np.ndarray) -> float:
    """Signed distance from p to the boundary of a counter-clockwise convex polygon (> 0 inside)."""
    if len(hull) < 3:
        return -math.inf
    a, b = hull, np.roll(hull, -1, axis=0)
    e = b - a
    n = np.hypot(e[:, 0], e[:, 1])
    ok = n > 1e-12
    cross = e[ok, 0] * (p[1] - a[ok, 1]) - e[ok, 1] * (p[0] - a[ok, 0])
    return float((cross / n[ok]).min())


def _spot_in_polygon(r: float, hull: np.ndarray, taken: list[tuple[np.ndarray, float]], rng,
                     tries: int = 60, near: tuple[np.ndarray, float] | None = None) -> np.ndarray | None:
    """A uniform point of the polygon at least r inside its edges, its disc (radius r) clear of `taken`; with
    `near` = (centre, d) within d + r of that centre when such a point is found (else anywhere)."""
    if len(hull) < 3:
        return None
    lo, hi = hull.min(axis=0) + r, hull.max(axis=0) - r
    if np.any(hi < lo):
        return None
    boxes = [(lo, hi)]
    if near is not None:
        c, d = near
        nlo, nhi = np.maximum(lo, c - d - r), np.minimum(hi, c + d + r)
        if np.all(nhi >= nlo):
            boxes.insert(0, (nlo, nhi))
    for blo, bhi in boxes:
        for _ in range(tries):
            xy = rng.uniform(blo, bhi)
            if inset_distance(xy, hull) >= r and all(np.linalg.norm(xy - c) >= (r - TABLE_EDGE_MARGIN_M) + rc
                                                     for c, rc in taken):
                return xy
    return None


def object_bounds(obj) -> tuple[np.ndarray, np.ndarray]:
    """World-space (min, max) corners of a MeshObject's vertices (from its current transform)."""
    return _vertex_bounds(obj)


def pose_floating(objs: list, rng: np.random.Generator, outer: list[bool] | None = None, gap_m: float = 0.02,
                  ring_width_m: float = 0.6) -> list[np.ndarray]:
    """Free poses: random rotation, bounding spheres not overlapping and above the floor (z = 0); `outer`
    ones (distractors) in a ring around the others. The mesh origin sits at the base centre, so the
    location is offset to put the object's own centre on the sampled point."""
    outer = list(outer) if outer is not None else [False] * len(objs)
    items = []
    for o, b in zip(objs, outer):
        ext = _extent(o)
        items.append((o, 0.5 * float(np.linalg.norm(ext)) + gap_m / 2, float(ext[2]), bool(b)))
    half = 0.5 * math.sqrt(sum(math.pi * r * r for _, r, _, b in items if not b) * 2.5) + 0.05
    centres: list[tuple[np.ndarray, float]] = []
    r_in = 0.0
    out = []
    for o, r, h, is_out in sorted(items, key=lambda t: (t[3], -t[1])):
        grow = 0.0
        while True:
            c = None
            for _ in range(200):
                if is_out:
                    ang = rng.uniform(0, 2 * math.pi)
                    d = r_in + r + grow + rng.uniform(0.0, ring_width_m)
                    p = np.array([math.cos(ang) * d, math.sin(ang) * d, rng.uniform(r, r + 2 * half)])
                else:
                    p = rng.uniform([-half, -half, r], [half, half, r + 2 * half])
                if all(np.linalg.norm(p - q) >= r + rq for q, rq in centres):
                    c = p
                    break
            if c is not None:
                break
            if is_out:
                grow += ring_width_m / 2
            else:
                half *= 1.25
        centres.append((c, r))
        if not is_out:
            r_in = max(r_in, float(np.hypot(c[0], c[1])) + r)
        rot = rng.uniform(0, 2 * math.pi, 3)
        o.set_rotation_euler(rot.tolist())
        o.set_location((c - euler_matrix(rot) @ np.array([0.0, 0.0, h / 2])).tolist())
        out.append(c)
    return out
