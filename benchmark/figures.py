"""A matplotlib figure as PNG bytes, the one rendering of the benchmark report's figures (benchmark/report.py,
benchmark/samplewise.py)."""
from __future__ import annotations

import io


def fig_png(fig) -> bytes:
    """The figure as PNG bytes (90 dpi, tight bounding box); the figure is closed after."""
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
