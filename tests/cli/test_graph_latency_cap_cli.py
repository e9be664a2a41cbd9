"""``donna solve/pareto --max-latency`` as whole processes: exit codes, one-line errors, the JSON contract."""
import json
import os
import subprocess
import sys

import pytest

from problems import tiny

from partition.graphs import graph_dict  # noqa: E402  (tests/ is on sys.path)


def _donna(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "donna_core.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture
def graph_file(tmp_path):
    f = tmp_path / "g.json"
    f.write_text(json.dumps(graph_dict(5, (1, 1, 1), 3, p_edge=0.5)))
    return str(f)


def test_cap_binds_and_is_reported(graph_file):
    free = json.loads(_donna("solve", graph_file, "--alpha", "0.5", "--json").stdout)
    fastest = json.loads(_donna("solve", graph_file, "--objective", "latency", "--json").stdout)["latency_s"]
    cap = fastest * 1.01
    r = _donna("solve", graph_file, "--alpha", "0.5", "--json", "--max-latency", repr(cap))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["latency_s"] <= cap * (1 + 1e-6) and out["max_latency_s"] == cap
    assert out["objective"] >= free["objective"] * (1 - 1e-6) and out["gap"] == 0.0
    assert out["lower_bound"] <= out["objective"]
    front = _donna("pareto", graph_file, "--json", "--max-latency", repr(cap))
    assert front.returncode == 0 and json.loads(front.stdout)["front"]


def test_infeasible_cap_exits_3_with_one_line(graph_file):
    fastest = json.loads(_donna("solve", graph_file, "--objective", "latency", "--json").stdout)["latency_s"]
    for cmd in (["solve", graph_file], ["pareto", graph_file]):
        r = _donna(*cmd, "--max-latency", repr(fastest * 0.5))
        assert r.returncode == 3 and r.stdout == ""
        line, = r.stderr.splitlines()
        assert "--max-latency" in line and "(proved)" in line and "fastest plan found" in line


def test_bad_values_and_chain_problems_exit_2(graph_file, tmp_path):
    chain = tmp_path / "c.json"
    chain.write_text(json.dumps(tiny(L=4)))
    cases = [("solve", graph_file, "--max-latency", "-1"), ("solve", graph_file, "--max-latency", "nan"),
             ("solve", graph_file, "--max-latency", "1", "--solver", "heft"),
             ("solve", graph_file, "--max-latency", "1", "--objective", "latency"),
             ("solve", str(chain), "--max-latency", "1"), ("pareto", str(chain), "--max-latency", "1")]
    for args in cases:
        r = _donna(*args)
        assert r.returncode == 2, (args, r.stderr)
        line, = r.stderr.splitlines()
        assert "max-latency" in line and "Traceback" not in line
