"""Where the studio keeps its state: `AURORA_DATA`, else ./data under the current directory."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    path = Path(os.environ.get("AURORA_DATA", "data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
