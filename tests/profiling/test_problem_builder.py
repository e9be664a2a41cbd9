"""Profiles + cluster + medium -> problem dict; the `donna profile` / `donna problem` CLI."""
from __future__ import annotations

import json

import pytest

from donna_core.profiling.problem_builder import DEFAULT_ALIASES, ProblemBuildError, build_problem, parse_cluster
from donna_core.profiling.profiles import profile_path, write_profile

from .profile_files import make_profile


def test_parse_cluster():
    assert parse_cluster("2cpu+2gpu") == {"cpu-xeon-w3323": 2, "gpu-rtx3070ti": 2}
    assert parse_cluster("4cim + gpu") == {"cim": 4, "gpu-rtx3070ti": 1}
    assert parse_cluster("2cpu", {**DEFAULT_ALIASES, "cpu": "cpu-host"}) == {"cpu-host": 2}
    assert parse_cluster("3x gpu-a100") == {"gpu-a100": 3}
    for bad, match in [("", "non-empty"), ("2cpu++1gpu", "term 2"), ("0cpu", "count 0"),
                       ("1cpu+2cpu", "appears twice"), ("2 3cpu", "not")]:
        with pytest.raises(ProblemBuildError, match=match):
            parse_cluster(bad)


@pytest.fixture
def profiles():
    return {"cpu-a": make_profile(device_type="cpu-a"), "gpu-b": make_profile(device_type="gpu-b")}


def test_build_problem_names_devices_and_carries_provenance(profiles):
    from donna_core.partition.problem import problem_from_dict

    profiles["gpu-b"].meta["input_bytes"] = 12288
    d = build_problem(profiles, {"cpu-a": 2, "gpu-b": 1}, "hb-wcc", source="gpu0")
    assert [x["name"] for x in d["devices"]] == ["cpu0", "cpu1", "gpu0"]
    assert [x["type"] for x in d["devices"]] == ["cpu-a", "cpu-a", "gpu-b"]
    assert d["device_types"]["cpu-a"]["meta"]["source_kind"] == "measured"
    assert d["device_types"]["gpu-b"]["time_s"] == list(profiles["gpu-b"].df["time_s"])
    assert d["device_types"]["gpu-b"]["energy_j"] == list(profiles["gpu-b"].df["energy_j"])
    assert d["units"][0] == {"name": "u0", "out_bytes": 3000, "weight_bytes": 40}
    assert d["input_bytes"] == 12288 and d["source"] == "gpu0" and d["links"] == "hb-wcc"
    assert d["name"] == "toy / 2 cpu-a + 1 gpu-b / hb-wcc"
    json.dumps(d, allow_nan=False)
    p = problem_from_dict(d)
    assert p.L == 3 and p.D == 3


def test_build_problem_from_list_and_links_spec(profiles):
    from donna_core.partition.problem import problem_from_dict

    links = {"default": "hb-wcc", "pairs": [["cpu0", "gpu0", "lb-wcc"]]}
    d = build_problem(profiles, ["cpu-a", "gpu-b", "cpu-a"], links, memory_bytes={"gpu-b": 8e9}, input_bytes=100)
    assert [x["name"] for x in d["devices"]] == ["cpu0", "cpu1", "gpu0"]
    assert d["device_types"]["gpu-b"]["memory_bytes"] == 8e9
    problem_from_dict(d)


def test_same_prefix_types_get_full_names():
    profs = {"cpu-a": make_profile(device_type="cpu-a"), "cpu-b": make_profile(device_type="cpu-b")}
    d = build_problem(profs, {"cpu-a": 1, "cpu-b": 1}, "pcie5", input_bytes=1)
    assert [x["name"] for x in d["devices"]] == ["cpu-a0", "cpu-b0"]


