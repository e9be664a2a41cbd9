"""``donna solve --objective latency`` as a whole process on a graph problem whose media carry a time curve, a
shared medium and message CPU costs: the exact optimum of the stated rule (brute force), a schedule obeying it."""
import json
import subprocess
import sys

from partition import brute_comm  # noqa: E402  (tests/ is on sys.path)
from partition.graphs import graph_dict


def _problem():
    d = graph_dict(4, (1, 1, 1), 3, p_edge=0.7, links_pair=True)
    d["media"]["m1"]["time_curve"] = [[100.0, 0.05], [300.0, 0.2], [1000.0, 0.3]]
    d["media"]["m1"]["shared"] = True
    d["media"]["m2"]["cpu"] = {t: {"send_s": 0.2, "recv_s": 0.1, "recv_s_per_byte": 2e-4} for t in d["device_types"]}
    d["media"]["m1"]["cpu"] = {"a": {"send_s": 0.05, "recv_s": 0.15}}
    # each unit is fast on one type only, so the optimum spreads the units and sends messages
    fast = {"a": (0, 3), "b": (1,), "c": (2,)}
    for t, units in fast.items():
        d["device_types"][t]["time_s"] = [1.0 if u in units else 5.0 for u in range(4)]
    return d


def test_latency_solve_with_curve_shared_medium_and_cpu(tmp_path):
    d = _problem()
    f = tmp_path / "g.json"
    f.write_text(json.dumps(d))
    r = subprocess.run([sys.executable, "-m", "donna_core.cli", "solve", str(f), "--objective", "latency", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    opt = brute_comm.best_latency(d)
    assert out["gap"] == 0.0
    assert abs(out["latency_s"] - opt) <= 1e-6 * opt
    names = [x["name"] for x in d["devices"]]
    a = tuple(names.index(x) for x in out["assignment"])
    assert abs(brute_comm.latency(d, a) - out["latency_s"]) <= 1e-6 * opt
    assert out["latency_s"] == max(u["finish_s"] for u in out["schedule"]["units"])
    # the problem exercises what it claims: the optimal plan sends messages and spends message CPU
    assert out["schedule"]["messages"] and out["schedule"]["message_cpu"]
    # the same file under the alpha-objective (its rule with these keys: tests/partition/test_graph_comm_extensions)
    r2 = subprocess.run([sys.executable, "-m", "donna_core.cli", "solve", str(f)], capture_output=True, text=True,
                        timeout=300)
    assert r2.returncode == 0 and "proved optimal" in r2.stdout, r2.stderr
