"""`python -m render ...` = `synthgap render ...` (without going through the top floor)."""
import sys

from core.cli import run_cli
from render.cli import main

sys.exit(run_cli("synthgap render", main, sys.argv[1:]))
