"""Spec-sheet GPU/CPU model: presets, overhead-bound small layers, calibration."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from donna_core.devices import specmodel as sm

ROOT = Path(__file__).resolve().parents[2]


def test_presets_match_the_datasheets():
    g = sm.rtx3070ti()
    assert g.peak_flops == pytest.approx(21.7e12, rel=0.005)     # 6144 cores x 2 x 1.77 GHz
    assert g.mem_bw_Bps == 608e9 and g.active_power_w == 290
    x = sm.xeon_w3323(dispatch_s=1e-5, compute_eff=0.5, mem_eff=0.5)
    assert x.peak_flops == pytest.approx(12 * 64 * 3.5e9)
    assert x.mem_bw_Bps == pytest.approx(204.8e9) and x.active_power_w == 220
    for spec in (g, x):
        assert ({"peak_flops", "mem_bw_Bps", "active_power_w", "dispatch_s", "compute_eff", "mem_eff"}
                <= set(spec.sources))


def _work(macs, weight_bytes, out_bytes, n_ops, input_bytes=12288):
    t = pd.DataFrame({"unit": [f"u{i}" for i in range(len(macs))], "macs": macs, "weight_bytes": weight_bytes,
                      "out_bytes": out_bytes, "n_ops": n_ops})
    return sm.unit_work(t, input_bytes)


def test_gpu_tiny_layers_are_launch_overhead_bound_and_big_ones_are_not():
    g = sm.rtx3070ti()
    # VGG8's last FC (1024 -> 10) and a ResNet 3x3 conv (56x56x64 -> 64) at batch 1
    w = _work(macs=[10_240, 115_605_504], weight_bytes=[41_000, 147_712], out_bytes=[40, 802_816], n_ops=[1, 3])
    p = sm.predict(g, w)
    assert p.time_s[0] == pytest.approx(g.dispatch_s, rel=0.03)      # tiny layer: time ~= one launch
    assert p.dispatch_s[0] / p.time_s[0] > 0.95
    assert p.compute_s[1] > p.dispatch_s[1] / 3                        # real work is visible on a mid-size conv
    # batch-1 GPU reaches only a fraction of its peak on the conv
    achieved = 2 * 115_605_504 / p.time_s[1]
    assert achieved < 0.5 * g.peak_flops
    np.testing.assert_allclose(p.energy_j, g.active_power_w * p.time_s)   # energy = active power x time


def test_unit_work_counts_bytes_across_cuts():
    w = _work(macs=[5, 7], weight_bytes=[100, 200], out_bytes=[10, 20], n_ops=[2, 1], input_bytes=1000)
    assert w.flops.tolist() == [10, 14]
    assert w.bytes.tolist() == [100 + 1000 + 10, 200 + 10 + 20]
    with pytest.raises(sm.SpecModelError, match="lacks column 'macs'"):
        sm.unit_work(pd.DataFrame({"weight_bytes": [1], "out_bytes": [1]}), 0)
    with pytest.raises(sm.SpecModelError, match="bad macs"):
        _work(macs=[-1], weight_bytes=[1], out_bytes=[1], n_ops=[1])


def test_calibrate_recovers_known_factors():
    truth = sm.DeviceSpec("t", peak_flops=1e11, mem_bw_Bps=2e10, dispatch_s=2e-5, compute_eff=0.6, mem_eff=0.8,
                          active_power_w=1)
    rng = np.random.default_rng(0)
    w = _work(macs=rng.integers(1e3, 1e9, 40), weight_bytes=rng.integers(1e2, 1e8, 40),
              out_bytes=rng.integers(1e2, 1e7, 40), n_ops=rng.integers(1, 5, 40))
    t = sm.predict(truth, w).time_s
    fit = sm.calibrate(w, t, truth.peak_flops, truth.mem_bw_Bps)
    assert fit["dispatch_s"] == pytest.approx(2e-5, rel=1e-6)
    assert fit["compute_eff"] == pytest.approx(0.6, rel=1e-6)
    assert fit["mem_eff"] == pytest.approx(0.8, rel=1e-6)
    with pytest.raises(sm.SpecModelError, match="positive and one per unit"):
        sm.calibrate(w, t[:-1], 1e11, 2e10)


@pytest.mark.parametrize("kw, msg", [
    (dict(peak_flops=-1.0), "peak_flops must be a positive"),
    (dict(compute_eff=1.5), "efficiencies must be <= 1"),
    (dict(dispatch_s=float("nan")), "dispatch_s must be >= 0"),
])
def test_bad_spec_is_rejected(kw, msg):
    base = dict(name="x", peak_flops=1e12, mem_bw_Bps=1e11, dispatch_s=1e-5, compute_eff=0.5, mem_eff=0.5,
                active_power_w=100.0)
    with pytest.raises(sm.SpecModelError, match=msg):
        sm.DeviceSpec(**{**base, **kw})


def test_host_spec_from_cpuinfo():
    h = sm.host_spec_from_cpuinfo(threads=1, clock_hz=2e9, flop_per_cycle_core=32)
    assert h["peak_flops"] == 64e9


def test_xeon_profile_carries_the_host_calibration():
    from donna_core.profiling.profiles import read_profile
    p = read_profile(ROOT / "data" / "profiles" / "resnet152" / "layer" / "cpu-xeon-w3323.csv")
    assert p.meta["source_kind"] == "modelled"
    cal = p.meta["model_params"]["calibration"]
    spec = p.meta["model_params"]["spec"]
    assert spec["dispatch_s"] == pytest.approx(cal["fit"]["dispatch_s"])
    assert "cpu-host" in cal["label"]
    g = read_profile(ROOT / "data" / "profiles" / "resnet152" / "layer" / "gpu-rtx3070ti.csv")
    # modelled GPU: a ResNet-152 has many small layers; batch-1 time is dominated by launches
    n_small = (g.df.time_s < 2.5 * g.meta["model_params"]["spec"]["dispatch_s"] * 4).sum()
    assert n_small > len(g.df) / 3


def test_op_counts_of_vgg8_units():
    from donna_core.devices.device_profiles import unit_op_counts
    from donna_core.profiling.units import derive_model_units
    _, _, plan = derive_model_units("vgg8", "layer")
    # conv+ReLU, conv+ReLU+pool, ..., last conv+ReLU+pool+flatten, fc+ReLU (dropout is free in eval), fc
    assert unit_op_counts(plan) == [2, 3, 2, 3, 2, 4, 2, 1]
