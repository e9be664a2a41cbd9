"""Energy meters (fallbacks on this host, RAPL/NVML logic on fake counters, real hardware when present) and a
quick profiler run."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from donna_core.profiling import meters
from donna_core.profiling.meters import Meter, UnavailableMeter, make_meter
from donna_core.profiling.profiler import ProfilerError, profile_model, time_repeats

HAS_RAPL = os.path.exists("/sys/class/powercap/intel-rapl")


def _nvml_ok() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount() > 0
    except Exception:
        return False


# --- fallbacks: what this machine has -------------------------------------------------------------------------

@pytest.mark.skipif(HAS_RAPL, reason="host has RAPL: the no-RAPL fallback cannot be observed here")
def test_cpu_meter_without_rapl_is_unavailable_not_zero():
    m = make_meter("cpu")
    assert isinstance(m, UnavailableMeter)
    assert m.source == "unavailable" and "RAPL" in m.reason
    m.start()
    assert m.stop() is None
    with m as ctx:
        pass
    assert ctx.joules is None


@pytest.mark.skipif(_nvml_ok(), reason="host has NVML and a GPU: the no-NVML fallback cannot be observed here")
def test_gpu_meter_without_nvml_is_unavailable():
    m = make_meter("cuda:0")
    assert m.source == "unavailable"
    assert "NVML" in m.reason
    m.start()
    assert m.stop() is None


def test_pyjoules_type_error_falls_back(monkeypatch):
    def boom(*a, **k):
        raise TypeError("pyJoules internal failure")

    monkeypatch.setattr(meters, "RaplMeter", boom)
    m = make_meter("cpu")
    assert m.source == "unavailable" and "TypeError" in m.reason
    assert make_meter("tpu").source == "unavailable"


# --- the RAPL and NVML code paths, on fake counters -----------------------------------------------------------

def test_rapl_meter_reads_package_counter_from_fake_sysfs(tmp_path, monkeypatch):
    """Run the real pyJoules RAPL path against a fake /sys/class/powercap tree (two sockets)."""
    import pyJoules.device.rapl_device as rd

    root = tmp_path / "intel-rapl"
    for s in (0, 1):
        d = root / f"intel-rapl:{s}"
        d.mkdir(parents=True)
        (d / "name").write_text(f"package-{s}\n")
        (d / "energy_uj").write_text("1000000\n")
    monkeypatch.setattr(rd, "RAPL_API_DIR", str(root))
    m = make_meter("cpu")
    assert m.source == "rapl", m.reason
    m.start()
    (root / "intel-rapl:0" / "energy_uj").write_text("3500000\n")  # +2.5 J on socket 0
    (root / "intel-rapl:1" / "energy_uj").write_text("1500000\n")  # +0.5 J on socket 1
    assert m.stop() == pytest.approx(3.0)
    # A wrapped counter (reading went down) is unknown, not negative energy.
    m.start()
    (root / "intel-rapl:0" / "energy_uj").write_text("10\n")
    assert m.stop() is None


class FakeNVML:
    """Stands in for the pynvml module: one GPU with an energy counter (mJ) and a power reading (mW)."""

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    def __init__(self, has_counter: bool, power_mw: float = 50_000.0):
        self.has_counter = has_counter
        self.energy_mj = 1_000
        self.power_mw = power_mw

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("gpu", i)

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.has_counter:
            raise self.NVMLError_NotSupported("Not Supported")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, h):
        return self.power_mw


def test_nvml_energy_counter_path(monkeypatch):
    import sys

    fake = FakeNVML(has_counter=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    m = make_meter("cuda:0")
    assert m.source == "nvml-energy"
    m.start()
    fake.energy_mj += 2_500
    assert m.stop() == pytest.approx(2.5)


def test_nvml_power_sampling_fallback(monkeypatch):
    import sys

    fake = FakeNVML(has_counter=False, power_mw=50_000.0)  # 50 W
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    m = make_meter("cuda")
    assert m.source == "nvml-power"
    t0 = time.perf_counter()
    m.start()
    time.sleep(0.05)
    j = m.stop()
    elapsed = time.perf_counter() - t0
    # constant 50 W: energy = 50 W x the meter's own window, which lies between the sleep and our window
    # (bounds rather than a tolerance, so a loaded CI machine cannot make this flaky)
    assert 50.0 * 0.05 * (1 - 1e-9) <= j <= 50.0 * elapsed * (1 + 1e-9)


# --- real hardware (skipped where absent) ---------------------------------------------------------------------

@pytest.mark.skipif(not HAS_RAPL, reason="no /sys/class/powercap: RAPL not available on this host")
def test_real_rapl_measures_positive_energy():
    m = make_meter("cpu")
    if m.source == "unavailable":
        pytest.skip(f"RAPL present but unreadable: {m.reason}")
    with m:
        x = torch.randn(512, 512)
        for _ in range(50):
            x = torch.tanh(x @ x)
    assert m.joules is not None and m.joules > 0


@pytest.mark.skipif(not _nvml_ok(), reason="no NVML library or no NVIDIA GPU on this host")
def test_real_nvml_meter():
    m = make_meter("cuda:0")
    assert m.source in ("nvml-energy", "nvml-power")
    with m:
        time.sleep(0.1)
    assert m.joules is not None and m.joules >= 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this host: the CUDA-event path is skipped")
def test_cuda_profile_path():
    prof = profile_model("vgg8", device="cuda", repeats=3, warmup=1, progress=False)
    assert prof.meta["device_type"] == "gpu-host" and (prof.df["time_s"] > 0).all()


# --- profiler ---------------------------------------------------------------------------------------------------

class CountingMeter(Meter):
    """Pretends every start/stop window used exactly 1.5 J."""

    source = "rapl"

    def start(self):
        self.started = True

    def stop(self):
        return 1.5


def test_time_repeats_divides_energy_by_repeats():
    calls = []
    times, e = time_repeats(lambda: calls.append(1), repeats=5, warmup=2, device=torch.device("cpu"),
                            meter=CountingMeter())
    assert len(calls) == 7 and len(times) == 5 and (times >= 0).all()
    assert e == pytest.approx(0.3)


def test_quick_profile_of_vgg8():
    before = torch.get_num_threads()
    prof = profile_model("vgg8", device="cpu", granularity="layer", repeats=3, warmup=1, threads=1,
                         progress=False, notes="unit test")
    assert torch.get_num_threads() == before  # restored
    m, df = prof.meta, prof.df
    assert m["n_units"] == len(df) == 8 and m["threads"] == 1 and m["repeats"] == 3
    assert m["source_kind"] == "measured" and m["notes"] == "unit test"
    if not HAS_RAPL:
        assert m["energy_source"] == "unavailable" and df["energy_j"].isna().all()
    assert (df["time_s"] > 0).all() and (df["time_spread_s"] >= 0).all()
    assert m["sum_unit_median_s"] == pytest.approx(df["time_s"].sum())
    assert m["sum_to_whole_ratio"] == pytest.approx(m["sum_unit_median_s"] / m["whole_model_median_s"])
    # Sanity of the measurement itself: units add up to the whole model within a factor of two.
    assert 0.5 < m["sum_to_whole_ratio"] < 2.0
    assert list(df["out_bytes"])[-1] == 40 and m["input_bytes"] == 12288


def test_quick_profile_block_with_fake_meter():
    prof = profile_model("vgg8", granularity="block", repeats=2, warmup=0, progress=False, meter=CountingMeter())
    assert prof.meta["energy_source"] == "rapl"
    assert np.allclose(prof.df["energy_j"], 0.75)
    assert list(prof.df["layer_first"]) == list(range(8))


@pytest.mark.parametrize("kw,match", [({"repeats": 0}, "repeats"), ({"threads": 0}, "threads"),
                                      ({"device": "tpu"}, "device"), ({"warmup": -1}, "warmup")])
def test_profiler_argument_errors(kw, match):
    with pytest.raises(ProfilerError, match=match):
        profile_model("vgg8", progress=False, **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="host has CUDA")
def test_cuda_requested_without_gpu_is_a_clear_error():
    with pytest.raises(ProfilerError, match="no CUDA GPU"):
        profile_model("vgg8", device="cuda", progress=False)


def test_interleaved_order_profile():
    prof = profile_model("vgg8", granularity="layer", repeats=3, warmup=1, whole_repeats=2, progress=False,
                         order="interleaved", meter=UnavailableMeter("test"))
    m = prof.meta
    assert m["order"] == "interleaved" and m["whole_model_repeats"] == 2
    assert m["energy_source"] == "unavailable" and prof.df["energy_j"].isna().all()
    assert (prof.df["time_s"] > 0).all() and 0.5 < m["sum_to_whole_ratio"] < 2.0
    with pytest.raises(ProfilerError, match="cannot attribute energy"):
        profile_model("vgg8", repeats=1, progress=False, order="interleaved", meter=CountingMeter())
    with pytest.raises(ProfilerError, match="order"):
        profile_model("vgg8", repeats=1, progress=False, order="random")
