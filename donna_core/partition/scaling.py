"""Exact power-of-two rescaling of a problem whose costs sit near the ends of the float range.

The solvers compare costs with relative slacks (``x * (1 + 1e-9)``) and divide by the normalisation constants;
with subnormal costs (below 2.2e-308) a relative slack rounds away and a quotient keeps only a few digits, so a
bound can cut off the optimum itself. Multiplying every time (unit times, latencies, and bytes / bandwidth
through the bandwidth) by ``2^kt`` and every energy by ``2^ke`` is exact in binary floating point (only the
exponent changes, subnormal inputs included) and changes no plan's objective, which is normalised
(both constants scale the same way). Problems already in the safe range are returned unchanged, so their
plans and tie-breaks are bit-identical.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .costs import norm_constants
from .problem import Problem

SAFE_LOW, SAFE_HIGH = 2.0 ** -500, 2.0 ** 500


def _exponent(x: float) -> int:
    """Power of two that brings ``x`` (> 0) to about 1, or 0 when it is already in the safe range."""
    if SAFE_LOW <= x <= SAFE_HIGH:
        return 0
    return -math.frexp(x)[1]


def rescaled(p: Problem) -> Problem:
    """``p`` with times scaled by ``2^kt`` and energies by ``2^ke`` so that both norms are about 1 (``p`` itself
    when they are in ``[2^-500, 2^500]``)."""
    norm = norm_constants(p)
    kt, ke = _exponent(norm["time_s"]), _exponent(norm["energy_j"])
    if kt == 0 and ke == 0:
        return p
    return dataclasses.replace(
        p, time_s=np.ldexp(p.time_s, kt), link_lat=np.ldexp(p.link_lat, kt), link_bw=np.ldexp(p.link_bw, -kt),
        energy_j=np.ldexp(p.energy_j, ke), link_epb=np.ldexp(p.link_epb, ke))
