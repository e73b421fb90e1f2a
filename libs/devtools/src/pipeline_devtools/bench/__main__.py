"""`python -m pipeline_devtools.bench`: see runner.py and `--help`."""

from __future__ import annotations

import sys

from pipeline_devtools.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
