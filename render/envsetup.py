"""Render-environment hooks, run by scripts/setup.sh as `<render venv>/bin/python -m render.envsetup`.

Idempotent and fast. Makes the project's fake Blender folder for `blenderproc run --custom-blender-path`:

    <venv>/blender-shim/blender          shell script: exec <venv python> launcher.py "$@"
    <venv>/blender-shim/launcher.py      copy of render/blender_shim/launcher.py
    <venv>/blender-shim/4.2/python  ->   the venv root (SetupUtility derives <dir>/4.2/python/bin/python3.11)
    <venv>/blender-shim/4.2/datafiles -> bpy's datafiles (MeshObject auto smooth looks there)

    <venv>/blender-shim/custom-python-packages/installed_packages_cache_v2.json
                                         the venv's installed packages, so BlenderProc's SetupUtility sees
                                         its pinned packages and never runs ensurepip / `pip install`
                                         (it would otherwise upgrade pip in the venv on the first run)

It never imports bpy (seconds saved); it checks the layout, not Blender. The i18n fix of bproc.init() is a
runtime patch (render/bproc_compat.py), so site-packages stays untouched.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

BLENDER_SCRIPT = """#!/bin/sh
# synthgap's stand-in for the Blender executable (made by `python -m render.envsetup`).
HERE="$(cd "$(dirname "$0")" && pwd)"
exec "$HERE/{major}/python/bin/python{pyver}" "$HERE/launcher.py" "$@"
"""


def shim_dir(venv: Path | None = None) -> Path:
    return (venv or Path(sys.prefix)) / "blender-shim"


def _bpy_major(purelib: Path) -> str:
    cands = sorted(p.name for p in (purelib / "bpy").glob("[0-9]*.[0-9]*") if (p / "datafiles").is_dir())
    if not cands:
        raise SystemExit(f"render.envsetup: bpy not installed in {purelib} (no bpy/<version>/datafiles)")
    return cands[-1]


def _write_if_changed(path: Path, text: str, mode: int) -> bool:
    if path.exists() and not path.is_symlink() and path.read_text() == text:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)
    return True


def _link(path: Path, target: str) -> bool:
    if path.is_symlink() and os.readlink(path) == target:
        return False
    tmp = path.with_name(path.name + ".tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)
    return True


def _package_cache(purelib: Path) -> str:
    """{name: version} of the venv's distributions, lowercased like `pip list --format=freeze`."""
    import json
    from importlib import metadata

    pkgs = {}
    for dist in metadata.distributions(path=[str(purelib)]):
        name = (dist.metadata["Name"] or "").lower()
        if name:
            pkgs[name] = dist.version.lower()
    return json.dumps(dict(sorted(pkgs.items())))


def make_shim(venv: Path | None = None) -> tuple[Path, bool]:
    venv = Path(venv or sys.prefix)
    purelib = Path(sysconfig.get_paths()["purelib"]) if venv == Path(sys.prefix) else \
        venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    major = _bpy_major(purelib)
    pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
    d = shim_dir(venv)
    (d / major).mkdir(parents=True, exist_ok=True)
    changed = False
    launcher_src = (Path(__file__).resolve().parent / "blender_shim" / "launcher.py").read_text()
    changed |= _write_if_changed(d / "launcher.py", launcher_src, 0o644)
    changed |= _write_if_changed(d / "blender", BLENDER_SCRIPT.format(major=major, pyver=pyver), 0o755)
    changed |= _link(d / major / "python", "../..")
    datafiles = os.path.relpath(purelib / "bpy" / major / "datafiles", d / major)
    changed |= _link(d / major / "datafiles", datafiles)
    (d / "custom-python-packages").mkdir(exist_ok=True)
    changed |= _write_if_changed(d / "custom-python-packages" / "installed_packages_cache_v2.json",
                                 _package_cache(purelib), 0o644)
    if not (d / major / "python" / "bin" / f"python{pyver}").exists():
        raise SystemExit(f"render.envsetup: {d / major / 'python'} does not lead to bin/python{pyver}")
    return d, changed


def main() -> int:
    d, changed = make_shim()
    print(f"[setup] blender shim {'written' if changed else 'ok'}: {d} "
          f"(blenderproc run --custom-blender-path {d} ...)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
