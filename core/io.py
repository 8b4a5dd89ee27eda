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
    return path


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


def file_fingerprint(paths: list[str | os.PathLike]) -> str:
    """A short hash of files by path, size and mtime: cheap, for caches (a copied file misses the cache once);
    `content_fingerprint` hashes what the files hold."""
    h = hashlib.sha256()
    for p in sorted(str(x) for x in paths):
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]
