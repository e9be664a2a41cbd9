"""Tick labels of the log axes never overlap (the explorer's front figure, Fig. 7-like narrow ranges)."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from donna_core.experiments import plotting


def _overlaps(fig) -> list[tuple[str, str]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            texts = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()]
            boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts]
            bad += [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]
    return bad


RANGES = [(2800.0, 25000.0), (3000.0, 7000.0), (0.9, 1.3), (4e-3, 9e2), (38.0, 260.0)]


@pytest.mark.parametrize("lo,hi", RANGES)
def test_log_tick_labels_do_not_overlap(lo, hi):
    front = pd.DataFrame({"throughput_ips": np.geomspace(lo, hi, 6), "energy_j": np.geomspace(hi, lo, 6) / 1e3,
                          "alpha_lo": 0.0, "alpha_hi": 1.0})
    fig = plotting.front_figure(front)
    assert _overlaps(fig) == []
    ax = fig.axes[0]
    assert len([t for t in ax.xaxis.get_ticklabels(which="both") if t.get_text()]) >= 2  # never a single label


@pytest.mark.parametrize("lo,hi", RANGES)
def test_small_panels_keep_log_tick_labels_apart(lo, hi):
    """A Fig. 7 panel (a 3 x 4 grid: ~3.4 in wide axes)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.geomspace(lo, hi, 5), np.geomspace(hi, lo, 5), ".")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plotting.readable_log_axis(ax.xaxis)
    plotting.readable_log_axis(ax.yaxis)
    fig.tight_layout()
    assert _overlaps(fig) == []
    assert len([t for t in ax.xaxis.get_ticklabels(which="both") if t.get_text()]) >= 2
