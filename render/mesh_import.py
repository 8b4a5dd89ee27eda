"""Blender-side mesh import for every manifest mesh format (render environment only).

    import_parts(bproc, path, fmt) -> [MeshObject]: the file's meshes in world space, no parents
    ensure_material(obj, fmt)      -> a neutral Principled material where the file gives none

Formats (render.manifest.MESH_FORMATS): obj, ply, stl, glb/gltf, fbx through BlenderProc's `load_obj` (Blender
4.2's own importers: obj, glb/gltf and fbx convert their Y-up to Blender's Z-up, ply and stl are taken as they
are), blend through `load_blend` (its mesh objects, with their materials). Importers that build a hierarchy
(glTF nodes, FBX empties and armatures) have it flattened: each mesh keeps its world transform, the non-mesh
objects are removed, and shared mesh data is made single-user so the caller can bake transforms into it.
Textures stay as the file references them (relative paths next to the file, glTF embedded images, a .blend's
packed or linked images).

A mesh with no material (stl; a ply without vertex colours, which BlenderProc would give an unset colour
attribute, i.e. black) gets one neutral grey Principled material, so the scene's material jitter applies to
it like to any other.
"""
from __future__ import annotations

from pathlib import Path

NEUTRAL_RGBA = (0.55, 0.55, 0.55, 1.0)
NEUTRAL_PREFIX = "neutral_"          # the name of the material ensure_material adds (assets_probe reports it)


def import_parts(bproc, path: Path, fmt: str) -> list:
    import bpy

    before = set(bpy.data.objects)
    if fmt == "blend":
        bproc.loader.load_blend(str(path), obj_types=["mesh"])
    else:
        bproc.loader.load_obj(str(path))
    new = [o for o in bpy.data.objects if o not in before]
    bpy.context.view_layer.update()
    meshes = [o for o in new if o.type == "MESH" and len(o.data.vertices)]
    for o in meshes:
        world = o.matrix_world.copy()
        o.parent = None
        o.matrix_world = world
        if o.data.users > 1:        # glTF instances share their mesh: baking a transform needs its own copy
            o.data = o.data.copy()
    for o in new:
        if o not in meshes:
            bpy.data.objects.remove(o, do_unlink=True)
    bpy.context.view_layer.update()
    from blenderproc.python.types.MeshObjectUtility import MeshObject
    parts = [MeshObject(o) for o in meshes]
    for p in parts:
        ensure_material(p, fmt)
    return parts


def ensure_material(obj, fmt: str) -> None:
    """Give `obj` a neutral Principled material when it has none that shows anything."""
    import bpy

    o = obj.blender_obj
    mats = [m for m in o.data.materials if m is not None]
    blank_ply = fmt == "ply" and not len(o.data.color_attributes) and not _has_texture(mats)
    if mats and not blank_ply:
        return
    mat = bpy.data.materials.new(name=f"{NEUTRAL_PREFIX}{o.name}")
    mat.use_nodes = True
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = NEUTRAL_RGBA
    bsdf.inputs["Roughness"].default_value = 0.5
    o.data.materials.clear()
    o.data.materials.append(mat)


def _has_texture(mats) -> bool:
    return any(m.use_nodes and any(n.type == "TEX_IMAGE" and n.image is not None for n in m.node_tree.nodes)
               for m in mats)
