"""The explorer: pure functions agree with the solvers, every front point is reachable, α intervals are the lower
envelope, background work never runs superseded jobs and survives blow-ups, and the UI's plot areas carry PNGs
(in this process and in a real kernel whose inline backend must survive importing the plotting module)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from donna_core.experiments import explore as ex
from donna_core.experiments import scenario_profiles as sp
from donna_core.experiments import scenarios as sc
from donna_core.partition.plan_format import plan_string
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from .synthetic_profiles import write_synthetic_profiles

    return str(write_synthetic_profiles(tmp_path_factory.mktemp("explore")))


def _problem(root, model, counts, medium):
    profs = sp.load_model_profiles(model, sp.device_files("paper"), profiles_dir=root)
    return problem_from_dict(sc.make_problem(profs, counts, medium))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7, 1.0])
def test_exact_view_matches_solver(root, alpha):
    v = ex.plan_view("toya", "hb-wcc", 2, 1, 1, alpha, "exact", profiles_dir=root)
    r = solve(_problem(root, "toya", {"cpu": 2, "gpu": 1, "cim": 1}, "hb-wcc"), alpha, "exact")
    assert v["summary"]["objective"] == pytest.approx(r.objective, rel=1e-12, abs=0)
    assert v["summary"]["bottleneck_s"] == pytest.approx(r.bottleneck_s, rel=1e-12)
    assert v["summary"]["energy_j"] == pytest.approx(r.energy_j, rel=1e-12)
    st = v["stages"]
    assert st["first"].iloc[0] == 0 and st["last"].iloc[-1] == 6
    assert (st["first"].iloc[1:].to_numpy() == st["last"].iloc[:-1].to_numpy() + 1).all()
    assert v["current"]["throughput_ips"] == pytest.approx(1 / r.bottleneck_s)


def test_paper_view_and_front(root):
    v = ex.plan_view("toyb", "pcie5", 0, 2, 2, 0.5, "paper", profiles_dir=root)
    p = _problem(root, "toyb", {"gpu": 2, "cim": 2}, "pcie5")
    r = solve(p, 0.5, "paper")
    assert v["summary"]["plan"] == plan_string(r.stages)
    front = pareto_front(p)
    assert len(v["front"]) == len(front)
    assert v["front"]["energy_j"].tolist() == [f.energy_j for f in front]


def test_cache_reuses_problems(root):
    ex.cached_front.cache_clear()
    ex.plan_view("toya", "lb-wcc", 1, 1, 0, 0.2, profiles_dir=root)
    ex.plan_view("toya", "lb-wcc", 1, 1, 0, 0.9, profiles_dir=root)
    info = ex.cached_front.cache_info()
    assert info.misses == 1 and info.hits == 1


def test_bad_settings_are_named(root):
    with pytest.raises(ex.ExploreError, match="at least one device"):
        ex.plan_view("toya", "hb-wcc", 0, 0, 0, 0.5, profiles_dir=root)
    with pytest.raises(ex.ExploreError, match="alpha"):
        ex.plan_view("toya", "hb-wcc", 1, 0, 0, 1.5, profiles_dir=root)
    with pytest.raises(ex.ExploreError, match="solver"):
        ex.plan_view("toya", "hb-wcc", 1, 0, 0, 0.5, "greedy", profiles_dir=root)
    with pytest.raises(ex.ExploreError, match=">= 0"):
        ex.plan_view("toya", "hb-wcc", 2, -1, 0, 0.5, profiles_dir=root)
    with pytest.raises(ex.ExploreError, match="metric"):
        ex.profile_view("toya", ("cpu",), "power", profiles_dir=root)
    with pytest.raises(ex.ExploreError, match="unknown device role"):
        ex.profile_view("toya", ("tpu",), profiles_dir=root)


def test_profile_view_and_models(root):
    df = ex.profile_view("toyb", ("gpu", "cim"), "energy_j", profiles_dir=root)
    assert len(df) == 2 * 4 and set(df["role"]) == {"gpu", "cim"}
    profs = sp.load_model_profiles("toyb", sp.device_files("paper"), profiles_dir=root)
    assert df[df.role == "cim"]["energy_j"].tolist() == profs["cim"].table["energy_j"].tolist()
    assert ex.available_models(root) == ["toya", "toyb"]




# ------------------------------------------------------------------------------------------------ α intervals
NORM1 = {"time_s": 1.0, "energy_j": 1.0}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_alpha_intervals_by_hand():
    # lines f = e + α (t - e): C = 0.1 + 0.9α, B = 0.5, A = 1 - 0.9α; D = 0.45 + 0.15α is on the front
    # (not dominated) but never below the envelope: D < B needs α < 1/3, D < C needs α > 7/15
    B = [0.1, 0.5, 0.6, 1.0]   # A, B, D, C in bottleneck order
    E = [1.0, 0.5, 0.45, 0.1]
    iv = ex.alpha_intervals(B, E, NORM1)
    assert iv[0] == pytest.approx((5 / 9, 1.0))
    assert iv[1] == pytest.approx((4 / 9, 5 / 9))
    assert iv[2] is None
    assert iv[3] == pytest.approx((0.0, 4 / 9))


@st.composite
def fronts(draw):
    n = draw(st.integers(1, 12))
    b = np.cumsum(draw(st.lists(st.integers(1, 20), min_size=n, max_size=n))).astype(float)
    e = np.cumsum(draw(st.lists(st.integers(1, 20), min_size=n, max_size=n)))[::-1].astype(float)
    norm = {"time_s": float(draw(st.integers(1, 50))), "energy_j": float(draw(st.integers(1, 50)))}
    return b, e, norm


@settings(max_examples=150, deadline=None)
@given(fronts())
def test_alpha_intervals_are_the_lower_envelope(f):
    b, e, norm = f
    iv = ex.alpha_intervals(b, e, norm)
    obj = lambda a: a * b / norm["time_s"] + (1 - a) * e / norm["energy_j"]  # noqa: E731
    for a in np.linspace(0, 1, 41):
        o = obj(a)
        best = set(np.flatnonzero(o <= o.min() * (1 + 1e-9) + 1e-12))
        inside = {i for i, v in enumerate(iv) if v is not None and v[0] - 1e-9 <= a <= v[1] + 1e-9}
        assert best == inside, (a, iv)
    for i, v in enumerate(iv):
        if v is not None:
            o = obj((v[0] + v[1]) / 2)
            assert o[i] <= o.min() * (1 + 1e-9) + 1e-12


def test_exact_index_lies_in_its_interval(root):
    v = ex.plan_view("toya", "hb-wcc", 2, 1, 1, 0.5, profiles_dir=root)
    ft = v["front"]
    counts = (("cpu", 2), ("gpu", 1), ("cim", 1))
    front = ex.cached_front("toya", "hb-wcc", counts, "paper", root, None)
    names = ex.cached_problem("toya", "hb-wcc", counts, "paper", root, None)[1].device_names
    for a in np.linspace(0, 1, 21):
        i = ex.exact_index(front, a, names)
        assert ft["alpha_lo"][i] - 1e-9 <= a <= ft["alpha_hi"][i] + 1e-9


# ------------------------------------------------------------------------------------------------ views
def test_every_front_point_is_reachable(root):
    base = ex.plan_view("toya", "pcie5", 2, 1, 1, 0.5, profiles_dir=root)
    front = ex.cached_front("toya", "pcie5", (("cpu", 2), ("gpu", 1), ("cim", 1)), "paper", root, None)
    assert len(base["front"]) == len(front) > 1
    for i, f in enumerate(front):
        v = ex.plan_view("toya", "pcie5", 2, 1, 1, 0.5, profiles_dir=root, point=i)
        assert v["index"] == i and v["summary"]["plan"] == plan_string(f.stages)
        assert v["summary"]["energy_j"] == pytest.approx(f.energy_j, rel=1e-12)
        assert v["summary"]["how"] == "picked on the front"
    with pytest.raises(ex.ExploreError, match="does not exist"):
        ex.plan_view("toya", "pcie5", 2, 1, 1, 0.5, profiles_dir=root, point=len(front))


def test_bottleneck_part_names_the_largest_part(root):
    d, p = ex.cached_problem("toya", "lb-wcc", (("cpu", 1), ("gpu", 1), ("cim", 1)), "paper", root, None)
    for a in (0.0, 0.5, 1.0):
        r = solve(p, a, "exact")
        text = ex.bottleneck_part(r, d)
        parts = {f"stage {k + 1} compute on {s.device}": s.compute_s for k, s in enumerate(r.stages)}
        parts.update({f"transfer {s.device} → {r.stages[k + 1].device}": s.comm_out_s
                      for k, s in enumerate(r.stages[:-1])})
        named = [v for k, v in parts.items() if text.startswith(k)]
        assert named and named[0] == r.bottleneck_s


def test_paper_view_marks_dominated_plans(root):
    v = ex.plan_view("toyb", "pcie5", 0, 2, 2, 0.5, "paper", profiles_dir=root)
    if v["index"] is None:
        assert "not on the exact front" in v["summary"]["alpha_interval"]
    else:
        assert v["front"]["plan"][v["index"]] == v["summary"]["plan"]


def test_unit_table_sorts_stably(root):
    t = ex.unit_table("toya", ("cpu", "cim"), profiles_dir=root)
    assert len(t) == 2 * 7 and list(t.columns) == list(ex.UNIT_COLUMNS)
    assert t["unit_index"].is_monotonic_increasing
    assert list(t["role"][:2]) == ["cpu", "cim"]  # ties keep the roles' order
    d = ex.unit_table("toya", ("cpu", "cim"), "energy_j", True, profiles_dir=root)
    assert d["energy_j"].is_monotonic_decreasing
    assert set(d["source"]) == {"cpu-xeon-w3323, modelled", "cim, simulated"}
    with pytest.raises(ex.ExploreError, match="sort_by"):
        ex.unit_table("toya", sort_by="speed", profiles_dir=root)


def test_tables_are_fixed_point():
    import pandas as pd

    html = ex.table_html(pd.DataFrame({"x": [1.5e-7, 12345.678], "n": [3, 4000]}))
    import re

    assert not re.search(r"\d[eE][+-]?\d", html) and "0.0000" in html and "12,345.6780" in html and "4,000" in html


def test_size_check_flags_large_settings(root):
    _, small = ex.cached_problem("toya", "hb-wcc", (("cpu", 1), ("gpu", 1)), "paper", root, None)
    ok, msg = ex.size_check(small)
    assert ok and "states" in msg and not msg.startswith("large")
    big = problem_from_dict(sc.make_problem(ex.cached_profiles("toya", "paper", root, None),
                                            {"cpu": 12, "gpu": 12, "cim": 12}, "pcie5"))
    ok, msg = ex.size_check(big)
    assert ok and msg.startswith("large")
    ok, msg = ex.size_check(big, memory_bytes=10_000)
    assert not ok and "budget" in msg and "\n" not in msg


def test_front_too_large_falls_back_to_bounded(root):
    ui = ex.Explorer(profiles_dir=root, inline=True, model="toya", memory_bytes=10_000)
    assert "bounded solver" in ui.status.value and "certified gap" in ui.status.value
    assert bytes(ui.plan_img.value[:8]) == PNG_MAGIC and ui.front_img.value == b""
    assert "bounded solver at α = 1.00" in ui.summary.value
    ui.alpha.value = 0.3
    assert "bounded solver at α = 0.30" in ui.summary.value


def test_nothing_fits_memory_is_an_answer(root):
    d = sc.make_problem(ex.cached_profiles("toya", "paper", root, None), {"cpu": 1, "gpu": 1}, "hb-wcc")
    for t in d["device_types"].values():
        t["memory_bytes"] = 1.0
    status, msg = ex.front_in_child(problem_from_dict(d))
    assert status == "infeasible" and msg


# ------------------------------------------------------------------------------------------------ background
def _sleep_then(x, s=0.0):
    time.sleep(s)
    return x


def _raise_value_error():
    raise ValueError("bad thing at field x")


def _allocate(n_bytes):
    return len(bytearray(int(n_bytes)))


def test_latest_only_skips_superseded_jobs():
    from donna_core.experiments.background import LatestOnly

    ran, gate = [], threading.Event()
    jobs = LatestOnly()
    jobs.submit(lambda stale: (gate.wait(10), ran.append(1)))
    time.sleep(0.1)  # job 1 is running
    for k in (2, 3, 4):
        jobs.submit(lambda stale, k=k: ran.append(k))
    gate.set()
    assert jobs.wait_idle(10)
    assert ran == [1, 4]


def test_latest_only_reports_errors_and_keeps_working():
    from donna_core.experiments.background import LatestOnly

    errors, ran = [], []
    jobs = LatestOnly(on_error=errors.append)
    jobs.submit(lambda stale: _raise_value_error())
    assert jobs.wait_idle(10)
    jobs.submit(lambda stale: ran.append("ok"))
    assert jobs.wait_idle(10)
    assert errors == ["ValueError: bad thing at field x"] and ran == ["ok"]


def test_run_isolated_results_errors_memory_and_cancel():
    from donna_core.experiments.background import Cancelled, IsolatedError, run_isolated

    assert run_isolated(_sleep_then, 42) == 42
    with pytest.raises(IsolatedError, match="ValueError: bad thing at field x"):
        run_isolated(_raise_value_error)
    with pytest.raises(IsolatedError, match="memory"):
        run_isolated(_allocate, 3e9, memory_bytes=200e6)
    assert run_isolated(_allocate, 10e6, memory_bytes=200e6) == 10**7
    with pytest.raises(IsolatedError, match="time limit"):
        run_isolated(_sleep_then, 1, 30, timeout_s=0.5)
    t0 = time.monotonic()
    flag = {"stale": False}
    threading.Timer(0.3, lambda: flag.update(stale=True)).start()
    with pytest.raises(Cancelled):
        run_isolated(_sleep_then, 1, 30, is_stale=lambda: flag["stale"])
    assert time.monotonic() - t0 < 10


# ------------------------------------------------------------------------------------------------ UI
def test_ui_inline_shows_pngs_and_reacts(root):
    ui = ex.build_ui(profiles_dir=root, inline=True, model="toya")
    assert len(ui.tabs.children) == 2  # plan explorer, profile inspector
    for img in (ui.plan_img, ui.front_img, ui.unit_img):
        assert img.format == "png" and bytes(img.value[:8]) == PNG_MAGIC
    assert "exact front of" in ui.status.value
    ui.alpha.value = 0.0
    frugal = (bytes(ui.plan_img.value), ui.summary.value)
    ui.alpha.value = 1.0
    assert "exact optimum at α = 1.00" in ui.summary.value
    n = len(ui.point.options)
    ui.point.value = ui.point.options[n // 2][1]
    assert "picked on the front" in ui.summary.value
    ui.alpha.value = 0.0
    assert (bytes(ui.plan_img.value), ui.summary.value) == frugal
    for r in ("cpu", "gpu", "cim"):
        ui.n[r].value = 0
    assert "at least one device" in ui.status.value and ui.plan_img.value == b""
    ui.n["gpu"].value = 1
    assert "1gpu" in ui.status.value and bytes(ui.plan_img.value[:8]) == PNG_MAGIC
    ui.solver.value = "paper"
    ui.alpha.value = 0.5
    assert "paper&#x27;s DP (Algorithm 1) at α = 0.50" in ui.summary.value
    assert bytes(ui.plan_img.value[:8]) == PNG_MAGIC
    ui.sort_by.value = "energy_j"
    assert "donna-unit-table" in ui.units.value
    with pytest.raises(ex.ExploreError, match="no complete profiles"):
        ex.build_ui(profiles_dir=root, inline=True, model="nosuchmodel")


def test_ui_background_only_computes_the_latest_alpha(root):
    ui = ex.build_ui(profiles_dir=root, model="toyb")
    assert ui.wait_idle(120)
    n_before = len(ui.timings)
    for a in np.linspace(0, 1, 30):
        ui.alpha.value = float(a)
    assert ui.wait_idle(60)
    assert "exact optimum at α = 1.00" in ui.summary.value
    assert len(ui.timings) - n_before < 30  # superseded values were skipped, not computed in turn


def test_plotting_keeps_the_inline_backend():
    code = ("import matplotlib; b = matplotlib.get_backend(); from donna_core.experiments import plotting; "
            "print(b, matplotlib.get_backend())")
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    before, after = out.split()
    assert before == after == "module://matplotlib_inline.backend_inline"


def test_kernel_ui_widgets_carry_png(root):
    """A real ipykernel (inline backend, as in JupyterLab/Voilà): the UI's plot widgets hold PNG images and the
    kernel's backend is still inline afterwards (the issue: a library forced Agg and figures became text)."""
    from jupyter_client.manager import start_new_kernel

    from donna_core.experiments.notebook_runner import venv_kernel

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    code = f"""
import matplotlib
before = matplotlib.get_backend()
from donna_core.experiments import explore
ui = explore.build_ui(profiles_dir={root!r}, model="toya")
display(ui)
assert ui.wait_idle(120)
print("BACKEND", before, matplotlib.get_backend())
for name in ("plan_img", "front_img", "unit_img"):
    img = getattr(ui, name)
    print("IMAGE", name, img.format, bytes(img.value[:8]).hex(), len(img.value))
"""
    outputs = []
    with venv_kernel():
        km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        reply = kc.execute_interactive(code, timeout=180, output_hook=lambda m: outputs.append(m))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    shown = [m["content"]["data"] for m in outputs if m["msg_type"] == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in d for d in shown)
    assert not any("<Figure" in d.get("text/plain", "") for d in shown)
    backend = [ln.split()[1:] for ln in text.splitlines() if ln.startswith("BACKEND")][0]
    assert backend[0] == backend[1] and "inline" in backend[0]
    images = [ln.split() for ln in text.splitlines() if ln.startswith("IMAGE")]
    assert len(images) == 3
    for _, name, fmt, magic, size in images:
        assert fmt == "png" and bytes.fromhex(magic) == PNG_MAGIC and int(size) > 1000, name


