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
