"""`python -m render.assets_setup` (run by scripts/setup.sh in the main env): make every `cache:` file that
assets_manifest.yaml lists exist with its checksum, on a fresh machine, from Debian and npm only.

- `cache:hdri/<name>.exr`: decoded from npm `@pmndrs/assets` (CC0 Poly Haven HDRIs, 512 px EXR stored as
  base64 in `hdri/<name>.exr.js`); the package tarball is fetched once with `npm pack` into
  $SYNTHGAP_CACHE/npm/.
- `cache:sweethome3d/<folder>/<file>`: extracted from the `*.sh3f` zips of the Debian package
  `sweethome3d-furniture` (a mesh or clutter model brings its whole model folder: MTL, textures, licence file).

Idempotent: a stamp keyed by the manifest's cache entries makes a second run take milliseconds; a file with
a wrong checksum is re-made once, then reported. Exit 0 when everything holds, 1 with one line per problem.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from render.manifest import (SHAPED_KINDS, AssetEntry, Manifest, ManifestError, asset_cache_dir, load_manifest,
                             sha256_file)

NPM_PACKAGE = "@pmndrs/assets"
NPM_VERSION = "1.7.0"       # pinned: the manifest's HDRI checksums are of this version's files
NPM_TARBALL = f"pmndrs-assets-{NPM_VERSION}.tgz"
_DATA_PREFIX = "data:application/exr;base64,"


def log(msg: str) -> None:
    print(f"[assets] {msg}", file=sys.stderr, flush=True)


def cache_entries(manifest: Manifest) -> list[AssetEntry]:
    return [a for a in manifest.assets if a.path.startswith("cache:")]


def _stamp_path(manifest: Manifest) -> Path:
    key = json.dumps([[a.path, a.sha256] for a in cache_entries(manifest)], sort_keys=True)
    return asset_cache_dir() / f".setup-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


# ---- npm ---------------------------------------------------------------------------------------------
def npm_tarball(npm_dir: Path | None = None) -> Path:
    """The pinned @pmndrs/assets tarball, fetched with `npm pack` once."""
    from core.envs import cache_dir

    npm_dir = npm_dir or cache_dir() / "npm"
    tgz = npm_dir / NPM_TARBALL
    if tgz.exists():
        return tgz
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: install it (Debian package npm) to fetch the CC0 HDRIs "
                           f"({NPM_PACKAGE}@{NPM_VERSION})")
    npm_dir.mkdir(parents=True, exist_ok=True)
    tmp = npm_dir / f".pack-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    log(f"fetching {NPM_PACKAGE}@{NPM_VERSION} with npm pack (about 14 MB, once)")
    r = subprocess.run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", str(tmp), "--silent"],
                       cwd=tmp, capture_output=True, text=True, timeout=600)
    got = tmp / NPM_TARBALL
    if r.returncode != 0 or not got.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed (exit {r.returncode}): {last}")
    os.replace(got, tgz)
    shutil.rmtree(tmp, ignore_errors=True)
    return tgz


def decode_exr_js(text: str, where: str) -> bytes:
    """`export default 'data:application/exr;base64,...'` -> the EXR bytes."""
    i = text.find(_DATA_PREFIX)
    if i < 0:
        raise ValueError(f"{where}: no {_DATA_PREFIX!r} data URL")
    j = i + len(_DATA_PREFIX)
    end = min(k for k in (text.find("'", j), text.find('"', j), text.find("`", j), len(text)) if k >= 0)
    data = base64.b64decode(text[j:end], validate=True)
    if data[:4] != b"\x76\x2f\x31\x01":
        raise ValueError(f"{where}: decoded data is not an OpenEXR file")
    return data


def hdri_names_in_tarball(tgz: Path) -> list[str]:
    with tarfile.open(tgz) as t:
        return sorted(Path(n).name[:-len(".exr.js")] for n in t.getnames()
                      if n.startswith("package/hdri/") and n.endswith(".exr.js"))


def make_hdri(rel: str, tgz: Path, dest: Path) -> None:
    """rel = 'hdri/<name>.exr' -> decode package/hdri/<name>.exr.js into dest (atomically)."""
    name = Path(rel).name
    member = f"package/hdri/{name}.js"
    with tarfile.open(tgz) as t:
        try:
            f = t.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise ValueError(f"{tgz}: no {member} (HDRIs there: {', '.join(hdri_names_in_tarball(tgz))})")
        data = decode_exr_js(f.read().decode("ascii", "replace"), f"{tgz}:{member}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


# ---- Sweet Home 3D -----------------------------------------------------------------------------------
def _sh3f_index(furniture_dir: Path) -> dict[str, Path]:
    """zip member name -> the *.sh3f holding it."""
    out: dict[str, Path] = {}
    for f in sorted(furniture_dir.glob("*.sh3f")):
        with zipfile.ZipFile(f) as z:
            for n in z.namelist():
                out.setdefault(n, f)
    return out


def make_sh3d(entry: AssetEntry, member: str, index: dict[str, Path], furniture_dir: Path, root: Path) -> None:
    from render import sweethome3d as sh

    if member not in index:
        raise ValueError(f"{member} is in no {furniture_dir}/*.sh3f (is sweethome3d-furniture installed?)")
    lib = index[member].stem
    if entry.kind in SHAPED_KINDS:
        pieces = [p for p in sh.read_catalogue(index[member]) if p.model == member]
        if not pieces:
            raise ValueError(f"{index[member]}: {member} is not a catalogue model")
        sh.extract_model(pieces[0], furniture_dir, root)
    else:
        sh.extract_member(lib, member, furniture_dir, root)


# ---- driver ------------------------------------------------------------------------------------------
def ensure_assets(manifest: Manifest, furniture_dir: Path, force: bool = False) -> list[str]:
    """Make every cache: file of the manifest; returns the problems (empty when all hold)."""
    from render import sweethome3d as sh

    stamp = _stamp_path(manifest)
    entries = cache_entries(manifest)
    if stamp.exists() and not force and all(a.resolved_path().exists() for a in entries):
        return []
    problems: list[str] = []
    tgz: Path | None = None
    index: dict[str, Path] | None = None
    made = 0
    for a in entries:
        dest = a.resolved_path()
        rel = a.path[len("cache:"):]
        if dest.exists() and sha256_file(dest) == a.sha256:
            continue
        try:
            if dest.exists():  # wrong checksum: make it again from the source
                if rel.startswith(sh.CACHE_SUBDIR + "/") and a.kind in SHAPED_KINDS:
                    shutil.rmtree(dest.parent)
                else:
                    dest.unlink()
            if rel.startswith("hdri/"):
                tgz = tgz or npm_tarball()
                make_hdri(rel, tgz, dest)
            elif rel.startswith(sh.CACHE_SUBDIR + "/"):
                if index is None:
                    index = _sh3f_index(furniture_dir)
                make_sh3d(a, rel[len(sh.CACHE_SUBDIR) + 1:], index, furniture_dir, asset_cache_dir() / sh.CACHE_SUBDIR)
            else:
                raise ValueError("no known source for this cache path (hdri/ or sweethome3d/)")
            made += 1
        except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as e:
            problems.append(f"{manifest.path}: asset {a.id}: {a.path}: {e}")
            continue
        got = sha256_file(dest)
        if got != a.sha256:
            problems.append(f"{manifest.path}: asset {a.id}: {dest}: sha256 {got} != manifest {a.sha256}")
    if not problems:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(f"{len(entries)} cache entries ok\n")
        if made:
            log(f"made {made} asset file(s) under {asset_cache_dir()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m render.assets_setup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", default=None, help="manifest (default: $SYNTHGAP_MANIFEST or assets_manifest.yaml)")
    ap.add_argument("--furniture-dir", default=None, help="folder of *.sh3f (default /usr/share/sweethome3d/furniture)")
    ap.add_argument("--force", action="store_true", help="re-verify every checksum even if the stamp says done")
    args = ap.parse_args(argv)
    from render import sweethome3d as sh

    try:
        manifest = load_manifest(args.manifest)
    except ManifestError as e:
        print(f"[assets] error: {e}", file=sys.stderr)
        return 1
    problems = ensure_assets(manifest, Path(args.furniture_dir) if args.furniture_dir else sh.DEFAULT_FURNITURE_DIR,
                             force=args.force)
    for p in problems:
        print(f"[assets] error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
