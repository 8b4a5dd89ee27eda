import sys

from synthgap.cli import main

sys.exit(main(["benchmark"] + sys.argv[1:]))
