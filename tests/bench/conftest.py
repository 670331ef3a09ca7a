"""The benchmark's modules import each other by bare name (``import rounds``), as ``bench/run.py``
runs them: put ``bench/`` on the path, after everything else so it shadows nothing."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)
