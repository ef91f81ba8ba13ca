"""`python -m bench`: the preview-scaling benchmark (bench/preview_scaling.py)."""

import sys

from bench.preview_scaling import main

sys.exit(main())
