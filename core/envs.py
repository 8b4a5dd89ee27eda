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


PRECISIONS = ("auto", "fp32", "bf16")   # a detector's --<name>-precision choices
PRECISION_HELP = ("training forward pass precision: fp32 | bf16 (autocast; weights and optimizer stay fp32) | "
                  "auto (bf16 where the CPU has AVX-512 BF16 or AMX, or the GPU supports bf16; else fp32)")


def bf16_capable(device_type: str) -> bool:
    """Whether bfloat16 autocast runs natively: a CUDA GPU that supports it, or a CPU with AVX-512 BF16 or AMX
    (read from /proc/cpuinfo; False where it cannot be read)."""
    if device_type == "cuda":
        import torch
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(value: str, flag: str) -> None:
    if value not in PRECISIONS:
        raise UserError(f"{flag} {value}: expected one of {', '.join(PRECISIONS)}")


def uses_bf16(precision: str, device_type: str) -> bool:
    """A --<detector>-precision value resolved on `device_type`: bf16, or auto where bf16_capable."""
    return precision == "bf16" or precision == "auto" and bf16_capable(device_type)
