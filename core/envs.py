"""Where things live: the clone, the two Python environments (made by scripts/setup.sh), the cache.

The main environment runs the CLI, align and benchmark; the render environment (bpy + BlenderProc,
numpy 1.26) plays the role of Blender's own Python and is only ever started as a subprocess.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.errors import UserError


def repo_root() -> Path:
    """The folder holding core/, render/, align/, benchmark/ (the clone, or the installed site-packages)."""
    return Path(__file__).resolve().parent.parent


def render_python() -> Path:
    """The render environment's interpreter: $SYNTHGAP_RENDER_PYTHON, else <repo>/.venv-render/bin/python."""
    env = os.environ.get("SYNTHGAP_RENDER_PYTHON")
    p = Path(env) if env else repo_root() / ".venv-render" / "bin" / "python"
    if not p.exists():
        raise UserError(f"render environment not found at {p}: run `make setup` (scripts/setup.sh) "
                        "or set SYNTHGAP_RENDER_PYTHON")
    return p


def subprocess_env(extra: dict | None = None) -> dict:
    """Environment for a child process: the repo on PYTHONPATH so `render`, `align`... import from the clone."""
    env = dict(os.environ)
    root = str(repo_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if extra:
        env.update(extra)
    return env


def cache_dir() -> Path:
    """Large generated files shared between clones (asset cache, HDRIs, metadata): $SYNTHGAP_CACHE or
    ~/.cache/synthgap."""
    return Path(os.environ.get("SYNTHGAP_CACHE", Path.home() / ".cache" / "synthgap"))


def cpu_threads() -> int:
    """Threads one training process may use: $SYNTHGAP_THREADS (e.g. when several benchmark processes share a
    machine), else every core. A bad value is a one-line error."""
    env = os.environ.get("SYNTHGAP_THREADS")
    if env is None:
        return max(1, os.cpu_count() or 1)
    if not env.strip().isdigit() or int(env) < 1:
        raise UserError(f"SYNTHGAP_THREADS: expected a whole number >= 1, got {env!r}")
    return int(env)
