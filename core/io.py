"""Reading and writing files: atomic writes (a reader never sees half a file), one-line errors on bad input.

Files written here get the mode a plain `open(..., "w")` would give (0666 minus the umask, so 0644 under the
usual umask 0022), although they are first written to a private temp file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import UserError


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temp file + fsync + rename; mode 0666 & ~umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


@contextlib.contextmanager
def timed(path: str | os.PathLike, key: str):
    """Adds the block's wall seconds to `key` of the JSON record `path` ({key: seconds}) when the block ends without
    an error: a stage killed and resumed adds only its later parts, so the record holds this machine's time."""
    import time
    t0 = time.monotonic()
    yield
    rec = read_json(path, "wall times") if Path(path).exists() else {}
    rec[key] = round(rec.get(key, 0.0) + time.monotonic() - t0, 1)
    atomic_write_json(path, rec)


@contextlib.contextmanager
def _reading(path: Path, missing: str):
    """A missing file or a folder where a file should be -> one-line UserError naming the path."""
    try:
        yield
    except FileNotFoundError:
        raise UserError(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: {missing.replace(' not found', '')} expected a file, found a folder") from None


def read_json(path: str | os.PathLike, what: str = "json") -> Any:
    """Load json, turning a missing or unparsable file into a one-line UserError naming the file."""
    path = Path(path)
    with _reading(path, f"{what} file not found"):
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8 text"
            raise UserError(f"{path}: not valid json ({msg}{where})") from None


def load_yaml(path: str | os.PathLike, what: str = "config file") -> Any:
    """Load YAML, turning a missing or unparsable file into a one-line UserError naming the file, line, column."""
    import yaml

    path = Path(path)
    with _reading(path, f"{what} not found"):
        try:
            with open(path, encoding="utf-8") as f:
                return yaml.safe_load(f)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise UserError(f"{path}: not valid YAML ({problem}{where})") from None


def check_out_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """An output folder that can be made: refuse a path that is, or lies below, an existing file."""
    path = Path(path)
    for p in [path, *path.parents]:
        if p.exists() and not p.is_dir():
            where = "is" if p == path else f"lies below {p}, which is"
            raise UserError(f"{path}: {option} {where} an existing file, not a folder")
    check_writable(path, option)
    return path


def check_writable(path: str | os.PathLike, option: str = "--out") -> None:
    """The nearest existing folder of `path` (itself or a parent) accepts a new file: probed with a temp file
    that is removed at once (os.access alone says yes to root on a read-only mount)."""
    path = Path(path)
    base = next((p for p in [path, *path.parents] if p.is_dir()), Path("."))
    try:
        fd, tmp = tempfile.mkstemp(dir=base, prefix=".synthgap-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UserError(f"{path}: {option}: cannot write in {base} ({e.strerror or e})") from None


def content_fingerprint(paths: list[str | os.PathLike], root: str | os.PathLike) -> str:
    """A short hash of files by what they hold: names relative to `root` and bytes (not mtimes or absolute
    paths), so the same photos copied elsewhere, or re-provisioned, hash the same."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(f"{os.path.relpath(p, root)}\0".encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def file_sha(path: str | os.PathLike) -> str:
    """A short hash of one file's bytes (the pin on a COCO json or a split)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def supersede(folder: str | os.PathLike, names: list[str] | tuple[str, ...] = ("*",)) -> str:
    """Move the entries of `folder` matching the glob patterns `names` into FOLDER/superseded/<time>/ (nothing
    is deleted; an earlier superseded/ stays). -> a line saying what moved and where."""
    import time
    folder = Path(folder)
    dst = folder / "superseded" / time.strftime("%Y%m%d-%H%M%S")
    moved: list[str] = []
    for pattern in names:
        for p in sorted(folder.glob(pattern)):
            if p.name == "superseded" or p.name in moved:
                continue
            dst.mkdir(parents=True, exist_ok=True)
            p.rename(dst / p.name)
            moved.append(p.name)
    return f"moved {', '.join(moved)} to {dst}" if moved else "nothing computed yet"


def file_fingerprint(paths: list[str | os.PathLike]) -> str:
    """A short hash of files by path, size and mtime: cheap, for caches (a copied file misses the cache once);
    `content_fingerprint` hashes what the files hold."""
    h = hashlib.sha256()
    for p in sorted(str(x) for x in paths):
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ inputs are sacred
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


POSITIONAL = ("source", "sources", "synthetic", "coco", "run_dir")


def input_paths(values: dict[str, Any], skip: tuple[str, ...] = ("out",)) -> list[tuple[str, Path]]:
    """(option, path) for every value of `values` (say `vars(args)`) that names an existing file or folder:
    strings, paths, lists of them and NAME=DIR pairs; the keys in `skip` (the outputs) are left out. The
    option is spelt as on the command line (`images` -> `--images`; the positional ones of POSITIONAL in
    capitals: `SOURCE`)."""
    found: list[tuple[str, Path]] = []

    def add(flag: str, v: Any) -> None:
        if isinstance(v, (list, tuple)):
            for x in v:
                add(flag, x)
        elif isinstance(v, (str, os.PathLike)) and str(v):
            try:
                if Path(v).exists():
                    found.append((flag, Path(v)))
            except (OSError, ValueError):
                pass
    for k, v in values.items():
        if k not in skip:
            add(k.upper() if k in POSITIONAL else "--" + k.replace("_", "-"), v)
    return found


def _inside(p: Path, folder: Path) -> bool:
    return p != folder and folder in p.parents


def check_not_input(out: str | os.PathLike, inputs: list[tuple[str, Path]], option: str = "--out",
                    deletes: bool = False) -> Path:
    """Inputs are sacred: refuse an `out` that is one of the `inputs` ((option, path) pairs, see input_paths), lies
    inside an input dataset dir (a folder with coco_annotations.json), names an existing image or dataset dir
    inside an input folder, or - when the command may delete `out` (`deletes`: --force, a rebuild) - holds an
    input. Paths compare resolved (symlinks followed). Then `out` must be writable (check_writable). -> out."""
    outp = Path(out)
    o = Path(os.path.realpath(outp))
    for flag, p in inputs:
        if o == Path(os.path.realpath(p)):
            raise UserError(f"{outp}: {option} is one of the command's inputs ({flag} {p}); choose another "
                            f"{option}, inputs are never written")
    for flag, p in inputs:
        r = Path(os.path.realpath(p))
        if r.is_dir() and _inside(o, r):
            dataset = (r / "coco_annotations.json").is_file()
            precious = o.exists() and (o.suffix.lower() in IMAGE_SUFFIXES or (o / "coco_annotations.json").exists())
            if dataset or precious:
                raise UserError(f"{outp}: {option} lies inside the input {flag} {p}"
                                f"{' (a dataset dir)' if dataset else ''}; choose a folder outside it, inputs "
                                "are never written")
        if deletes and _inside(r, o):
            raise UserError(f"{outp}: {option} holds the input {flag} {p} and would be replaced; choose "
                            "another " + option)
    check_writable(outp, option)
    return outp
