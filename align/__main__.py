"""`python -m align ...` = `synthgap align ...` (without going through the top floor)."""
import sys

from core.cli import run_cli
from align.cli import main

sys.exit(run_cli("synthgap align", main, sys.argv[1:]))