def test_models_are_discovered_with_their_phases(root, tmp_path):
    import shutil

    shutil.copytree(Path(root), tmp_path / "p")
    # an LLM-like model whose profiles are per phase (no "layer" directory), and a block view (offered as such)
    for phase in ("prefill", "decode"):
        dst = tmp_path / "p" / "llm" / phase
        dst.mkdir(parents=True)
        for f in (tmp_path / "p" / "toya" / "layer").glob("*.csv"):   # the metadata must name the new place
            text = f.read_text().replace('"granularity": "layer"', f'"granularity": "{phase}"')
            (dst / f.name).write_text(text.replace('"model": "toya"', '"model": "llm"'))
    shutil.copytree(tmp_path / "p" / "toyb" / "layer", tmp_path / "p" / "toyb" / "block")
    (tmp_path / "p" / "toyb" / "layer" / "cim.csv").unlink()  # incomplete: toyb layer is not offered
    found = ex.available_models(str(tmp_path / "p"))
    assert found == ["llm/decode", "llm/prefill", "toya", "toyb/block"]
    v = ex.plan_view("llm/prefill", "hb-wcc", 1, 1, 1, 1.0, profiles_dir=str(tmp_path / "p"))
    w = ex.plan_view("toya", "hb-wcc", 1, 1, 1, 1.0, profiles_dir=root)
    assert v["summary"]["plan"] == w["summary"]["plan"]  # same numbers, found under the phase directory


