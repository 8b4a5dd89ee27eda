"""`python -m benchmark ...` = `synthgap benchmark ...` (without going through the top floor)."""
import sys

from core.cli import run_cli
from benchmark.cli import main

sys.exit(run_cli("synthgap benchmark", main, sys.argv[1:]))
