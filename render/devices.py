"""Which Cycles device renders: `--device auto|cpu|cuda|optix` (render/dataset.py passes it to the workers).

- `auto` (the default): OptiX when Cycles finds an OptiX GPU, else CUDA, else the CPU; `cuda` / `optix` insist on
  that kind (a machine without one is a one-line error before any shard starts: `check_device` asks a render-env
  probe, `python -m render.devices`); `cpu` never looks.
- Several GPUs: worker k of the local pool sees GPU k mod n (`CUDA_VISIBLE_DEVICES`, unless the user set it),
  so the workers split the GPUs; a Ray task sees the GPUs Ray gives its node.
- The worker logs the chosen device and its names and every image's sidecar records `render_device` (`cpu`,
  `cuda`, `optix`). The same seeds give the same scenes, boxes and masks on any device (geometry is drawn
  before rendering, masks come from the instance pass, which is not sampled); pixels differ by Cycles' sampling
  noise between CPU and GPU kernels, so byte-identical images hold per device only.

The driver side (`check_device`, `gpu_count`) runs in the main environment; `select_device` runs inside the
render environment (bpy).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys

DEVICES = ("auto", "cpu", "cuda", "optix")
ENV = "SYNTHGAP_RENDER_DEVICE"


def _cycles_gpus() -> dict[str, list[str]]:
    """{kind: [device names]} of the GPUs Cycles sees (bpy)."""
    import bpy
    prefs = bpy.context.preferences.addons["cycles"].preferences
    found: dict[str, list[str]] = {}
    for kind in ("OPTIX", "CUDA"):
        try:
            prefs.compute_device_type = kind
        except TypeError:                        # this Blender build lacks the kind
            continue
        prefs.get_devices()
        names = [d.name for d in prefs.devices if d.type == kind]
        if names:
            found[kind.lower()] = names
    prefs.compute_device_type = "NONE"
    return found


def select_device(want: str) -> dict:
    """Set Cycles to render on `want` (DEVICES) in this render-env process. -> {"device", "names"}."""
    import bpy
    want = want or "auto"
    if want not in DEVICES:
        raise ValueError(f"render device {want!r}: choose from {', '.join(DEVICES)}")
    gpus = {} if want == "cpu" else _cycles_gpus()
    kind = next((k for k in ("optix", "cuda") if k in gpus and want in ("auto", k)), None)
    if kind is None:
        if want in ("cuda", "optix"):
            raise RuntimeError(f"render device {want}: Cycles finds no {want.upper()} GPU here")
        bpy.context.scene.cycles.device = "CPU"
        return {"device": "cpu", "names": ["CPU"]}
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = kind.upper()
    prefs.get_devices()
    for d in prefs.devices:
        d.use = d.type == kind.upper()
    bpy.context.scene.cycles.device = "GPU"
    return {"device": kind, "names": gpus[kind]}


def gpu_count() -> int:
    """NVIDIA GPUs on this machine (nvidia-smi -L), 0 without the tool."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


@functools.lru_cache(maxsize=1)
def _probe() -> dict[str, list[str]]:
    """The GPU kinds Cycles sees, from one render-env subprocess per driver process."""
    from core.envs import render_python, subprocess_env
    r = subprocess.run([str(render_python()), "-m", "render.devices"], capture_output=True, text=True,
                       env=subprocess_env(), timeout=300)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
    except (ValueError, IndexError):
        return {}


def check_device(device: str) -> str:
    """`device` is one of DEVICES and, when it names a GPU kind, Cycles has one here (asked once through a
    render-env probe). -> device. Raises UserError."""
    from core.errors import UserError
    if device not in DEVICES:
        raise UserError(f"--device {device}: choose from {', '.join(DEVICES)}")
    if device in ("cuda", "optix"):
        found = _probe()
        if device not in found:
            raise UserError(f"--device {device}: Cycles finds no {device.upper()} GPU on this machine "
                            f"(found: {', '.join(found) or 'none'}); use --device auto or cpu")
    return device


def worker_env(device: str, slot: int, n_gpus: int) -> dict[str, str]:
    """The environment a render worker in pool slot `slot` gets: the device, and its share of the GPUs."""
    env = {ENV: device}
    if device != "cpu" and n_gpus > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = str(slot % n_gpus)
    return env


if __name__ == "__main__":           # the probe: the GPU kinds Cycles sees, as one JSON line
    from render.bproc_compat import hard_exit
    print(json.dumps(_cycles_gpus()), flush=True)
    sys.stdout.flush()
    hard_exit(0)
