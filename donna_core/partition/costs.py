"""The cost model shared by every solver, and the evaluation of a given plan.

A plan is an ordered list of stages ``(device, first, last)`` (0-based, inclusive unit indices), contiguous,
covering every unit, each device used at most once. With ``tau`` the device's type:

* stage compute time  ``sum(time_s[tau, first..last])``, compute energy likewise from ``energy_j``;
* between consecutive stages the ``out_bytes`` of the stage's last unit crosses the pair's medium as one
  message: time ``latency_s + bytes / bandwidth`` (paper eq. 4 plus the medium's per-message latency, 0
  unless the problem file sets it), energy ``8 * bytes * J_per_bit`` (eq. 5);
* with a ``source`` device the input (``input_bytes``) is first sent from the source to the first stage's
  device (nothing when they are the same device);
* computation and communication overlap (asynchronous pipeline), so
  ``bottleneck = max(every stage time, every transfer time)``, ``throughput = 1 / bottleneck`` and
  ``energy per inference = sum of all compute and transfer energies``;
* a stage fits a device when the sum of its units' ``weight_bytes`` is at most the type's ``memory_bytes``
  and the type is allowed to run every unit of the stage (``Problem.allowed``).

Normalisation (the paper: each term is normalised "relative to its maximal value derived from the
collective computation and communication operations of all device types"). Our precise reading, computed
by :func:`norm_constants` over the device types and media that actually occur in the problem:

* ``norm.time_s   = max_type sum_{l allowed} time_s[type, l]
  + max_medium sum_{cuts} (latency_s + out_bytes / bandwidth)``
* ``norm.energy_j = max_type sum_{l allowed} energy_j[type, l] + max_medium sum_{cuts} 8 * out_bytes * J_per_bit``

(each "+ the input over the costliest link from the source" when a source is set). That is: the whole model
run on the slowest (most energy-hungry) device type, plus every cut tensor sent over the costliest medium.
Latency is part of a transfer's time, so it counts in the communication term: all L-1 cuts are messages,
each paying the latency of the medium that maximises the sum (one medium for all cuts, as for the bytes).
Units a type may not run (``allowed`` false) are left out of that type's sum: their cost entries are
placeholders that no plan can ever pay.
Both constants scale with their unit, so expressing times in ms instead of s never changes a plan. A
constant that would be 0 (all-zero costs) is replaced by 1.

The objective minimised for a given alpha is ``alpha * bottleneck / norm.time_s + (1 - alpha) * energy /
norm.energy_j``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from .errors import InfeasibleError, PlanError, ProblemError
from .media import message_time
from .problem import Problem

__all__ = ["InfeasibleError", "PlanError", "Result", "StageCost", "Tables", "evaluate", "extended_parts",
           "norm_constants", "objective", "check_alpha"]


@dataclass(frozen=True)
class StageCost:
    device: str
    first: int
    last: int
    compute_s: float
    compute_j: float
    comm_out_s: float
    comm_out_j: float


@dataclass
class Result:
    solver: str
    alpha: float
    stages: list[StageCost]
    bottleneck_s: float
    energy_j: float
    objective: float
    norm: dict
    input_s: float = 0.0
    input_j: float = 0.0
    stats: dict = field(default_factory=dict)
    # shared media / CPU costs only (empty otherwise, so the paper model's output is unchanged):
    # "stage_busy_s" (compute + message CPU time per stage), "shared_busy_s" (medium -> busy time)
    extra: dict = field(default_factory=dict)

    @property
    def throughput_ips(self) -> float:
        return 1.0 / self.bottleneck_s if self.bottleneck_s > 0 else float("inf")

    @property
    def devices(self) -> list[str]:
        return [s.device for s in self.stages]

    def plan(self) -> list[tuple[str, int, int]]:
        return [(s.device, s.first, s.last) for s in self.stages]

    def to_dict(self) -> dict:
        return {
            "solver": self.solver,
            "alpha": self.alpha,
            "stages": [asdict(s) for s in self.stages],
            "bottleneck_s": self.bottleneck_s,
            "throughput_ips": self.throughput_ips,
            "energy_j": self.energy_j,
            "objective": self.objective,
            "norm": dict(self.norm),
            "input_s": self.input_s,
            "input_j": self.input_j,
            **self.extra,
        }


class Tables:
    """Prefix sums and transfer costs of a problem, computed once and shared by the solvers.

    ``pt[t, k] - pt[t, j]`` is the compute time of units ``j..k-1`` on type ``t`` (likewise ``pe``, ``pw``).
    A cut ``j`` (1 <= j < L) sends ``out_bytes[j-1]``. ``pn[t, k] - pn[t, j]`` counts the units of ``j..k-1``
    that type ``t`` may not run. Every solver uses these exact expressions so that threshold comparisons
    between solvers are bit-identical.
    """

    def __init__(self, p: Problem):
        self.p = p
        self.L = p.L
        self.pt = np.concatenate([np.zeros((p.time_s.shape[0], 1)), np.cumsum(p.time_s, axis=1)], axis=1)
        self.pe = np.concatenate([np.zeros((p.energy_j.shape[0], 1)), np.cumsum(p.energy_j, axis=1)], axis=1)
        self.pw = np.concatenate([[0.0], np.cumsum(p.weight_bytes)])
        self.pn = np.concatenate([np.zeros((p.allowed.shape[0], 1), dtype=np.int64),
                                  np.cumsum(~p.allowed, axis=1)], axis=1)
        # cut_bytes[j] = bytes crossing cut j (j = 1..L-1); entries 0 and L are never used as transfers.
        self.cut_bytes = np.concatenate([[0.0], p.out_bytes])
        self.bits = 8.0 * self.cut_bytes
        # media with a measured time curve: message times per (medium, cut) looked up from a table built with
        # media.message_time; without curves the line below is evaluated directly (bit-identical to before)
        names = sorted({m for row in p.link_medium for m in row if m})
        self.curved = any(p.media[m].time_curve is not None for m in names)
        if self.curved:
            self.mid = np.array([[names.index(m) if m else 0 for m in row] for row in p.link_medium])
            self.ct_table = np.array([message_time(p.media[m], self.cut_bytes) for m in names])
            self.in_table = np.array([message_time(p.media[m], p.input_bytes) for m in names])

    def stage_time(self, t: int, j, k):
        return self.pt[t, k] - self.pt[t, j]

    def stage_energy(self, t: int, j, k):
        return self.pe[t, k] - self.pe[t, j]

    def fits(self, t: int, j, k):
        """Units ``j..k-1`` may form a stage on type ``t``: within its memory and all allowed on it."""
        return (self.pw[k] - self.pw[j] <= self.p.memory_bytes[t]) & (self.pn[t, k] == self.pn[t, j])

    def comm_time(self, u, v, j):
        if self.curved:
            return self.ct_table[self.mid[u, v], j]
        return self.p.link_lat[u, v] + self.cut_bytes[j] / self.p.link_bw[u, v]

    def send_cpu(self, u, v, j):
        """Busy time the sender ``u`` spends on the message of cut ``j`` to ``v`` (0 unless calibrated)."""
        c = self.p.cpu_send
        return c[u, v, 0] + self.cut_bytes[j] * c[u, v, 1]

    def recv_cpu(self, u, v, j):
        """Busy time the receiver ``v`` spends on the message of cut ``j`` from ``u``."""
        c = self.p.cpu_recv
        return c[u, v, 0] + self.cut_bytes[j] * c[u, v, 1]

    def input_recv_cpu(self, v: int) -> float:
        s = self.p.source
        if s is None or s == v:
            return 0.0
        return float(self.p.cpu_recv[s, v, 0] + self.p.input_bytes * self.p.cpu_recv[s, v, 1])

    def comm_energy(self, u: int, v: int, j):
        return self.bits[j] * self.p.link_epb[u, v]

    def input_cost(self, v: int) -> tuple[float, float]:
        """Time and energy to bring the input from the source to device ``v`` (0 without a source)."""
        s = self.p.source
        if s is None or s == v:
            return 0.0, 0.0
        if self.curved:
            return float(self.in_table[self.mid[s, v]]), 8.0 * self.p.input_bytes * self.p.link_epb[s, v]
        return (self.p.link_lat[s, v] + self.p.input_bytes / self.p.link_bw[s, v],
                8.0 * self.p.input_bytes * self.p.link_epb[s, v])

    def check_runnable(self) -> None:
        """Raise :class:`InfeasibleError` naming the first unit that no present device can hold: no present
        type is allowed to run it, or it alone exceeds the memory of every type that is."""
        p = self.p
        types = np.unique(p.device_type)
        ok = p.allowed[types] & (p.weight_bytes[None, :] <= p.memory_bytes[types][:, None])
        bad = np.nonzero(~ok.any(axis=0))[0]
        if len(bad) == 0:
            return
        l = int(bad[0])
        names = [p.type_names[t] for t in types]
        barred = [n for t, n in zip(types, names) if not p.allowed[t, l]]
        why = (f"device_types {barred} have allowed[{l}] = false" if len(barred) == len(names) else
               f"its weight_bytes {p.weight_bytes[l]:.0f} exceed the memory of every type allowed to run it "
               f"({[n for n in names if n not in barred]})")
        more = f" (and {len(bad) - 1} more unit(s))" if len(bad) > 1 else ""
        raise InfeasibleError(f"unit {p.unit_names[l]!r} (index {l}) can run on no device present: {why}{more}")


def norm_constants(p: Problem) -> dict:
    """The normalisation constants (see the module docstring for the definition)."""
    types = np.unique(p.device_type)
    ok = p.allowed[types]
    # np.where with an all-True mask returns the rows unchanged, so all-allowed problems keep their old sums
    comp_t = float(np.where(ok, p.time_s[types], 0.0).sum(axis=1).max())
    comp_e = float(np.where(ok, p.energy_j[types], 0.0).sum(axis=1).max())
    cut_bytes = float(p.out_bytes[:-1].sum())
    n_cuts = p.L - 1
    comm_t = comm_e = 0.0
    D = p.D
    if D > 1 and (cut_bytes > 0 or n_cuts > 0 and p.link_lat.any()):
        off = ~np.eye(D, dtype=bool)
        # with zero latency this is cut_bytes / min(bw) exactly (division is monotone), as before latencies
        comm_t = float((n_cuts * p.link_lat[off] + cut_bytes / p.link_bw[off]).max())
        comm_e = float(8.0 * cut_bytes * p.link_epb[off].max())
    curved = D > 1 and any(p.media[m].time_curve is not None for row in p.link_medium for m in row if m)
    if curved:
        # the same definition with each medium's own message times: max over media of the sum over all cuts
        names = {m for row in p.link_medium for m in row if m}
        comm_t = max(float(np.sum(message_time(p.media[m], p.out_bytes[:-1]))) for m in names) if n_cuts else 0.0
    if p.source is not None and D > 1 and curved:
        others = {p.link_medium[p.source][v] for v in range(D) if v != p.source}
        comm_t += max(float(message_time(p.media[m], p.input_bytes)) for m in others)
        comm_e += float(8.0 * p.input_bytes * p.link_epb[p.source, [v for v in range(D) if v != p.source]].max())
    elif p.source is not None and D > 1:
        others = [v for v in range(D) if v != p.source]
        comm_t += float((p.link_lat[p.source, others] + p.input_bytes / p.link_bw[p.source, others]).max())
        comm_e += float(8.0 * p.input_bytes * p.link_epb[p.source, others].max())
    time_s = comp_t + comm_t
    energy_j = comp_e + comm_e
    return {"time_s": time_s if time_s > 0 else 1.0, "energy_j": energy_j if energy_j > 0 else 1.0}


def objective(alpha: float, bottleneck_s: float, energy_j: float, norm: dict) -> float:
    return alpha * bottleneck_s / norm["time_s"] + (1.0 - alpha) * energy_j / norm["energy_j"]


def check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (0.0 <= float(alpha) <= 1.0):
        raise ProblemError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def evaluate(p: Problem, plan: Sequence[tuple], alpha: float = 1.0, solver: str = "given",
             tables: Tables | None = None, norm: dict | None = None) -> Result:
    """Cost of a plan given as ``[(device name or index, first, last), ...]`` (0-based, inclusive)."""
    alpha = check_alpha(alpha)
    tb = tables or Tables(p)
    norm = norm or norm_constants(p)
    if not plan:
        raise PlanError("plan has no stages")
    devs, expect = [], 0
    for n, (dev, first, last) in enumerate(plan):
        d = p.device_index(dev) if isinstance(dev, str) else int(dev)
        if not 0 <= d < p.D:
            raise PlanError(f"stage {n}: device index {dev} out of range 0..{p.D - 1}")
        if d in devs:
            raise PlanError(f"stage {n}: device {p.device_names[d]!r} is used twice")
        if first != expect or last < first or last >= p.L:
            raise PlanError(f"stage {n}: units {first}..{last} do not continue the plan at unit {expect} "
                            f"(L = {p.L})")
        t = p.device_type[d]
        barred = np.nonzero(~p.allowed[t, first:last + 1])[0]
        if len(barred):
            l = first + int(barred[0])
            raise PlanError(f"stage {n}: unit {p.unit_names[l]!r} (index {l}) may not run on "
                            f"{p.device_names[d]!r} (device_types[{p.type_names[t]!r}].allowed[{l}] is false)")
        if not tb.fits(t, first, last + 1):
            raise PlanError(f"stage {n}: units {first}..{last} need {tb.pw[last + 1] - tb.pw[first]:.0f} bytes "
                            f"but {p.device_names[d]!r} has {p.memory_bytes[p.device_type[d]]:.0f}")
        devs.append(d)
        expect = last + 1
    if expect != p.L:
        raise PlanError(f"plan covers units 0..{expect - 1} but the model has {p.L} units")
    stages = []
    in_s, in_j = tb.input_cost(devs[0])
    parts_t, total_e = [in_s], in_j
    for n, (d, (_, first, last)) in enumerate(zip(devs, plan)):
        t = p.device_type[d]
        cs, cj = float(tb.stage_time(t, first, last + 1)), float(tb.stage_energy(t, first, last + 1))
        if n + 1 < len(devs):
            os_, oj = float(tb.comm_time(d, devs[n + 1], last + 1)), float(tb.comm_energy(d, devs[n + 1], last + 1))
        else:
            os_, oj = 0.0, 0.0
        stages.append(StageCost(p.device_names[d], int(first), int(last), cs, cj, os_, oj))
        parts_t += [cs, os_]
        total_e += cj + oj
    extra = {}
    if p.extended:
        parts_t, extra = extended_parts(tb, devs, [(f, l) for _, f, l in plan], in_s)
    b = float(max(parts_t))
    return Result(solver, alpha, stages, b, float(total_e), objective(alpha, b, total_e, norm), norm,
                  float(in_s), float(in_j), extra=extra)


def extended_parts(tb: Tables, devs: list[int], spans: list[tuple[int, int]], in_s: float):
    """The bottleneck's parts under shared media and CPU costs (README "Cost model"): each stage's busy time
    (compute + CPU time of its receive and its send), each transfer over an independent link, and per shared
    medium the sum of every message over it (the input included). Returns (parts, extra) with ``extra``
    naming the stage busy times and the shared media's busy times."""
    p = tb.p
    busy = [float(tb.stage_time(p.device_type[d], f, l + 1)) for d, (f, l) in zip(devs, spans)]
    shared = [0.0] * len(p.shared_media)
    parts = []
    if p.source is not None and p.source != devs[0]:
        busy[0] += tb.input_recv_cpu(devs[0])
        sid = p.link_shared[p.source, devs[0]]
        if sid >= 0:
            shared[sid] += float(in_s)
        else:
            parts.append(in_s)
    for n in range(len(devs) - 1):
        u, v, j = devs[n], devs[n + 1], spans[n][1] + 1
        busy[n] += float(tb.send_cpu(u, v, j))
        busy[n + 1] += float(tb.recv_cpu(u, v, j))
        t = float(tb.comm_time(u, v, j))
        sid = p.link_shared[u, v]
        if sid >= 0:
            shared[sid] += t
        else:
            parts.append(t)
    parts += busy + shared
    return parts, {"stage_busy_s": busy, "shared_busy_s": {m: float(x) for m, x in zip(p.shared_media, shared)}}
