"""Explorer callbacks as plain functions (no kernel): numbers agree with calling the solvers directly."""
from __future__ import annotations

import pytest

from donna_core.experiments import explore as ex
from donna_core.experiments import scenarios as sc
from donna_core.partition.problem import problem_from_dict
from donna_core.partition.solve import pareto_front, solve


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from test_scenarios import write_synthetic_profiles

    return str(write_synthetic_profiles(tmp_path_factory.mktemp("explore")))


def _problem(root, model, counts, medium):
    profs = sc.load_model_profiles(model, sc.device_files("paper"), profiles_dir=root)
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
    assert v["summary"]["plan"] == sc.plan_string(r.stages)
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
    profs = sc.load_model_profiles("toyb", sc.device_files("paper"), profiles_dir=root)
    assert df[df.role == "cim"]["energy_j"].tolist() == profs["cim"].table["energy_j"].tolist()
    assert ex.available_models(root) == ["toya", "toyb"]


def test_ui_builds_without_a_kernel(root):
    ui = ex.build_ui(profiles_dir=root)
    assert len(ui.children) == 2  # plan explorer, profile inspector
