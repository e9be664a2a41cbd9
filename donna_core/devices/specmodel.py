"""Spec-sheet time/energy model of a CPU or GPU running one partition unit at batch size 1.

Per unit (additive, no overlap of compute, memory traffic and dispatch — a deliberately simple, linear model
whose three coefficients can be fitted by least squares):

    time_s   = n_ops × dispatch_s  +  2·MACs / (peak_flops × compute_eff)  +  bytes / (mem_bw × mem_eff)
    energy_j = active_power_w × time_s

* ``n_ops`` = kernels/ops the framework launches for the unit (conv, batch-norm, ReLU, pool, add, ...); on a GPU
  each costs a launch + framework dispatch overhead, on a CPU the framework's per-op dispatch.  At batch 1 small
  layers are dominated by this term (overhead-bound), which is why a GPU is much less than its peak there.
* ``bytes`` = weights + activations in + activations out (FP32), i.e. a lower bound of DRAM traffic that assumes
  no cache reuse across units.
* ``energy = active power × time``: the device's average power while it computes, taken as its board/package
  power limit (TGP/TDP) — an upper bound; real batch-1 draw is lower, notably on the GPU.  Idle power is
  recorded for reference but not added (the paper's per-layer energy is the energy while the layer runs).

The efficiencies and the dispatch overhead are fitted on measured CPU profiles of the host (:func:`calibrate`)
and carried to the Xeon preset; the GPU preset's are assumptions (no GPU is available to calibrate on).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .fitting import nnls, nnls_relative


class SpecModelError(ValueError):
    """Bad device spec or unit table for the spec model."""


@dataclass(frozen=True)
class DeviceSpec:
    """A device's spec-sheet numbers plus the model's efficiency factors (see module doc)."""
    name: str
    peak_flops: float          # FP32 FLOP/s
    mem_bw_Bps: float          # bytes/s
    dispatch_s: float          # per launched op
    compute_eff: float         # achieved fraction of peak_flops on conv/linear work
    mem_eff: float             # achieved fraction of mem_bw
    active_power_w: float
    idle_power_w: float | None = None
    sources: dict = field(default_factory=dict)   # parameter -> where the number comes from

    def __post_init__(self):
        for k in ("peak_flops", "mem_bw_Bps", "compute_eff", "mem_eff", "active_power_w"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise SpecModelError(f"DeviceSpec {self.name!r}: {k} must be a positive number, got {v!r}")
        if not (np.isfinite(self.dispatch_s) and self.dispatch_s >= 0):
            raise SpecModelError(f"DeviceSpec {self.name!r}: dispatch_s must be >= 0, got {self.dispatch_s!r}")
        if self.compute_eff > 1 or self.mem_eff > 1:
            raise SpecModelError(f"DeviceSpec {self.name!r}: efficiencies must be <= 1 "
                                 f"(compute_eff={self.compute_eff}, mem_eff={self.mem_eff})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------------------
# Presets.  Every number has its source beside it.
# ---------------------------------------------------------------------------------------------------------
RTX3070TI_SPEC = {
    # NVIDIA GeForce RTX 3070 Ti product page / GA104 spec table: 6144 CUDA cores, boost clock 1.77 GHz
    # -> 6144 × 2 FLOP (FMA) × 1.77e9 = 21.75 TFLOP/s FP32 (NVIDIA quotes 21.7 TFLOPS).
    "peak_flops": 6144 * 2 * 1.77e9,
    # Same page: 8 GB GDDR6X, 19 Gbps on a 256-bit bus -> 19e9 × 256 / 8 = 608 GB/s.
    "mem_bw_Bps": 608e9,
    # Same page: Total Graphics Power 290 W (used as the active power: an upper bound at batch 1).
    "active_power_w": 290.0,
}
XEON_W3323_SPEC = {
    # Intel ARK, Xeon W-3323 (Ice Lake-W, Q3'21): 12 cores, base 3.50 GHz (max turbo 3.90 GHz), 2 AVX-512 FMA
    # units -> 2 units × 16 FP32 lanes × 2 FLOP = 64 FLOP/cycle/core; peak = 12 × 64 × 3.5e9 = 2.69 TFLOP/s.
    # Uncertainty: all-core AVX-512 clocks are below base, so this is an upper bound; ARK's "2 AVX-512 FMA
    # units" is from memory of the ARK page (the search tool could not confirm it): with 1 unit the peak halves.
    # (The brief's "32 FLOP/cycle/core" counts an FMA as one FLOP per lane; we count 2 FLOP per FMA
    # consistently with the GPU.)
    "cores": 12,
    "flop_per_cycle_core": 64,
    "clock_hz": 3.5e9,
    # Intel ARK: 8 memory channels, DDR4-3200 -> 8 × 3200e6 × 8 B = 204.8 GB/s.
    "mem_bw_Bps": 8 * 3200e6 * 8,
    # Intel ARK: TDP 220 W (used as the active power while computing: package power under sustained load).
    "active_power_w": 220.0,
}


def rtx3070ti(dispatch_s: float = 8e-6, compute_eff: float = 0.5, mem_eff: float = 0.7) -> DeviceSpec:
    """RTX 3070 Ti preset.  The three model factors are *assumptions* (no GPU to calibrate on here):
    ~8 µs per op (CUDA launch ≈ 3–5 µs plus PyTorch eager dispatch at batch 1), cuDNN FP32 at ~50 % of peak on
    large convs, ~70 % of GDDR6X bandwidth achievable by streaming kernels."""
    s = RTX3070TI_SPEC
    return DeviceSpec(
        name="gpu-rtx3070ti", peak_flops=s["peak_flops"], mem_bw_Bps=s["mem_bw_Bps"], dispatch_s=dispatch_s,
        compute_eff=compute_eff, mem_eff=mem_eff, active_power_w=s["active_power_w"], idle_power_w=None,
        sources={
            "peak_flops": "NVIDIA RTX 3070 Ti spec: 6144 CUDA cores x 2 FLOP x 1.77 GHz boost = 21.7 TFLOP/s FP32",
            "mem_bw_Bps": "NVIDIA RTX 3070 Ti spec: 8 GB GDDR6X 19 Gbps, 256-bit = 608 GB/s",
            "active_power_w": "NVIDIA RTX 3070 Ti spec: Total Graphics Power 290 W (upper bound of batch-1 draw)",
            "idle_power_w": "not on the datasheet; not used",
            "dispatch_s": "assumption: CUDA launch + PyTorch eager dispatch per op at batch 1 (not calibrated)",
            "compute_eff": "assumption: cuDNN FP32 conv efficiency (not calibrated)",
            "mem_eff": "assumption: achievable fraction of DRAM bandwidth (not calibrated)",
        })


def xeon_w3323(dispatch_s: float, compute_eff: float, mem_eff: float, calibration: str = "",
               host: str = "a 2.45 GHz AMD EPYC VM") -> DeviceSpec:
    """Xeon W-3323 preset with the model factors carried over from the host calibration (:func:`calibrate`).

    ``host`` names the CPU the calibration profiles were measured on (it goes into the provenance text).

    Assumes all 12 cores are used with the per-core efficiency measured on one host thread (optimistic for
    small batch-1 layers, whose parallel scaling is worse)."""
    s = XEON_W3323_SPEC
    return DeviceSpec(
        name="cpu-xeon-w3323", peak_flops=s["cores"] * s["flop_per_cycle_core"] * s["clock_hz"],
        mem_bw_Bps=s["mem_bw_Bps"], dispatch_s=dispatch_s, compute_eff=compute_eff, mem_eff=mem_eff,
        active_power_w=s["active_power_w"], idle_power_w=None,
        sources={
            "peak_flops": "Intel ARK Xeon W-3323: 12 cores x 3.5 GHz base x 2 AVX-512 FMA units (64 FP32 FLOP/cycle) "
                          "= 2.69 TFLOP/s; upper bound (AVX-512 all-core clock < base)",
            "mem_bw_Bps": "Intel ARK Xeon W-3323: 8 channels DDR4-3200 = 204.8 GB/s",
            "active_power_w": "Intel ARK Xeon W-3323: TDP 220 W",
            "idle_power_w": "not on the datasheet; not used",
            "dispatch_s": f"calibrated on this project's host CPU profiles ({calibration}); host is {host}, "
                          "the Xeon runs at 3.5-3.9 GHz, so this is likely an overestimate",
            "compute_eff": f"calibrated on this project's host CPU profiles ({calibration}) as a fraction of the "
                           "host's AVX2 peak and applied to the Xeon's AVX-512 peak on all 12 cores: assumes "
                           "PyTorch/oneDNN reach the same fraction of AVX-512 peak and perfect 12-core scaling at "
                           "batch 1 (optimistic for small layers)",
            "mem_eff": f"calibrated on this project's host CPU profiles ({calibration})",
        })


def host_spec_from_cpuinfo(threads: int = 1, flop_per_cycle_core: int | None = None,
                           clock_hz: float | None = None, mem_bw_Bps: float | None = None) -> dict:
    """Peak numbers of this machine's CPU from /proc/cpuinfo (x86): FLOP/cycle from the ISA flags.

    AVX-512F -> 64 FP32 FLOP/cycle/core (2 FMA units assumed), AVX2+FMA -> 32, else 8.  Clock: the TSC rate
    reported as ``bogomips / 2`` (a nominal clock; turbo and VM throttling are unknown).
    """
    flags, bogo, model = set(), None, "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("bogomips") and bogo is None:
                    bogo = float(line.split(":", 1)[1])
                elif line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    if flop_per_cycle_core is None:
        flop_per_cycle_core = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    if clock_hz is None:
        if bogo is None:
            raise SpecModelError("host clock unknown: /proc/cpuinfo has no bogomips; pass clock_hz")
        clock_hz = bogo / 2 * 1e6
    return {"model": model, "threads": threads, "flop_per_cycle_core": flop_per_cycle_core, "clock_hz": clock_hz,
            "peak_flops": threads * flop_per_cycle_core * clock_hz, "mem_bw_Bps": mem_bw_Bps,
            "source": "/proc/cpuinfo (flags, bogomips/2 as clock)"}


# ---------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------
def unit_work(table: pd.DataFrame, input_bytes: float) -> pd.DataFrame:
    """FLOPs, bytes moved and op count per unit from a unit/profile table.

    Needs columns ``macs``, ``weight_bytes``, ``out_bytes``; ``n_ops`` is used when present (else 1).
    Bytes in of unit i = bytes live across the cut before it (``out_bytes`` of unit i−1, ``input_bytes`` for
    the first unit).
    """
    for c in ("macs", "weight_bytes", "out_bytes"):
        if c not in table.columns:
            raise SpecModelError(f"unit table lacks column {c!r}")
    macs = table["macs"].astype(float).to_numpy()
    wb = table["weight_bytes"].astype(float).to_numpy()
    ob = table["out_bytes"].astype(float).to_numpy()
    for name, arr in (("macs", macs), ("weight_bytes", wb), ("out_bytes", ob)):
        if np.any(~np.isfinite(arr)) or np.any(arr < 0):
            i = int(np.argmax(~np.isfinite(arr) | (arr < 0)))
            raise SpecModelError(f"unit {i} ({table.iloc[i].get('unit', '?')}): bad {name} {arr[i]!r}")
    inb = np.concatenate([[float(input_bytes)], ob[:-1]])
    n_ops = table["n_ops"].astype(float).to_numpy() if "n_ops" in table.columns else np.ones(len(table))
    return pd.DataFrame({"flops": 2.0 * macs, "bytes": wb + inb + ob, "n_ops": n_ops})


def predict(spec: DeviceSpec, work: pd.DataFrame) -> pd.DataFrame:
    """Per-unit ``time_s``, ``energy_j`` and the three time components (``dispatch_s``, ``compute_s``, ``memory_s``)."""
    d = work["n_ops"].to_numpy(float) * spec.dispatch_s
    c = work["flops"].to_numpy(float) / (spec.peak_flops * spec.compute_eff)
    m = work["bytes"].to_numpy(float) / (spec.mem_bw_Bps * spec.mem_eff)
    t = d + c + m
    return pd.DataFrame({"time_s": t, "energy_j": spec.active_power_w * t, "dispatch_s": d, "compute_s": c,
                         "memory_s": m})


def calibrate(work: pd.DataFrame, measured_time_s, peak_flops: float, mem_bw_Bps: float,
              max_eff: float = 1.0) -> dict:
    """Fit ``dispatch_s``, ``compute_eff``, ``mem_eff`` to measured per-unit times (least squares on relative
    error, non-negative; numpy only).

    An efficiency the unconstrained fit puts above ``max_eff`` (e.g. memory "efficiency" > 1 because the
    working set of a batch-1 layer sits in cache, so the bytes never reach DRAM) is fixed at ``max_eff`` and the
    other terms are refitted; the unconstrained value is returned as ``<name>_unconstrained``.  An efficiency
    whose term the data cannot resolve (coefficient 0) is returned as ``None``.
    """
    y = np.asarray(measured_time_s, float)
    if y.shape != (len(work),) or np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise SpecModelError("calibrate: measured times must be positive and one per unit")
    X = np.column_stack([work["n_ops"].to_numpy(float), work["flops"].to_numpy(float) / peak_flops,
                         work["bytes"].to_numpy(float) / mem_bw_Bps])
    coef = nnls_relative(X, y)
    out = {}
    fixed = {}
    for j, name in ((1, "compute_eff"), (2, "mem_eff")):
        if coef[j] > 0 and 1 / coef[j] > max_eff:
            out[f"{name}_unconstrained"] = float(1 / coef[j])
            fixed[j] = 1 / max_eff
    if fixed:
        # refit the free terms with the capped ones held fixed, still minimising error relative to y
        free = [j for j in range(3) if j not in fixed]
        rhs = 1.0 - sum(X[:, j] * c for j, c in fixed.items()) / y
        sub = nnls(X[:, free] / y[:, None], rhs)
        coef = np.zeros(3)
        coef[free] = sub
        for j, c in fixed.items():
            coef[j] = c
    a, b, c = coef
    out.update({"dispatch_s": float(a), "compute_eff": (float(1 / b) if b > 0 else None),
                "mem_eff": (float(1 / c) if c > 0 else None)})
    return out
