"""The one error contract of every command line: a UserError is one line on stderr and exit 2."""
from __future__ import annotations

import sys
from typing import Callable

from core.errors import UserError


def run_cli(prog: str, main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run `main(argv)`; UserError (and a PermissionError: a read-only output) -> "PROG: error: MESSAGE" and 2;
    Ctrl-C -> a resume hint and 130."""
    try:
        return int(main(argv) or 0)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except PermissionError as e:       # a read-only --out found late: still one line, never a traceback
        print(f"{prog}: error: {e.filename or ''}: {e.strerror or 'permission denied'} (is the folder "
              "writable?)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """`3` -> seeds [0, 1, 2] (a bare number is a count); `0,5` -> [0, 5]; `0,` -> seed 0 alone."""
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()] if "," in text else None
        count = int(text) if seeds is None else None
    except ValueError:
        raise UserError(f"{flag}: expected a count (3 = seeds 0,1,2) or a comma list (0,5), got {text!r}") from None
    if count is not None and count < 1:
        raise UserError(f"{flag}: a bare number is a count of seeds and must be >= 1, got {text!r} (for seed "
                        f"{count} alone write {count},)")
    seeds = list(range(count)) if seeds is None else seeds
    if not seeds:
        raise UserError(f"{flag}: at least one seed, got {text!r}")
    return seeds
