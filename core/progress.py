"""Progress with rate and ETA on stderr (tqdm, pinned in both environments), and the timestamped log line of
long runs.

`Progress(total, desc, initial=0, interval=5.0, stream=None)` is a tqdm bar in one fixed format,
`DESC [####------------------] N/TOTAL  PP.P% elapsed MM:SS eta MM:SS, POSTFIX` (24 cells, `#` done, `-` to go;
the ETA from the average rate since the bar started, not counting `initial`: tqdm's `smoothing=0`). On a terminal
it redraws in place at most every 0.2 s (a bar opened inside another's, say a cell's epochs inside the benchmark's
cells, on the line below it); on any other stream (a log file, a pipe) each redraw is its own line, at most one
every `interval` seconds, plus the final one.
"""
from __future__ import annotations

import os
import re
import sys
import time
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BAR_FORMAT = "{desc} [{bar:24}] {n_fmt}/{total_fmt} {percentage:5.1f}% elapsed {elapsed} eta {remaining}{postfix}"


def log(msg: str, prefix: str = "synthgap") -> None:
    print(f"[{prefix} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fmt_duration(seconds: float) -> str:
    """MM:SS, or H:MM:SS from an hour (tqdm's format), rounded to the second; negative -> 00:00."""
    return tqdm.format_interval(max(0, int(round(seconds))))


class _Bar(tqdm):
    monitor_interval = 0      # no monitor thread: miniters is fixed at 1 (render workers run this too)


class _Lines:
    """What tqdm writes to a stream that is not a terminal: each redraw (`\\r` + bar + padding) one line; a line
    equal to the one before is dropped (tqdm redraws on close)."""

    def __init__(self, stream):
        self.stream, self.last = stream, None

    def write(self, s: str) -> None:
        text = _ANSI.sub("", s.replace("\r", "")).strip()
        if text and text != self.last:
            self.stream.write(text + "\n")
            self.last = text

    def flush(self) -> None:
        self.stream.flush()


def _size(stream) -> tuple[int, int]:
    """The terminal's (columns, rows); (200, 40) where it reports none (tqdm draws nothing on a 0 x 0 one)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return 200, 40
    return (size.columns if size.columns >= 20 else 200), (size.lines if size.lines >= 2 else 40)


class Progress:
    """Usage: `with Progress(total, "render") as p: ...; p.update(n, postfix="...")` (module docstring).
    `p.n` is the count so far (it may be set, say lowered when work is redone)."""

    def __init__(self, total: int, desc: str = "", initial: int = 0, interval: float = 5.0, stream=None):
        stream = stream or sys.stderr
        tty = hasattr(stream, "isatty") and stream.isatty()
        self.total, self.desc = int(total), desc
        where = dict(zip(("ncols", "nrows"), _size(stream)), file=stream) if tty else \
            {"file": _Lines(stream), "position": 0}                    # log lines: no cursor moves
        self._bar = _Bar(total=self.total, desc=desc, initial=int(initial), mininterval=0.2 if tty else interval,
                         miniters=1, smoothing=0, ascii="-#", bar_format=BAR_FORMAT, dynamic_ncols=False,
                         leave=True, disable=self.total == 0, **where)   # nothing to count: no bar

    @property
    def n(self) -> int:
        return self._bar.n

    @n.setter
    def n(self, value: int) -> None:
        self._bar.n = value

    def __enter__(self) -> "Progress":
        return self                  # tqdm drew the first line when the bar was made

    def __exit__(self, *exc) -> None:
        self._bar.close()

    def update(self, k: int = 1, postfix: str = "") -> None:
        if postfix:
            self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(k)


def track(items: Iterable[T], total: int, desc: str = "") -> Iterator[T]:
    with Progress(total, desc) as p:
        for it in items:
            yield it
            p.update(1)
