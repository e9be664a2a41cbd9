"""Communication media and the paper's Table I presets.

A medium is a bandwidth in bytes per second, an energy per transmitted bit and a per-message latency; sending
one message of ``b`` bytes takes ``latency_s + b / bandwidth_Bps`` seconds (paper eq. 4, plus the latency the
paper omits; 0 for the presets) and ``8 * b * energy_J_per_bit`` joules (eq. 5).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Medium:
    bandwidth_Bps: float
    energy_J_per_bit: float
    description: str = ""
    latency_s: float = 0.0

    def transfer_time_s(self, nbytes):
        return self.latency_s + nbytes / self.bandwidth_Bps

    def transfer_energy_j(self, nbytes):
        return nbytes * 8.0 * self.energy_J_per_bit


# Table I of the paper (GB = 1e9 bytes, MB = 1e6 bytes); the paper's own sources are cited in its references
# [15]-[18]: PCIe-5 64 GB/s and 6.5 pJ/b; HB-WCC (5G-class) 1 GB/s and 0.1 uJ/b; LB-WCC 3.5 MB/s and 50 uJ/b.
MEDIA_PRESETS: dict[str, Medium] = {
    "pcie5": Medium(64e9, 6.5e-12, "PCIe-5 (paper Table I: 64 GB/s [15], 6.5 pJ/b [16])"),
    "hb-wcc": Medium(1e9, 0.1e-6, "High-bandwidth wireless (paper Table I: 1 GB/s [17], 0.1 uJ/b [18])"),
    "lb-wcc": Medium(3.5e6, 50e-6, "Low-bandwidth wireless (paper Table I: 3.5 MB/s [18], 50 uJ/b [18])"),
}

# Spellings users reach for; they resolve to the canonical preset names above.
MEDIUM_ALIASES = {"pcie-5": "pcie5", "pcie": "pcie5", "hbwcc": "hb-wcc", "lbwcc": "lb-wcc"}


def canonical_medium_name(name: str) -> str:
    key = name.strip().lower()
    return MEDIUM_ALIASES.get(key, key)
