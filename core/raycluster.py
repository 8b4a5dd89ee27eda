"""Ray for the render and benchmark backends: join a cluster (or start a local instance) and run tasks, at most
N in flight, with our own retry loop.

`start_ray(address, slots, cpus_per_task, who)` -> (ray module, started_here): joins `address` (HOST:PORT,
ray://HOST:PORT or auto; checked to answer first, since ray.init keeps retrying an unreachable GCS for
minutes), or an already initialised Ray, or starts a local instance with `slots * cpus_per_task` CPUs. Tasks get
the clone on PYTHONPATH. `import ray` happens only here, on first use.

`run_tasks(ray, submit, items, slots, retries, ...)` submits items in order, at most `slots` in flight, each
tried 1 + `retries` times: tasks are made with Ray's max_retries=0, so a crashed worker, a lost node and the
task's own exception are all one failed try, retried by this loop on any node (and reported by the caller:
`retried`). An item waits while `ready(item, run so far)` is False (a cell whose prior cell has not finished)
and fails without running when it returns a reason (a str: its prior cell failed).
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError


def forwarded_env() -> dict[str, str]:
    """The driver's SYNTHGAP_* variables (cache, manifest, render python, threads, ...) for the tasks."""
    return {k: v for k, v in os.environ.items() if k.startswith("SYNTHGAP_") and k != "SYNTHGAP_RAY_ADDRESS"}


def error_text(e: BaseException) -> str:
    """The last line of a failed task's error (RayTaskError wraps the task's own exception as `cause`)."""
    cause = getattr(e, "cause", None)
    text = str(cause if isinstance(cause, BaseException) else e).strip()
    return (text.splitlines()[-1] if text else type(e).__name__)[:400]


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast (ray.init keeps retrying an unreachable GCS for minutes): HOST:PORT or ray://HOST:PORT must
    accept a TCP connection. "auto" / "local" are left to Ray."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise UserError(f"--ray-address {address!r}: nothing answers there ({e.strerror or e}); start the head "
                        "node with `ray start --head --port 6379` or fix the address") from None


def start_ray(address: str | None, slots: int, cpus_per_task: int, who: str = "backend 'ray'"):
    """(ray module, started_here). Joins `address`, or an already initialised Ray, or starts a local one."""
    try:
        import ray
    except ImportError:
        raise UserError(f"{who} needs the ray package in the main environment "
                        "(pip install 'ray==2.60.0', see requirements/main.txt)") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return ray, False
    from core.envs import repo_root

    root = str(repo_root())
    runtime_env = {"env_vars": {"PYTHONPATH": root + (os.pathsep + os.environ["PYTHONPATH"]
                                                      if os.environ.get("PYTHONPATH") else "")}}
    common = dict(log_to_driver=False, logging_level=logging.ERROR, runtime_env=runtime_env)
    try:
        if address:
            check_reachable(address)
            ray.init(address=address, **common)
        else:
            ray.init(address="local", num_cpus=slots * cpus_per_task, include_dashboard=False,
                     object_store_memory=100 * 1024 * 1024, **common)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        hint = ""
        if address and not os.environ.get("RAY_AUTH_MODE"):
            hint = (" (a cluster started with `ray start --head` uses token authentication: set RAY_AUTH_MODE=token "
                    "and give this machine the head's ~/.ray/auth_token or RAY_AUTH_TOKEN)")
        raise UserError(f"could not start or join {where}: {str(e).strip().splitlines()[0][:300]}{hint}") from None
    return ray, True


def largest_node(ray) -> dict[str, float]:
    """The most CPUs and GPUs one alive node of the cluster has (a task asking more could never start)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    return {k: max((r.get(k, 0.0) for r in nodes), default=0.0) for k in ("CPU", "GPU")}


@dataclass
class TaskRun:
    """The outcome of run_tasks: failures {key: (item, why)} (tried 1 + retries times, or never ready) and
    retried {key: why its last failed try ended} (those that finished after a retry are not in failures)."""
    failures: dict[Any, tuple[Any, str]] = field(default_factory=dict)
    retried: dict[Any, str] = field(default_factory=dict)

    def retried_ok(self) -> dict[Any, str]:
        return {k: why for k, why in self.retried.items() if k not in self.failures}


def run_tasks(ray, submit: Callable[[Any], Any], items: Iterable[Any], slots: int, retries: int, *,
              key: Callable[[Any], Any] = lambda it: it, ready: Callable[[Any, TaskRun], bool | str] | None = None,
              done: Callable[[Any, Any], None] | None = None,
              tick: Callable[[list[Any]], None] | None = None) -> TaskRun:
    """Items as Ray tasks (`submit(item)` -> ObjectRef), at most `slots` in flight, in order (a retried item goes
    first); `done(item, result)` per finished one, `tick(in-flight items)` about every 0.5 s. On an exception
    (Ctrl-C) the tasks in flight are cancelled."""
    todo, run, attempts, in_flight = list(items), TaskRun(), {}, {}
    try:
        while todo or in_flight:
            for it in list(todo):
                if len(in_flight) >= slots:
                    break
                state = True if ready is None else ready(it, run)
                if state is True:
                    todo.remove(it)
                    in_flight[submit(it)] = it
                elif isinstance(state, str):
                    todo.remove(it)
                    run.failures[key(it)] = (it, state)
            if not in_flight:
                for it in todo:                       # waiting on something that will never come
                    run.failures[key(it)] = (it, "what it waits for never finished")
                break
            finished, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in finished:
                it = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:  # noqa: BLE001  task error, crashed worker, lost node: retry
                    attempts[key(it)] = attempts.get(key(it), 0) + 1
                    if attempts[key(it)] > retries:
                        run.failures[key(it)] = (it, error_text(e))
                    else:
                        run.retried[key(it)] = error_text(e)
                        todo.insert(0, it)
                    continue
                if done:
                    done(it, result)
            if tick:
                tick(list(in_flight.values()))
    except BaseException:
        for ref in in_flight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001
                pass
        raise
    return run
