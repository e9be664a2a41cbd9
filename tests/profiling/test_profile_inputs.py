"""Profile files from users: strict cells, typed metadata, agreement across device types, non-regular entries."""
from __future__ import annotations

import os

import pytest

from donna_core.profiling.problem_builder import ProblemBuildError, build_problem
from donna_core.profiling.profiles import ProfileError, format_profile, load_profiles, parse_profile, read_profile

from .profile_files import make_profile


def _text(**meta):
    text = format_profile(make_profile())
    head, _, body = text.partition("\n")
    for k, v in meta.items():
        head = head.replace('"format": 1', f'"format": 1, "{k}": {v}')
    return head + "\n" + body


@pytest.mark.parametrize("old,new,match", [
    (",0.001", ",1_0", "column time_s: not a number .*'1_0'"),
    (",3000,", f",{2**63},", "column out_bytes: '9223372036854775808' is beyond 2\\^53"),
    (",3000,", ",1e30,", "column out_bytes: '1e30' is beyond 2\\^53"),
    (",3000,", ",3_000,", "column out_bytes: not an integer: '3_000'"),
])
def test_cells_are_strict(old, new, match):
    text = _text()
    assert old in text
    with pytest.raises(ProfileError, match=match):
        parse_profile(text.replace(old, new, 1), "f.csv")


@pytest.mark.parametrize("value", ["[1, 2]", "null", "true", '"700"', "-1", str(2**60)])
def test_input_bytes_metadata_must_be_a_size(value):
    with pytest.raises(ProfileError, match="f.csv:1: metadata 'input_bytes' must be a number of bytes"):
        parse_profile(_text(input_bytes=value), "f.csv")


def test_integral_decimals_still_read_as_integers():
    prof = parse_profile(_text().replace(",3000,", ",3e3,", 1), "f.csv")
    assert int(prof.df["out_bytes"].iloc[0]) == 3000


def test_disagreeing_profiles_are_refused_in_either_cluster_order(tmp_path):
    a, b = make_profile(device_type="cpu-a"), make_profile(device_type="gpu-b")
    b.df.loc[1, "weight_bytes"] = 81
    for order in (["cpu-a", "gpu-b"], ["gpu-b", "cpu-a"]):
        with pytest.raises(ProblemBuildError, match=r"unit 1 \('u1'\): weight_bytes (81|80) in .* but (80|81) in"):
            build_problem({"cpu-a": a, "gpu-b": b}, order, "pcie5", input_bytes=1)
    c = make_profile(device_type="gpu-b")
    c.meta["input_bytes"], a.meta["input_bytes"] = 5, 6
    with pytest.raises(ProblemBuildError, match="metadata input_bytes: 5 in profile 'gpu-b' but 6 in"):
        build_problem({"cpu-a": a, "gpu-b": c}, ["cpu-a", "gpu-b"], "pcie5")


def test_non_regular_csv_entries_are_skipped_with_a_reason(tmp_path):
    d = tmp_path / "toy" / "layer"
    d.mkdir(parents=True)
    (d / "cpu-test.csv").write_text(format_profile(make_profile()))
    os.mkfifo(d / "fifo.csv")
    (d / "dir.csv").mkdir()
    os.symlink("missing.csv", d / "broken.csv")
    skipped = {}
    profs = load_profiles(tmp_path, "toy", "layer", skipped)
    assert list(profs) == ["cpu-test"] and profs["cpu-test"].path.endswith("cpu-test.csv")
    assert "a FIFO" in skipped["fifo"] and "a directory" in skipped["dir"] and "broken" in skipped["broken"]
    with pytest.raises(ProfileError, match="is a FIFO"):
        read_profile(d / "fifo.csv")