def test_nearest_point_and_click_picking(root):
    assert ex.nearest_point([[10, 10], [20, 10], [20, 10]], 19, 11) == 1   # nearest; ties -> lower index
    assert ex.nearest_point([[10, 10]], 40, 40) is None                      # too far: no pick
    assert ex.nearest_point(np.zeros((0, 2)), 1, 1) is None
    ui = ex.build_ui(profiles_dir=root, inline=True, model="toya")
    front = ex.cached_front("toya", "hb-wcc", (("cpu", 2), ("gpu", 1), ("cim", 1)), "paper", root, None)
    from donna_core.experiments import plotting

    fi = plotting.FrontImage(ex.front_table(front))
    px = fi.pixels([f.throughput_ips for f in front], [f.energy_j for f in front])
    w, h = fi.canvas.get_width_height()
    assert ((px >= 0) & (px <= [w, h])).all()
    k = len(front) // 2
    ui._front_clicked({"dataX": float(px[k, 0]) + 2, "dataY": float(px[k, 1]) - 2})
    assert "picked on the front" in ui.summary.value
    assert f"{len(front) - k} of {len(front)}" in ui.summary.value


def test_explorer_ties_follow_the_solver_device_index_rule():
    """Devices built cpu, gpu, cim: at an exact tie the solver takes cpu0 (index 0), not cim0 (first by name)."""
    from partition.test_front_select import _cpu_gpu_cim_tie

    d = _cpu_gpu_cim_tie()
    p = problem_from_dict(d)
    v = ex.make_view(d, pareto_front(p), 0.5)
    assert v["summary"]["plan"] == plan_string(solve(p, 0.5).stages) == "cpu0:0-0"
