"""Where the studio keeps its state: `AURORA_DATA`, else ./data under the current directory."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(*, create: bool = True) -> Path:
    """The data folder, made if missing (`create=False`, for readers: only its path)."""
    path = Path(os.environ.get("AURORA_DATA", "data")).resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def report_dir() -> Path:
    """Where `aurora report` writes by default and the gateway serves /report from."""
    return data_dir(create=False) / "report"
