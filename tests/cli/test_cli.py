import json
import subprocess
import sys

import pytest

from donna_core.cli.main import main
from problems import tiny


def write(tmp_path, d, name="p.json"):
    f = tmp_path / name
    f.write_text(json.dumps(d))
    return str(f)


def test_solve_json_contract(tmp_path, capsys):
    f = write(tmp_path, tiny(L=4, counts=(2, 1)))
    assert main(["solve", f, "--alpha", "0.8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"solver", "alpha", "stages", "bottleneck_s", "throughput_ips", "energy_j", "objective",
            "norm"} <= set(out)
    assert set(out["norm"]) == {"time_s", "energy_j"}
    assert {"device", "first", "last", "compute_s", "compute_j", "comm_out_s", "comm_out_j"} <= set(out["stages"][0])
    assert out["stages"][0]["first"] == 0 and out["stages"][-1]["last"] == 3
    assert out["throughput_ips"] == pytest.approx(1 / out["bottleneck_s"])
    assert out["alpha"] == 0.8 and out["solver"] == "exact"


def test_pareto_json_is_sorted_front(tmp_path, capsys):
    f = write(tmp_path, tiny(L=5, types=("a", "b"), counts=(2, 2), seed=4))
    assert main(["pareto", f, "--json"]) == 0
    front = json.loads(capsys.readouterr().out)["front"]
    b = [x["bottleneck_s"] for x in front]
    e = [x["energy_j"] for x in front]
    assert b == sorted(b) and all(e1 > e2 for e1, e2 in zip(e, e[1:]))


def test_readable_output(tmp_path, capsys):
    f = write(tmp_path, tiny())
    assert main(["solve", f, "--solver", "paper"]) == 0
    out = capsys.readouterr().out
    assert "bottleneck" in out and "solver=paper" in out


@pytest.mark.parametrize("text, msg", [
    ("{not json", "not valid JSON"),
    (json.dumps({**tiny(), "source": "ghost"}), "source"),
    (json.dumps({**tiny(), "devices": []}), "devices"),
])
def test_bad_input_exit_2_one_line(tmp_path, capsys, text, msg):
    f = tmp_path / "bad.json"
    f.write_text(text)
    assert main(["solve", str(f)]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and err.count("\n") == 1


def test_infeasible_exit_3(tmp_path, capsys):
    d = tiny(L=3, counts=(1, 1))
    for u in d["units"]:
        u["weight_bytes"] = 100.0
    for t in d["device_types"].values():
        t["memory_bytes"] = 50.0
    assert main(["solve", write(tmp_path, d)]) == 3
    assert "no feasible plan" in capsys.readouterr().err


def test_console_script_runs_as_a_process(tmp_path):
    f = write(tmp_path, tiny())
    out = subprocess.run([sys.executable, "-m", "donna_core.cli", "solve", f, "--json"], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout)["stages"]
    bad = subprocess.run([sys.executable, "-m", "donna_core.cli", "solve", f, "--alpha", "2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "alpha" in bad.stderr and "Traceback" not in bad.stderr
