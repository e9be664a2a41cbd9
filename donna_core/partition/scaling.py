"""Exact power-of-two rescaling of a problem whose costs sit near the ends of the float range.

The solvers compare costs with relative slacks (``x * (1 + 1e-9)``) and divide by the normalisation constants;
with subnormal costs (below 2.2e-308) a relative slack rounds away and a quotient keeps only a few digits, so a
bound can cut off the optimum itself. Multiplying every time (unit times, latencies, and bytes / bandwidth
through the bandwidth) by ``2^kt`` and every energy by ``2^ke`` is exact in binary floating point (only the
exponent changes, subnormal inputs included) and changes no plan's objective, which is normalised
(both constants scale the same way). Only scaling *up* is done (scaling down could turn small costs
subnormal), only when a norm is below ``2^-900``, and only when every scaled quantity stays finite and every
scaled bandwidth normal (when any bytes are sent); other problems are returned unchanged, so their plans
and tie-breaks are bit-identical.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .costs import norm_constants
from .problem import Problem

SAFE_LOW = 2.0 ** -900    # relative slacks of 1e-9 (about 2^-30) stay normal above this
TINY = np.finfo(float).tiny


def _exponent(x: float) -> int:
    """Power of two that brings ``x`` (> 0) to about 1, or 0 when it is not below the safe range."""
    return -math.frexp(x)[1] if x < SAFE_LOW else 0


def rescaled(p: Problem) -> Problem:
    """``p`` with times scaled by ``2^kt`` and energies by ``2^ke`` so that both norms are about 1 (``p`` itself
    when they are in ``[2^-500, 2^500]``)."""
    if p.extended:
        # time curves and per-message CPU costs are not rescaled here; such problems are solved as given
        return p
    norm = norm_constants(p)
    kt, ke = _exponent(norm["time_s"]), _exponent(norm["energy_j"])
    if kt == 0 and ke == 0:
        return p
    with np.errstate(all="ignore"):
        q = dataclasses.replace(
            p, time_s=np.ldexp(p.time_s, kt), link_lat=np.ldexp(p.link_lat, kt), link_bw=np.ldexp(p.link_bw, -kt),
            energy_j=np.ldexp(p.energy_j, ke), link_epb=np.ldexp(p.link_epb, ke))
        arrays = (q.time_s, q.link_lat, q.energy_j, q.link_epb)
        nbytes = max(float(p.out_bytes.max(initial=0.0)), float(p.input_bytes))
        # every product and sum a solver forms from them (cut 0..L, all types) must stay finite too
        extremes = (8.0 * nbytes * q.link_epb.max(), q.link_lat.max() + nbytes / q.link_bw.min(),
                    q.time_s.sum(axis=1).max(), q.energy_j.sum(axis=1).max())
        safe = (all(np.isfinite(a).all() for a in arrays)
                and bool((q.link_bw >= (TINY if nbytes > 0 else 0.0)).all() and (q.link_bw > 0).all())
                and all(math.isfinite(float(x)) for x in extremes))
        if safe:
            n = norm_constants(q)
            safe = math.isfinite(n["time_s"]) and math.isfinite(n["energy_j"])
    return q if safe else p
