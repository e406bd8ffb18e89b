"""Writing benchmark results: JSON files and PNG figures (folders created as needed)."""
from __future__ import annotations

import json
from pathlib import Path

PNG_DPI = 110


def save_png(fig, path: str | Path, dpi: int = PNG_DPI) -> Path:
    """Write a matplotlib figure as PNG and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_result(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return path