def test_build_problem_errors(profiles):
    with pytest.raises(ProblemBuildError, match=r"no profile for device type\(s\) \['cim'\]"):
        build_problem(profiles, {"cim": 1}, "hb-wcc")
    other = make_profile(device_type="gpu-b")
    other.df.loc[1, "out_bytes"] = 7
    with pytest.raises(ProblemBuildError, match=r"unit 1 \('u1'\): out_bytes 7 in profile 'gpu-b' but 2000"):
        build_problem({"cpu-a": profiles["cpu-a"], "gpu-b": other}, {"cpu-a": 1, "gpu-b": 1}, "hb-wcc")
    renamed = make_profile(device_type="gpu-b")
    renamed.df.loc[2, "unit"] = "zz"
    with pytest.raises(ProblemBuildError, match="unit 2: profile 'gpu-b' calls it 'zz'"):
        build_problem({"cpu-a": profiles["cpu-a"], "gpu-b": renamed}, ["cpu-a", "gpu-b"], "hb-wcc")
    with pytest.raises(ProblemBuildError, match="source 'cim0' is not a device"):
        build_problem(profiles, {"cpu-a": 1}, "hb-wcc", source="cim0", input_bytes=1)
    with pytest.raises(ProblemBuildError, match="unknown medium"):
        build_problem(profiles, {"cpu-a": 2}, "carrier-pigeon", input_bytes=1)
    with pytest.raises(ProblemBuildError, match="count 0"):
        build_problem(profiles, {"cpu-a": 0}, "hb-wcc")
    with pytest.raises(ProblemBuildError, match="not a zoo model"):
        build_problem(profiles, {"cpu-a": 1}, "hb-wcc")


def test_missing_energy_is_an_error_unless_power_is_assumed():
    profs = {"cpu-host": make_profile(device_type="cpu-host", energy=False)}
    with pytest.raises(ProblemBuildError, match="has no energy .*--assume-power cpu-host=WATTS"):
        build_problem(profs, {"cpu-host": 1}, "hb-wcc", input_bytes=1)
    d = build_problem(profs, {"cpu-host": 1}, "hb-wcc", input_bytes=1, assume_power_w={"cpu-host": 10.0})
    t = d["device_types"]["cpu-host"]
    assert t["energy_j"] == pytest.approx([10.0 * x for x in t["time_s"]])
    assert "assumed average power" in t["meta"]["energy_modelled"]


def _cli(argv):
    from donna_core.cli.main import main

    return main(argv)


def test_cli_problem_and_errors(tmp_path, capsys):
    write_profile(make_profile(model="vgg8", device_type="cpu-host", energy=False),
                  profile_path(tmp_path, "vgg8", "layer", "cpu-host"))
    out = tmp_path / "p.json"
    rc = _cli(["problem", "--model", "vgg8", "--cluster", "2cpu", "--types", "cpu=cpu-host", "--medium", "hb-wcc",
               "--assume-power", "cpu-host=20", "--profiles", str(tmp_path), "-o", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["input_bytes"] == 12288  # from the zoo, as the toy profile has no input_bytes
    assert [x["name"] for x in d["devices"]] == ["cpu0", "cpu1"]
    rc = _cli(["problem", "--model", "vgg8", "--cluster", "2cpu+1gpu", "--medium", "hb-wcc",
               "--profiles", str(tmp_path)])
    assert rc == 2
    assert "no profile for device type(s) ['cpu-xeon-w3323', 'gpu-rtx3070ti']" in capsys.readouterr().err
    rc = _cli(["problem", "--model", "vgg8", "--cluster", "1cpu", "--types", "cpu", "--medium", "hb-wcc",
               "--profiles", str(tmp_path)])
    assert rc == 2 and "ALIAS=DEVICE_TYPE" in capsys.readouterr().err


def test_cli_profile_writes_file(tmp_path, capsys):
    rc = _cli(["profile", "--model", "vgg8", "--repeats", "2", "--warmup", "0", "--whole-repeats", "2",
               "--granularity", "block", "--out", str(tmp_path), "--quiet", "--device-type", "cpu-host"])
    assert rc == 0
    path = profile_path(tmp_path, "vgg8", "block", "cpu-host")
    assert path.is_file() and "ratio" in capsys.readouterr().out
    from donna_core.profiling.profiles import read_profile

    assert read_profile(path).meta["repeats"] == 2


def test_cli_registered_in_donna_main():
    from donna_core.cli import main as cli

    assert "donna_core.cli.profile_cmd" in cli.COMMAND_MODULES
    ap = cli.build_parser()
    args = ap.parse_args(["problem", "--model", "vgg8", "--cluster", "2cpu", "--medium", "hb-wcc"])
    assert args.func.__name__ == "cmd_problem"
