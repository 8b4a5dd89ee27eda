"""Progress with rate and ETA on stderr, and the timestamped log line of long runs (no tqdm: the render
environment uses it too)."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def log(msg: str, prefix: str = "synthgap") -> None:
    print(f"[{prefix} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """A one-line progress bar with rate and ETA on stderr (no dependency on tqdm for the render env).

    Usage: `with Progress(total, "render") as p: ...; p.update(n)`. When stderr is not a terminal it prints
    a line at most every `interval` seconds instead of redrawing.
    """

    def __init__(self, total: int, desc: str = "", initial: int = 0, interval: float = 5.0, stream=None):
        self.total, self.desc, self.n, self.start_n = int(total), desc, int(initial), int(initial)
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.2 if self.tty else interval
        self.t0 = time.monotonic()
        self._last = 0.0
        self.postfix = ""

    def __enter__(self) -> "Progress":
        self._draw(force=True)
        return self

    def __exit__(self, *exc) -> None:
        self._draw(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def eta(self) -> float | None:
        done = self.n - self.start_n
        if done <= 0:
            return None
        rate = done / max(time.monotonic() - self.t0, 1e-9)
        return (self.total - self.n) / rate

    def update(self, k: int = 1, postfix: str = "") -> None:
        self.n += k
        if postfix:
            self.postfix = postfix
        self._draw()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        eta = self.eta()
        eta_s = fmt_duration(eta) if eta is not None else "?"
        width = 24
        fill = int(width * self.n / self.total) if self.total else width
        bar = "#" * fill + "-" * (width - fill)
        post = f" {self.postfix}" if self.postfix else ""
        return (f"{self.desc} [{bar}] {self.n}/{self.total} {pct:5.1f}% "
                f"elapsed {fmt_duration(elapsed)} eta {eta_s}{post}")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval and self.n < self.total:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r" + self.line()[:200].ljust(100))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def track(items: Iterable[T], total: int, desc: str = "") -> Iterator[T]:
    with Progress(total, desc) as p:
        for it in items:
            yield it
            p.update(1)
