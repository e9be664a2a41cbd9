"""The explorer app driven at kernel level: what the browser's widgets send back after a model switch, the
profile inspector's marking of units a role may not run (bundled profiles), and a model and CPU type of the user's
own (a temporary profile root) in the model list, the type pickers and the solved plans."""
from __future__ import annotations

from pathlib import Path

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


# ------------------------------------------------------------------------------------------------ own hardware
REPO = Path(__file__).resolve().parents[2]
MINE_TIME, MINE_POWER_W = 1.7, 40.0   # cpu-mine = cpu-host's times x 1.7, energy = 40 W x time


@pytest.fixture(scope="module")
def own_root(tmp_path_factory):
    """A model the repository does not ship ("mynet": vgg8's profiles renamed, layer and block) with a CPU type of
    its own, ``cpu-mine`` (measured; its numbers differ from every shipped CPU profile)."""
    from donna_core.profiling.profiles import profile_path, read_profile, write_profile

    root = tmp_path_factory.mktemp("own-profiles")
    for gran in ("layer", "block"):
        for src in sorted((REPO / "data" / "profiles" / "vgg8" / gran).glob("*.csv")):
            p = read_profile(src)
            p.meta["model"] = "mynet"
            write_profile(p, profile_path(root, "mynet", gran, src.stem))
            if src.stem == "cpu-host":
                p.df["time_s"] = p.df["time_s"] * MINE_TIME
                p.df["energy_j"] = MINE_POWER_W * p.df["time_s"]
                p.meta.update(device_type="cpu-mine", energy_source="model",
                              source=f"test data: vgg8 cpu-host times x {MINE_TIME}, energy {MINE_POWER_W} W x time")
                write_profile(p, profile_path(root, "mynet", gran, "cpu-mine"))
    return str(root)


_row = _summary_value


def test_explorer_lists_own_model_and_cpu_type_and_solves_with_it(own_root):
    from donna_core.profiling.profiles import read_profile

    ui = ex.build_ui(profiles_dir=own_root, inline=True)
    # both granularities of a model not shipped (options are (label, name): graph models get their own label)
    assert list(ui.model.options) == [("mynet", "mynet"), ("mynet/block", "mynet/block")]
    cpu_opts = list(ui.type_pickers["cpu"].options)
    assert cpu_opts == [("cpu-host (measured)", "cpu-host"), ("cpu-mine (measured)", "cpu-mine"),
                        ("cpu-xeon-w3323 (modelled)", "cpu-xeon-w3323")]
    assert list(ui.type_pickers["gpu"].options) == [("gpu-rtx3070ti (modelled)", "gpu-rtx3070ti")]
    assert ui.type_pickers["cpu"].value == "cpu-xeon-w3323"            # the paper's CPU first, as before
    for n, r in ((1, "cpu"), (0, "gpu"), (0, "cim")):                    # one CPU: the plan is the whole model on it
        ui.n[r].value = n
    xeon_energy = _row(ui, "energy per inference")

    ui.type_pickers["cpu"].value = "cpu-mine"
    mine = read_profile(f"{own_root}/mynet/layer/cpu-mine.csv").df
    assert _row(ui, "energy per inference") == f"{mine['energy_j'].sum():,.6f} J" != xeon_energy
    assert _row(ui, "throughput") == f"{1 / mine['time_s'].sum():,.4f} inferences/s"
    assert "cpu (cpu-mine, measured)" in _row(ui, "numbers")
    assert "cpu-mine (measured)" in ui.provenance.value and "test data: vgg8 cpu-host" in ui.provenance.value
    assert "cpu-mine, measured" in ui.units.value                       # the inspector reads the same profile

    # 2 CPUs + 1 CIM: the app's plan is the solver's on the cpu-mine problem, and another than on the Xeon's
    ui.n["cpu"].value, ui.n["cim"].value = 2, 1
    want = ex.plan_view("mynet", "hb-wcc", 2, 0, 1, 1.0, types=ui.chosen_types(), profiles_dir=own_root)
    xeon = ex.plan_view("mynet", "hb-wcc", 2, 0, 1, 1.0, types="paper", profiles_dir=own_root)
    assert ui.chosen_types() == (("cpu", "cpu-mine"), ("gpu", "gpu-rtx3070ti"), ("cim", "cim"))
    assert _row(ui, "stages").endswith(want["summary"]["plan"]) and want["summary"]["plan"] != xeon["summary"]["plan"]
    assert _row(ui, "energy per inference") == f"{want['summary']['energy_j']:,.6f} J"
    ui.n["gpu"].value = 1

    ui.model.value = "mynet/block"                                       # the chosen type carries over
    assert ui.type_pickers["cpu"].value == "cpu-mine" and "cpu (cpu-mine, measured)" in _row(ui, "numbers")
    assert "mynet/block, 2cpu+1gpu+1cim, HB-WCC: exact front of" in ui.status.value
    ui.type_pickers["cpu"].value = "cpu-host"   # measured without an energy meter: said in one line, app alive
    assert "energy_j is empty" in ui.status.value and "cpu_power_w" in ui.status.value
    assert ui.plan_img.value == b"" and ui.summary.value == "" and "energy_j is empty" in ui.i_status.value
    ui.type_pickers["cpu"].value = "cpu-mine"
    assert "exact front of" in ui.status.value


def test_explorer_profile_root_follows_the_environment(own_root, monkeypatch):
    monkeypatch.setenv("DONNA_PROFILES", own_root)
    ui = ex.build_ui(inline=True, cpu="cpu-mine")
    assert ui.profiles_dir == own_root and ui.model.value == "mynet"
    assert ui.type_pickers["cpu"].value == "cpu-mine" and "exact front of" in ui.status.value
    with pytest.raises(ex.ExploreError, match="device types must name"):
        ex.type_files((("cpu", "cpu-mine"),))
