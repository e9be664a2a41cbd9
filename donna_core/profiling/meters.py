"""Energy meters with one interface: ``start()``, then ``stop() -> joules or None``.

* CPU: pyJoules, RAPL *package* domain (all sockets summed), as the paper's Table II.  RAPL counts the whole
  package, so other processes running at the same time are included in the reading.
* GPU: NVML.  ``nvmlDeviceGetTotalEnergyConsumption`` (mJ counter, Volta and newer) where the GPU supports it,
  else average of ``nvmlDeviceGetPowerUsage`` samples x elapsed time, as the paper did with pynvml.
* Where a meter is missing (no ``/sys/class/powercap``, unreadable counters, no NVML library or GPU) the
  factory returns an :class:`UnavailableMeter`: ``source == "unavailable"``, ``stop()`` returns ``None`` and
  ``reason`` says why.  Never zeros, never a crash.
"""
from __future__ import annotations

import threading
import time
from typing import Optional


class Meter:
    """Base class: measure the energy used between ``start()`` and ``stop()``."""

    source: str = "unavailable"  # one of ENERGY_SOURCES in the profile format
    reason: str = ""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> Optional[float]:
        """Joules consumed since ``start()``, or ``None`` when it cannot be known."""
        raise NotImplementedError

    def __enter__(self) -> "Meter":
        self.joules: Optional[float] = None
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.joules = self.stop()

    def describe(self) -> str:
        return f"{self.source}: {self.reason}" if self.reason else self.source


class UnavailableMeter(Meter):
    """No energy meter on this host; every reading is ``None`` (unknown), never 0."""

    source = "unavailable"

    def __init__(self, reason: str):
        self.reason = reason

    def start(self) -> None:
        pass

    def stop(self) -> Optional[float]:
        return None


class RaplMeter(Meter):
    """pyJoules RAPL package-domain meter (sum over sockets). Raises if RAPL is absent (use :func:`make_meter`)."""

    source = "rapl"

    def __init__(self):
        from pyJoules.device import DeviceFactory
        from pyJoules.device.rapl_device import RaplDevice
        from pyJoules.energy_meter import EnergyMeter

        RaplDevice.available_domains()  # raises NoSuchDeviceError when /sys/class/powercap/intel-rapl is absent
        domains = RaplDevice.available_package_domains()
        if not domains:
            raise RuntimeError("RAPL present but exposes no package domain")
        devices = DeviceFactory.create_devices(domains)
        self._meter = EnergyMeter(devices)
        self._domains = [f"{d.get_domain_name()}_{d.socket}" for d in domains]
        self.reason = "pyJoules RAPL " + "+".join(self._domains)
        # Reading once now surfaces permission problems (energy_uj is root-only on recent kernels) at creation.
        for dev in devices:
            dev.get_energy()

    def start(self) -> None:
        self._meter.start(tag="donna")

    def stop(self) -> Optional[float]:
        self._meter.stop()
        sample = next(iter(self._meter.get_trace()))
        uj = sum(float(sample.energy[d]) for d in self._domains)
        if uj < 0:
            # The 32-bit RAPL counter wrapped during the measurement; the reading is not trustworthy.
            return None
        return uj * 1e-6


def _nvml_handle(pynvml, index: int):
    """NVML handle of torch's CUDA device ``index``.

    CUDA and NVML may number GPUs differently (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER), so match by PCI bus id
    when torch can tell it; otherwise fall back to the same index.
    """
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(index)
            bus = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
            return pynvml.nvmlDeviceGetHandleByPciBusId(bus.encode())
    except Exception:  # any failure here only loses the remapping, not the measurement
        pass
    return pynvml.nvmlDeviceGetHandleByIndex(index)


class NvmlEnergyMeter(Meter):
    """NVML total-energy counter (millijoules since driver load) of GPU ``index``."""

    source = "nvml-energy"

    def __init__(self, index: int = 0):
        import pynvml

        self._nvml = pynvml
        pynvml.nvmlInit()
        self._h = _nvml_handle(pynvml, index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(self._h)  # raises NVMLError_NotSupported on older GPUs
        self.reason = f"NVML nvmlDeviceGetTotalEnergyConsumption, GPU {index}"
        self._e0 = 0

    def start(self) -> None:
        self._e0 = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._h)

    def stop(self) -> Optional[float]:
        return (self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._h) - self._e0) * 1e-3


class NvmlPowerMeter(Meter):
    """Average NVML board power (sampled in a thread every ``interval_s``) x elapsed time, as the paper did."""

    source = "nvml-power"

    def __init__(self, index: int = 0, interval_s: float = 0.005):
        import pynvml

        self._nvml = pynvml
        pynvml.nvmlInit()
        self._h = _nvml_handle(pynvml, index)
        pynvml.nvmlDeviceGetPowerUsage(self._h)
        self.interval_s = interval_s
        self.reason = f"NVML nvmlDeviceGetPowerUsage mean x time, GPU {index}, every {interval_s * 1e3:g} ms"
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _sample(self) -> None:
        while True:
            self._samples.append(self._nvml.nvmlDeviceGetPowerUsage(self._h) * 1e-3)  # mW -> W
            if self._stop.wait(self.interval_s):
                break

    def start(self) -> None:
        self._samples = []
        self._stop.clear()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> Optional[float]:
        elapsed = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self._samples:
            return None
        return sum(self._samples) / len(self._samples) * elapsed


def _pyjoules_missing_errors() -> tuple[type, ...]:
    errs: list[type] = [TypeError, OSError, RuntimeError, ImportError, KeyError]
    try:
        from pyJoules.exception import PyJoulesException

        errs.append(PyJoulesException)  # NoSuchDeviceError, NoSuchDomainError
    except ImportError:
        pass
    return tuple(errs)


def _nvml_missing_errors() -> tuple[type, ...]:
    errs: list[type] = [OSError, ImportError, RuntimeError]
    try:
        import pynvml

        errs.append(pynvml.NVMLError)  # LibraryNotFound, DriverNotLoaded, NotSupported, ...
    except ImportError:
        pass
    return tuple(errs)


def make_meter(device: str) -> Meter:
    """The best available energy meter for torch device string ``device`` ("cpu", "cuda", "cuda:1")."""
    dev = device.strip().lower()
    if dev == "cpu":
        try:
            return RaplMeter()
        except _pyjoules_missing_errors() as exc:
            return UnavailableMeter("no RAPL via pyJoules "
                                    f"({type(exc).__name__}: {str(exc) or 'no /sys/class/powercap'})")
    if dev.startswith("cuda"):
        index = int(dev.split(":", 1)[1]) if ":" in dev else 0
        try:
            return NvmlEnergyMeter(index)
        except _nvml_missing_errors() as exc:
            first = exc
        try:
            return NvmlPowerMeter(index)
        except _nvml_missing_errors() as exc:
            return UnavailableMeter(f"no NVML energy counter ({type(first).__name__}: {first}) "
                                    f"and no NVML power reading ({type(exc).__name__}: {exc})")
    return UnavailableMeter(f"no energy meter known for device {device!r}")
