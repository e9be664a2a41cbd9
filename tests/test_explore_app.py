"""The explorer app driven at kernel level: what the browser's widgets send back after a model switch, and the
profile inspector's marking of units a role may not run (bundled profiles)."""
from __future__ import annotations

import numpy as np
import pytest

from donna_core.experiments import explore as ex


class _BrowserSlider:
    """Stands in for the browser's view of a SelectionSlider (ipywidgets 8 controls, SelectionSliderView).

    On a state message the view first moves its handle to the new index within the range it still has (clamped),
    then applies the new range starting from that position (clamped again). With ``continuous_update`` each
    handle update is sent back to the kernel as the model's index — arriving after the kernel's job is done."""

    def __init__(self, widget):
        self.widget, self.index, self.n, self.echoes = widget, widget.index, len(widget.options), []
        self.comm_id = widget.comm.comm_id
        widget.comm = self

    def send(self, data=None, buffers=None, **_):
        state = (data or {}).get("state", {}) if (data or {}).get("method") == "update" else {}
        if not state:
            return
        echo = self.widget.continuous_update
        if "index" in state:
            self.index = min(max(state["index"], 0), self.n - 1)
            if echo:
                self.echoes.append(self.index)
        self.n = len(state.get("_options_labels", range(self.n)))
        self.index = min(max(self.index, 0), self.n - 1)
        if echo:
            self.echoes.append(self.index)

    def close(self, *_, **__):
        pass

    def on_msg(self, *_):
        pass

    def deliver(self) -> None:
        for _ in range(100):
            if not self.echoes:
                return
            self.widget.set_state({"index": self.echoes.pop(0)})
        raise AssertionError("the slider keeps echoing")


def _summary_value(ui, name: str) -> str:
    import re

    m = re.search(re.escape(name) + r"</th><td>([^<]*)", ui.summary.value)
    assert m, ui.summary.value
    return m.group(1)


@pytest.mark.parametrize("pick_first", [False, True])
@pytest.mark.parametrize("models", [("resnet152", "gpt2/decode"), ("gpt2/decode", "resnet152")])
def test_model_switch_keeps_the_alpha_optimum(models, pick_first):
    """α = 0.3, then a model switch: the plan shown is the new model's α-optimum, not a front point the browser's
    slider clamped its old position to (ResNet-152's 81-point front ↔ gpt2/decode's 5 points)."""
    ui = ex.build_ui(inline=True, model=models[0])
    view = _BrowserSlider(ui.point)
    ui.alpha.value = 0.3
    view.deliver()
    if pick_first:
        ui.point.value = ui.point.options[len(ui.point.options) // 3][1]
        view.deliver()
        assert "picked on the front" in ui.summary.value
    ui.model.value = models[1]
    view.deliver()
    want = ex.plan_view(models[1], "hb-wcc", 2, 1, 1, 0.3)
    assert _summary_value(ui, "plan") == "exact optimum at α = 0.30"
    assert _summary_value(ui, "objective at α = 0.30") == f"{want['summary']['objective']:.6f} (normalised)"
    n = len(want["front"])
    assert _summary_value(ui, "front point").startswith(f"{n - want['index']} of {n} ")


def test_inspector_marks_units_a_role_may_not_run():
    """gpt2 decode: CIM may run no attention block; the inspector plots those off the line, marked, and the table
    says so in full (no fixed width cutting the source column off)."""
    long = ex.profile_view("gpt2/decode")
    cim = long[long.role == "cim"]
    assert not cim["may_run"].all() and cim["may_run"].any()
    assert long[long.role != "cim"]["may_run"].all()
    from donna_core.experiments import plotting

    fig = plotting.unit_profile_figure(long, "time_s")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("may not run" in t for t in labels)
    cim_line = next(l for l in fig.axes[0].get_lines() if l.get_label().startswith("cim"))
    assert np.isnan(np.asarray(cim_line.get_ydata(), dtype=float)[~cim["may_run"].to_numpy()]).all()
    ui = ex.build_ui(inline=True, model="gpt2/decode")
    assert "no (not a plan option)" in ui.units.value and "source" in ui.units.value
    assert ui.units.layout.width is None
