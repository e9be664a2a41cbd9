import json
import math

import pytest

from donna_core.partition.problem import ProblemError, load_problem, problem_from_dict
from problems import tiny


def test_valid_problem_parses_arrays():
    p = problem_from_dict(tiny(L=4, counts=(2, 1), source="b0"))
    assert p.L == 4 and p.D == 3
    assert p.time_s.shape == (2, 4)
    assert p.device_names == ("a0", "a1", "b0")
    assert p.source == 2
    assert p.link_bw[0, 1] == 1000.0 and math.isinf(p.memory_bytes[0])


def test_presets_usable_without_media_section():
    d = tiny()
    del d["media"]
    d["links"] = {"default": "hb-wcc", "pairs": [["a0", "b0", "LB-WCC"]]}
    p = problem_from_dict(d)
    assert p.link_bw[0, 1] == 1e9 and p.link_bw[0, 2] == 3.5e6 and p.link_epb[2, 0] == 50e-6


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["device_types"]["a"]["time_s"].__setitem__(1, float("nan")), 'device_types["a"].time_s[1]'),
    (lambda d: d["device_types"]["a"]["energy_j"].__setitem__(0, -1.0), 'device_types["a"].energy_j[0]'),
    (lambda d: d["device_types"]["b"]["time_s"].pop(), 'device_types["b"].time_s'),
    (lambda d: d["devices"].append({"name": "z0", "type": "zz"}), "devices[3].type"),
    (lambda d: d.__setitem__("devices", []), "devices"),
    (lambda d: d.__setitem__("source", "nope"), "source"),
    (lambda d: d.__setitem__("links", "warp-drive"), "links"),
    (lambda d: d.__setitem__("link", "m1"), "unknown key"),
    (lambda d: d["units"][1].__setitem__("out_bytes", math.inf), "units[1].out_bytes"),
    (lambda d: d["media"]["m1"].__setitem__("bandwidth_Bps", 0), 'media["m1"].bandwidth_Bps'),
    (lambda d: d.__setitem__("links", {"pairs": [["a0", "a1", "m1"]]}), "no medium for device pair"),
    (lambda d: d.__setitem__("links", {"default": "m1", "pairs": [["a0", "q", "m1"]]}), "links.pairs[0][1]"),
    (lambda d: d["devices"].append({"name": "a0", "type": "a"}), "duplicate device name"),
    (lambda d: d["device_types"]["a"].__setitem__("memory_bytes", -5), 'device_types["a"].memory_bytes'),
    (lambda d: d["units"].clear(), "units"),
])
def test_bad_input_names_the_field(mutate, where):
    d = tiny()
    mutate(d)
    with pytest.raises(ProblemError) as exc:
        problem_from_dict(d)
    assert where in str(exc.value)


def test_load_problem_reports_file_and_json_position(tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"units": [1, 2,,]}')
    with pytest.raises(ProblemError, match=r"broken.json: not valid JSON: .* line 1"):
        load_problem(f)
    g = tmp_path / "nan.json"
    g.write_text(json.dumps(tiny()).replace("700.0", "NaN"))
    with pytest.raises(ProblemError, match="NaN is not allowed"):
        load_problem(g)
    with pytest.raises(ProblemError, match="cannot read"):
        load_problem(tmp_path / "missing.json")
