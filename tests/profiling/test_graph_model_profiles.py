"""Graph profiles and edges files (shipped and fresh), `donna problem --graph`, modelled graph-unit work."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from donna_core.devices.graph_device_profiles import graph_unit_work
from donna_core.profiling.graph_models import RANDWIRE_MODELS, TORCHVISION_GRAPH_MODELS
from donna_core.profiling.graph_profiles import profile_graph_model, read_edges
from donna_core.profiling.graph_units import derive_graph_model_units
from donna_core.profiling.profiles import EDGES_FILE, ProfileError, load_profiles

from cli_process import run_donna as _donna

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "data" / "profiles"
SHIPPED = list(TORCHVISION_GRAPH_MODELS) + list(RANDWIRE_MODELS)
TYPES = {"cpu-host": "measured", "gpu-rtx3070ti": "modelled", "cpu-xeon-w3323": "modelled", "cim": "modelled"}


def check_graph_problem(d: dict) -> None:
    """The graph problem format (0-based u < v, bytes > 0, no duplicates; out_bytes may be omitted)."""
    n = len(d["units"])
    seen = set()
    for u, v, b in d["edges"]:
        assert isinstance(u, int) and isinstance(v, int) and 0 <= u < v < n and b > 0
        assert (u, v) not in seen
        seen.add((u, v))
    for t in d["device_types"].values():
        assert len(t["time_s"]) == n and len(t["energy_j"]) == n


@pytest.mark.parametrize("model", SHIPPED)
def test_shipped_graph_profiles_agree_with_their_edges(model):
    meta, edges = read_edges(PROFILES / model / "graph" / EDGES_FILE)
    profs = load_profiles(PROFILES, model, "graph")
    assert set(profs) == set(TYPES)  # edges.csv is not read as a device profile
    for t, kind in TYPES.items():
        p = profs[t]
        assert p.meta["source_kind"] == kind and list(p.df["unit"]) == meta["units"]
        assert (p.df["time_s"] > 0).all()
    host = profs["cpu-host"].meta
    assert host["repeats"] >= 10 and host["order"] == "interleaved" and host["units_reproduce_output"]
    assert len(host["load_avg_before"]) == 3 and host["threads"] == 1
    check_graph_problem({"units": meta["units"], "edges": edges, "device_types": {}})
    assert meta["input_units"] == [0]


def test_shipped_edges_are_what_the_model_gives_today():
    meta, edges = read_edges(PROFILES / "randwire_n32_s0" / "graph" / EDGES_FILE)
    _, _, plan = derive_graph_model_units("randwire_n32_s0")
    assert edges == plan.edges and meta["units"] == [u.name for u in plan.units]


def test_bad_edges_file_names_the_file_and_line(tmp_path):
    src = (PROFILES / "randwire_n32_s0" / "graph" / EDGES_FILE).read_text().splitlines()
    head, cols, first = src[0], src[1], src[2].split(",")
    bad = tmp_path / EDGES_FILE
    bad.write_text("\n".join([head, cols, ",".join([first[1], first[0]] + first[2:])] + src[3:]) + "\n")
    with pytest.raises(ProfileError, match=rf"{EDGES_FILE}:3: edge"):
        read_edges(bad)


def test_donna_problem_graph_writes_a_graph_problem(tmp_path):
    out = tmp_path / "g.json"
    r = _donna("problem", "--graph", "--model", "googlenet", "--cluster", "2cpu+1gpu+1cim", "--medium", "hb-wcc",
               "-o", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    meta, edges = read_edges(PROFILES / "googlenet" / "graph" / EDGES_FILE)
    assert d["edges"] == [list(e) for e in edges] and [u["name"] for u in d["units"]] == meta["units"]
    assert all("out_bytes" not in u for u in d["units"]) and d["meta"]["granularity"] == "graph"
    assert d["input_bytes"] == 3 * 224 * 224 * 4
    check_graph_problem(d)
    # the bundled file is this very problem
    shipped = json.loads((ROOT / "data" / "problems" / "googlenet_graph_2cpu1gpu1cim_hb-wcc.json").read_text())
    assert (shipped["edges"] == d["edges"]
            and shipped["device_types"]["cim"]["time_s"] == d["device_types"]["cim"]["time_s"])


def test_donna_problem_graph_without_graph_profiles_is_one_line_exit_2(tmp_path):
    r = _donna("problem", "--graph", "--model", "vgg8", "--cluster", "2cpu", "--medium", "hb-wcc")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "graph" in r.stderr


def test_graph_unit_work_reads_all_incoming_edges():
    table = pd.DataFrame({"macs": [10, 20, 30], "weight_bytes": [1, 2, 3], "out_bytes": [100, 200, 0]})
    w = graph_unit_work(table, [(0, 1, 100), (0, 2, 100), (1, 2, 200)], input_bytes=50, n_ops=[1, 2, 3])
    assert list(w["bytes"]) == [1 + 50 + 100, 2 + 100 + 200, 3 + 300 + 0]
    assert list(w["flops"]) == [20, 40, 60] and list(w["n_ops"]) == [1, 2, 3]


def test_profile_graph_model_measures_every_unit():
    prof = profile_graph_model("randwire_tiny", repeats=2, warmup=0, progress=False)
    assert prof.meta["granularity"] == "graph" and prof.meta["n_units"] == len(prof.df) == 11
    assert prof.meta["source_kind"] == "measured" and prof.meta["energy_source"] == "unavailable"
    assert (prof.df["time_s"] > 0).all() and prof.df["energy_j"].isna().all()
