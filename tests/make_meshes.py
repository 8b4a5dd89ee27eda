"""Write one test mesh in every format `synthgap assets add` takes (run with the render environment's python):

    python tests/make_meshes.py OUT_DIR [--kind box|cylinder]

box: 4 x 2 x 1 units (x, y, z; Z-up in Blender), an image texture (a checker PNG written next to it);
cylinder: radius 0.5, height 3, no material. Exported by Blender's own exporters (obj + mtl, ply, stl,
glb with the texture embedded, gltf + bin + png, fbx, blend), each in its format's up-axis convention, so a
re-import gives back the Blender-space extents. Prints the written file names.
"""
import sys
from pathlib import Path


def main(out: Path, kind: str) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    out.mkdir(parents=True, exist_ok=True)
    if kind == "box":
        bpy.ops.mesh.primitive_cube_add(size=1.0)
        o = bpy.context.active_object
        o.scale = (4.0, 2.0, 1.0)
        bpy.ops.object.transform_apply(scale=True)
        bpy.ops.mesh.uv_texture_add()
        img = bpy.data.images.new("checker", 8, 8)
        img.generated_type = "COLOR_GRID"
        img.filepath_raw = str(out / "checker.png")
        img.file_format = "PNG"
        img.save()
        mat = bpy.data.materials.new("boxmat")
        mat.use_nodes = True
        tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
        tex.image = img
        bsdf = mat.node_tree.nodes["Principled BSDF"]
        mat.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        o.data.materials.append(mat)
    else:
        bpy.ops.mesh.primitive_cylinder_add(radius=0.5, depth=3.0, vertices=24)
    name = kind
    bpy.ops.wm.obj_export(filepath=str(out / f"{name}.obj"), path_mode="RELATIVE")
    bpy.ops.wm.ply_export(filepath=str(out / f"{name}.ply"))
    bpy.ops.wm.stl_export(filepath=str(out / f"{name}.stl"))
    bpy.ops.export_scene.gltf(filepath=str(out / f"{name}.glb"), export_format="GLB")
    bpy.ops.export_scene.gltf(filepath=str(out / f"{name}.gltf"), export_format="GLTF_SEPARATE")
    bpy.ops.export_scene.fbx(filepath=str(out / f"{name}.fbx"), path_mode="RELATIVE")
    bpy.ops.wm.save_as_mainfile(filepath=str(out / f"{name}.blend"))
    print(" ".join(sorted(p.name for p in out.iterdir())))


if __name__ == "__main__":
    args = sys.argv[1:]
    kind = args[args.index("--kind") + 1] if "--kind" in args else "box"
    main(Path(args[0]), kind)
    sys.stdout.flush()
    import os
    os._exit(0)          # bpy as a module may crash in its static destructors at normal exit
