"""`python -m pipeline_common.bench`: see runner.py and `--help`."""

from __future__ import annotations

import sys

from pipeline_common.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
