"""Test-only fault injection for the render workers (not part of the package; tests/test_render.py puts this
folder at the front of PYTHONPATH for the renders it makes fail, so Python imports it at start-up).

SYNTHGAP_RENDER_FAULT="IMAGE_ID:N": a process about to render image IMAGE_ID through
render.scene.render_scene(task, manifest, out_dir) kills itself (SIGKILL) instead, the first N times; the
attempts are counted as files in OUT_DIR/.render/faults/ (render.shards.JOB_DIR), so every worker process of
the run (local or Ray backend) shares the count. It works through a sys.meta_path finder that wraps the loader
of render.scene: once the module has executed, its render_scene attribute is replaced by a checking wrapper
(render.worker calls it as `scene.render_scene(...)`).

Without the variable this module does nothing: it imports only sys and os and installs no hook. A
sitecustomize this one shadows further down sys.path (the venvs hold none today) is still run.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_TARGET = "render.scene"


def _run_shadowed_sitecustomize() -> None:
    """Python imports only the first sitecustomize on sys.path: run the next one (a plain .py), if any."""
    for entry in sys.path:
        folder = os.path.abspath(entry or os.curdir)
        path = os.path.join(folder, "sitecustomize.py")
        if folder != _HERE and os.path.isfile(path):
            with open(path, "rb") as f:
                code = compile(f.read(), path, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": path, "__builtins__": __builtins__})
            return


def _fault_check(task, out_dir) -> None:
    """SIGKILL this process if task is the faulty image and it has not yet failed N times."""
    image_id, times = (int(x) for x in os.environ["SYNTHGAP_RENDER_FAULT"].split(":"))
    if task.image_id != image_id:
        return
    import signal
    from pathlib import Path

    from render.shards import JOB_DIR

    d = Path(out_dir) / JOB_DIR / "faults"
    d.mkdir(parents=True, exist_ok=True)
    n = len(list(d.glob(f"{image_id}-*")))
    if n < times:
        (d / f"{image_id}-{n}").touch()
        os.kill(os.getpid(), signal.SIGKILL)


def _with_fault(render_scene):
    import functools

    @functools.wraps(render_scene)
    def wrapper(task, manifest, out_dir, *args, **kwargs):
        _fault_check(task, out_dir)
        return render_scene(task, manifest, out_dir, *args, **kwargs)

    return wrapper


class _WrappingLoader:
    """Delegates to the real loader (source, code, resources...); after exec_module wraps render_scene."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        module.render_scene = _with_fault(module.render_scene)


class _RenderSceneFinder:
    """sys.meta_path entry: finds render.scene through the other finders and wraps its loader."""

    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _WrappingLoader(spec.loader)
                return spec
        return None


_run_shadowed_sitecustomize()
if os.environ.get("SYNTHGAP_RENDER_FAULT"):
    sys.meta_path.insert(0, _RenderSceneFinder())
