"""Fake `blender` for `blenderproc run --custom-blender-path <shim dir>`: runs the script with PyPI's bpy.

Installed by `python -m render.envsetup` as <render venv>/blender-shim/launcher.py next to a `blender` shell
script. Understands what BlenderProc passes: `--background --python-use-system-env --python-exit-code N
--python SCRIPT -- ARGS`, and `--version`. Exits through os._exit after flushing: bpy as a module crashes
in its C++ static destructors at normal interpreter exit once BlenderProc has been imported.
"""
import atexit
import os
import runpy
import sys
import sysconfig
import traceback


def _leave(code: int) -> None:
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list) -> None:
    if "--version" in argv or "-v" in argv:
        import bpy
        print(f"Blender {bpy.app.version_string} (PyPI bpy module, synthgap shim)")
        _leave(0)
    if "--python" not in argv:
        print("synthgap blender shim: only `--background --python SCRIPT [-- ARGS]` is supported", file=sys.stderr)
        _leave(2)
    script = argv[argv.index("--python") + 1]
    fail_code = int(argv[argv.index("--python-exit-code") + 1]) if "--python-exit-code" in argv else 1
    sys.argv = ["blender"] + argv  # BlenderProc's SetupUtility reads what follows "--"
    # blenderproc/__init__ drops the folder holding the blenderproc package from sys.path; in a venv that
    # is site-packages itself, so keep a second entry for the other packages.
    sys.path.append(sysconfig.get_paths()["purelib"])
    import bpy  # noqa: F401  (always background mode as a module)

    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001  (report like Blender does, exit with --python-exit-code)
        traceback.print_exc()
        code = fail_code
    _leave(code)


if __name__ == "__main__":
    main(sys.argv[1:])
