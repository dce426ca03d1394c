"""python -m infra.smoke (make smoke)."""

import sys

from .run import main

sys.exit(main(sys.argv[1:]))
