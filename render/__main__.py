import sys

from synthgap.cli import main

sys.exit(main(["render"] + sys.argv[1:]))
