"""BlenderProc 2.8 on PyPI's bpy 4.2 (render environment only).

Two ways to get a working `bproc`:
  * `blenderproc run render/scene.py --custom-blender-path <venv>/blender-shim -- ...`: BlenderProc imports
    itself inside our fake Blender (render/blender_shim/); `patch_blenderproc(bproc)` then fixes init().
  * in-process (the render workers): `import_blenderproc()` imports bpy + BlenderProc's API in a plain
    Python process without `blenderproc run`, with the same fixes.

Fixes (runtime patches; site-packages is never edited):
  - i18n: PyPI's bpy is built without WITH_INTERNATIONAL, so `preferences.view.language = "en_US"` in
    bproc.init() raises TypeError; init() is re-compiled with the switch guarded by build_options.
  - datafiles: MeshObject.add_auto_smooth_modifier looks for Blender's datafiles next to the python binary
    that SetupUtility derives; in-process we point that at the bpy wheel's own resource folder.
  - exit: bpy segfaults in static destructors at interpreter exit once BlenderProc is imported; callers end
    with `hard_exit(code)` (atexit callbacks, flush, os._exit) and typing caches are cleared first.
"""
from __future__ import annotations

import atexit
import importlib
import inspect
import os
import shutil
import sys
import sysconfig
import tempfile
import typing
from pathlib import Path

_API_MODULES = ("loader", "utility", "sampler", "math", "postprocessing", "writer", "material", "lighting",
                "camera", "renderer", "world", "constructor", "types", "object", "filter")
_LANG_OLD = 'if bpy.context.preferences.view.language != "en_US":'
_LANG_NEW = 'if bpy.app.build_options.international and bpy.context.preferences.view.language != "en_US":'
_PATCHED = False


def _clear_typing_caches() -> None:
    # typing's lru caches keep bpy.types classes alive past finalization -> crash in Blender's destructors.
    for f in getattr(typing, "_cleanups", []):
        f()


def hard_exit(code: int = 0) -> None:
    """Leave the process without running bpy's C++ static destructors (they segfault after BlenderProc)."""
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _patch_init(bproc_module) -> None:
    """Guard bproc.init()'s language switch when bpy has no translations (PyPI build)."""
    import bpy
    from blenderproc.python.utility import Initializer

    if bpy.app.build_options.international:
        return
    src = inspect.getsource(Initializer.init)
    if _LANG_NEW not in src:
        if _LANG_OLD not in src:
            raise RuntimeError("blenderproc Initializer.init() changed; review render/bproc_compat.py")
        code = compile(src.replace(_LANG_OLD, _LANG_NEW), Initializer.__file__, "exec")
        exec(code, Initializer.__dict__)  # noqa: S102  re-defines Initializer.init in its own module
    bproc_module.init = Initializer.init
    bproc_module.clean_up = Initializer.clean_up


def patch_blenderproc(bproc_module) -> None:
    """Apply the runtime fixes to an imported `blenderproc` (idempotent; both run modes)."""
    global _PATCHED
    if _PATCHED:
        return
    _patch_init(bproc_module)
    atexit.register(_clear_typing_caches)  # after bpy's own atexit hooks -> runs before them
    _PATCHED = True


def in_blenderproc_run() -> bool:
    return "INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT" in os.environ


def import_blenderproc(temp_dir: str | None = None):
    """`import blenderproc as bproc` for a plain Python process of the render environment."""
    if not in_blenderproc_run():  # take blenderproc/__init__'s "outside" branch: no argv parsing, no pip
        os.environ.setdefault("OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT", "1")
    import bpy  # noqa: F401  before blenderproc's modules
    import blenderproc

    if in_blenderproc_run() or hasattr(blenderproc, "renderer"):
        patch_blenderproc(blenderproc)
        return blenderproc
    from blenderproc.python.utility.SetupUtility import SetupUtility

    res = Path(bpy.utils.resource_path("LOCAL"))  # .../site-packages/bpy/4.2 (holds datafiles/)
    original = SetupUtility.determine_python_paths

    def determine_python_paths(blender_path=None, major_version=None):
        if blender_path is None:
            return (str(res / "python" / "bin" / "python3.11"), str(res / "custom-python-packages"), "",
                    sysconfig.get_paths()["purelib"])
        return original(blender_path, major_version)

    SetupUtility.determine_python_paths = staticmethod(determine_python_paths)
    if temp_dir is None:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        temp_dir = tempfile.mkdtemp(prefix="synthgap_bproc_", dir=shm)
        atexit.register(shutil.rmtree, temp_dir, True)
    SetupUtility.setup_utility_paths(temp_dir)
    for name in _API_MODULES:
        setattr(blenderproc, name, importlib.import_module("blenderproc.api." + name))
    patch_blenderproc(blenderproc)
    return blenderproc
