"""calibrate-link's curve construction and the link emulation's use of the medium's time curve."""
from __future__ import annotations

import pytest

from donna_core.partition.media import Medium, check_time_curve, message_time
from donna_core.runtime.calibrate import DEFAULT_SIZES, curve_errors, curve_from, fit_cpu, split_sizes
from donna_core.runtime.wire import LinkShaper, emulated_seconds


def test_split_sizes_holds_out_every_other_size():
    fit, held = split_sizes(DEFAULT_SIZES)
    assert fit == [1000, 10000, 100000, 1000000, 10000000, 100000000]
    assert held and not set(fit) & set(held) and sorted(fit + held) == sorted(DEFAULT_SIZES)
    assert split_sizes([1, 2, 3]) == ([1, 2, 3], [])


def test_curve_from_is_a_valid_monotone_curve():
    # a slow outlier at the smallest size must not lift the whole curve (isotonic, not a running maximum)
    c = curve_from([1e3, 1e4, 1e5, 1e6], [4e-3, 1e-4, 2e-4, 1e-3])
    check_time_curve(c, "c")
    assert c[-1][1] == pytest.approx(1e-3) and c[0][1] == pytest.approx(c[1][1]) and c[1][1] < 4e-3
    assert curve_from([1, 2, 3], [1.0, 2.0, 3.0]) == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]


def test_curve_errors_zero_at_the_points_and_interpolates_power_laws():
    c = [[1e3, 1e-5], [1e5, 1e-3]]     # t = 1e-8 * b: a power law, so log-log interpolation is exact
    assert curve_errors(c, 1e9, [1e3, 1e4, 1e5], [1e-5, 1e-4, 1e-3]) == pytest.approx([0, 0, 0], abs=1e-12)


def test_fit_cpu_recovers_a_line():
    b = [1e3, 1e5, 1e7]
    per_msg, per_byte = fit_cpu(b, [2e-5 + x * 1e-10 for x in b])
    assert per_msg == pytest.approx(2e-5, rel=1e-6) and per_byte == pytest.approx(1e-10, rel=1e-6)


def test_emulation_uses_the_cost_models_message_time():
    curve = [[1e3, 1e-4], [1e6, 1e-3]]
    m = Medium(1e9, 0.0, latency_s=5e-5, time_curve=tuple(map(tuple, curve)))
    for b in (10, 1e3, 3e4, 1e6, 5e7):
        assert emulated_seconds(b, 1e9, 5e-5, curve) == message_time(m, b)
    assert emulated_seconds(1e6, 1e9, 5e-5) == 5e-5 + 1e6 / 1e9
    sh = LinkShaper(1e9, 5e-5, curve)
    assert sh.release_time(0.0, int(1e6)) == pytest.approx(1e-3)
    assert sh.release_time(0.0, int(1e6)) == pytest.approx(2e-3)     # queued behind the first message


def test_calibrate_link_as_a_process_writes_the_mean_curve_and_each_ends_process_cpu(tmp_path):
    import json
    import statistics

    from .runs import donna

    out = tmp_path / "cal.json"
    sizes = [1000, 10000, 100000, 1000000]
    r = donna(["calibrate-link", "--sizes", *map(str, sizes), "--repeats", "3", "--curve-stat", "mean",
               "--cpu-type", "cpu-host", "-o", str(out)], tmp_path, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "CPU per message (whole process)" in r.stdout
    rec = json.loads(out.read_text())
    s = rec["samples"]
    fit, held = split_sizes(sizes)
    means = {int(k): statistics.fmean(v) for k, v in s["all_one_way_s"].items()}
    # the curve is built from the per-size means of the fit sizes (not their medians)
    assert [x for x, _ in rec["medium"]["time_curve"]] == fit
    expected = curve_from(fit, [means[x] for x in fit])
    assert [y for _, y in rec["medium"]["time_curve"]] == pytest.approx([y for _, y in expected], rel=1e-12)
    assert s["held_out"]["statistic"] == "mean" and s["held_out"]["bytes"] == held
    assert s["held_out"]["mean_one_way_s"] == pytest.approx([means[x] for x in held], rel=1e-12)
    # each end's whole-process CPU per round trip and per streamed message were measured at every size; half a
    # round trip is what the medium charges a send and a receive
    trip = s["process_cpu"]["round_trip_process_cpu_s"]
    assert len(trip) == len(sizes) and all(v > 0 for v in trip)
    # (approx: a least-squares solve through BLAS may differ in the last bit between processes)
    assert s["process_cpu"]["send"]["fit"] == pytest.approx(list(fit_cpu(sizes, [t / 2 for t in trip])), rel=1e-9)
    for end in ("send", "recv"):
        per = s["process_cpu"][end]["stream_process_cpu_s_per_message"]
        assert len(per) == len(sizes) and all(v > 0 for v in per)
    cost = rec["medium"]["cpu"]["cpu-host"]
    assert (cost["send_s"], cost["send_s_per_byte"]) == tuple(s["process_cpu"]["send"]["fit"])
    assert (cost["recv_s"], cost["recv_s_per_byte"]) == tuple(s["process_cpu"]["recv"]["fit"])


def test_ping_pong_rounds_send_every_size_once_and_rotate_through_every_position():
    from donna_core.runtime.calibrate import round_order

    sizes = [10, 100, 1000, 10000]
    rounds = [round_order(sizes, r) for r in range(len(sizes))]
    assert all(sorted(r) == sizes for r in rounds)
    # over len(sizes) rounds each size takes each position once, so no size always follows the largest message
    for pos in range(len(sizes)):
        assert sorted(r[pos] for r in rounds) == sizes
    assert round_order(sizes, len(sizes)) == sizes
