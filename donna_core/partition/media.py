"""Communication media and the paper's Table I presets.

A medium is a bandwidth in bytes per second, an energy per transmitted bit and a per-message latency; sending
one message of ``b`` bytes takes :func:`message_time` seconds and ``8 * b * energy_J_per_bit`` joules (eq. 5).

Without a ``time_curve`` the time is the line ``latency_s + b / bandwidth_Bps`` (paper eq. 4, plus the latency
the paper omits; 0 for the presets). With a curve ``((b_1, t_1), ..., (b_n, t_n))`` (``n >= 2``, bytes strictly
increasing, times non-decreasing) the time is

* ``b_1 <= b <= b_n``: linear interpolation of ``log t`` over ``log b`` between the two neighbouring points (a
  power law per segment; monotone because the times are);
* ``b > b_n``: ``t_n + (b - b_n) / bandwidth_Bps`` -- the line's slope, anchored at the last point;
* ``b < b_1``: ``max(0, t_1 - (b_1 - b) / bandwidth_Bps)`` -- the same, anchored at the first point.

So the time is continuous and non-decreasing in ``b`` by construction; beyond the ends it follows the line's
slope but not necessarily its intercept (``latency_s`` is then only used when there is no curve).

``shared``: every message over the medium, between any pair of devices, uses one channel (a radio channel),
so the medium's busy time per inference is the sum of its messages' times (see :mod:`.costs`).
``cpu``: per device type, the processor time a message costs its sender and its receiver
(:class:`CpuCost`); zero unless given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class CpuCost:
    """Seconds of a device's busy time per message and per byte, when it sends and when it receives."""
    send_s: float = 0.0
    send_s_per_byte: float = 0.0
    recv_s: float = 0.0
    recv_s_per_byte: float = 0.0

    def send(self, nbytes):
        return self.send_s + nbytes * self.send_s_per_byte

    def recv(self, nbytes):
        return self.recv_s + nbytes * self.recv_s_per_byte

    @property
    def zero(self) -> bool:
        return not (self.send_s or self.send_s_per_byte or self.recv_s or self.recv_s_per_byte)


@dataclass(frozen=True)
class Medium:
    bandwidth_Bps: float
    energy_J_per_bit: float
    description: str = ""
    latency_s: float = 0.0
    time_curve: tuple[tuple[float, float], ...] | None = None
    shared: bool = False
    cpu: dict[str, CpuCost] = field(default_factory=dict, hash=False, compare=False)

    def transfer_time_s(self, nbytes):
        return message_time(self, nbytes)

    def transfer_energy_j(self, nbytes):
        return nbytes * 8.0 * self.energy_J_per_bit


def message_time(medium: Medium, nbytes):
    """Seconds to send one message of ``nbytes`` (scalar or array) over ``medium``: the one rule every solver, the
    cost model and the link emulation use (module docstring)."""
    if medium.time_curve is None:
        return medium.latency_s + nbytes / medium.bandwidth_Bps
    pts = np.asarray(medium.time_curve, dtype=float)
    b = np.asarray(nbytes, dtype=float)
    lb, lt = np.log(pts[:, 0]), np.log(pts[:, 1])
    with np.errstate(divide="ignore"):
        inner = np.exp(np.interp(np.log(np.clip(b, pts[0, 0], pts[-1, 0])), lb, lt))
    # at the points themselves use the measured value exactly (exp(log(t)) may differ in the last bit)
    inner = np.where(b == pts[0, 0], pts[0, 1], np.where(b == pts[-1, 0], pts[-1, 1], inner))
    above = pts[-1, 1] + (b - pts[-1, 0]) / medium.bandwidth_Bps
    below = np.maximum(0.0, pts[0, 1] - (pts[0, 0] - b) / medium.bandwidth_Bps)
    out = np.where(b > pts[-1, 0], above, np.where(b < pts[0, 0], below, inner))
    return float(out) if out.ndim == 0 else out


def check_time_curve(curve, path: str) -> tuple[tuple[float, float], ...]:
    """Validate a ``time_curve`` value; raises ``ValueError`` with a one-line message naming ``path``."""
    if not isinstance(curve, list) or len(curve) < 2:
        raise ValueError(f"{path}: must be a list of at least 2 [bytes, seconds] points")
    out = []
    for i, pt in enumerate(curve):
        where = f"{path}[{i}]"
        if not (isinstance(pt, list) and len(pt) == 2):
            raise ValueError(f"{where}: must be [bytes, seconds]")
        for k, (v, what) in enumerate(zip(pt, ("bytes", "seconds"))):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)) or v <= 0:
                raise ValueError(f"{where}[{k}]: {what} must be a finite number > 0, got {v!r}")
        b, t = float(pt[0]), float(pt[1])
        if out and b <= out[-1][0]:
            raise ValueError(f"{where}[0]: bytes must be strictly increasing, got {b:g} after {out[-1][0]:g}")
        if out and t < out[-1][1]:
            raise ValueError(f"{where}[1]: seconds must be non-decreasing, got {t:g} after {out[-1][1]:g}")
        out.append((b, t))
    return tuple(out)


def curve_from(nbytes: Sequence[float], seconds: Sequence[float]) -> list[list[float]]:
    """A valid ``time_curve`` from measured points: sizes ascending, times made non-decreasing by isotonic
    regression of log time (pool adjacent violators: a larger message measured faster than a smaller one is
    noise, and the pooled mean moves the fewest points, unlike a running maximum that lets one slow outlier at
    a small size lift every size after it)."""
    pts = sorted(zip(nbytes, seconds))
    blocks: list[list[float]] = []          # [mean of log t, count]
    for _, t in pts:
        blocks.append([math.log(t), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    logs = [(m, n) for m, n in blocks for _ in range(int(n))]
    # a point left alone keeps its measured value exactly (exp(log t) may differ in the last bit)
    return [[float(b), float(t if n == 1 else math.exp(m))] for (b, t), (m, n) in zip(pts, logs)]


# Table I of the paper (GB = 1e9 bytes, MB = 1e6 bytes); the paper's own sources are cited in its references
# [15]-[18]: PCIe-5 64 GB/s and 6.5 pJ/b; HB-WCC (5G-class) 1 GB/s and 0.1 uJ/b; LB-WCC 3.5 MB/s and 50 uJ/b.
# The "-shared" variants are not in the paper: the same radios, but every transmitter shares one channel.
MEDIA_PRESETS: dict[str, Medium] = {
    "pcie5": Medium(64e9, 6.5e-12, "PCIe-5 (paper Table I: 64 GB/s [15], 6.5 pJ/b [16])"),
    "hb-wcc": Medium(1e9, 0.1e-6, "High-bandwidth wireless (paper Table I: 1 GB/s [17], 0.1 uJ/b [18])"),
    "lb-wcc": Medium(3.5e6, 50e-6, "Low-bandwidth wireless (paper Table I: 3.5 MB/s [18], 50 uJ/b [18])"),
    "hb-wcc-shared": Medium(1e9, 0.1e-6, "HB-WCC as in Table I, all transmitters sharing one channel", shared=True),
    "lb-wcc-shared": Medium(3.5e6, 50e-6, "LB-WCC as in Table I, all transmitters sharing one channel", shared=True),
}

# Spellings users reach for; they resolve to the canonical preset names above.
MEDIUM_ALIASES = {"pcie-5": "pcie5", "pcie": "pcie5", "hbwcc": "hb-wcc", "lbwcc": "lb-wcc"}


def canonical_medium_name(name: str) -> str:
    key = name.strip().lower()
    return MEDIUM_ALIASES.get(key, key)
