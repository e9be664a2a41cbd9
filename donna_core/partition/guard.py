"""Size guard: how many states and bytes a solver would need, checked against a memory budget before allocating.

The exact solver's state space is ``prod(class size + 1) x K x (L + 1)`` (:mod:`donna_core.partition.classes`);
with devices that all differ (distinct links or types) every class has one member and the product is ``2^D``,
which for D = 64 overflows int64. All counts here are Python ints, so they never overflow; the estimate is
computed from the class *members* alone (:func:`class_members`), never from the count-vector table itself.

Per solver (8-byte floats/ints; ``M`` count vectors, ``K`` classes, ``T`` types, ``L1 = L + 1``):

* ``exact``: the arrays listed by :func:`donna_core.partition.exact_sizes.exact_arrays` (the same list the
  solver allocates from): at alpha in {0, 1} the scalar DP's ``M x K x L1`` tables and ``O(T x L1)`` windows
  (no ``L1 x L1`` table); for the front and 0 < alpha < 1 also the dense stage tables, the completion tables
  and the second level's candidate labels (:func:`level2_candidates`, an upper bound counted from the stage
  windows, so a problem with many units is refused at once rather than after minutes of search);
  :func:`donna_core.partition.exact_search.pareto_labels` checks the budget again before each level is allocated;
* ``paper``: five ``(L+1) x 2^D x D`` tables;
* ``bounded``: a few ``K x L1`` and ``T x L1 x L1`` arrays (always small).

The budget is, in order: the ``memory_budget`` argument, the ``DONNA_MEMORY_BUDGET`` environment variable
(bytes, optional suffix k/M/G/T = 10^3.., or KiB/MiB/GiB/TiB), else half of ``MemAvailable`` in
``/proc/meminfo`` (8 GB where that file does not exist), and never more than half of what the address-space
limit (``RLIMIT_AS``, ``ulimit -v``) leaves above the process's current size. Sizes can exceed any float
(2^1024 states at 1,024 classes), so they are printed from their integer digits.
"""
from __future__ import annotations

import math
import os
import re

try:
    import resource
except ImportError:          # not on every platform
    resource = None
from dataclasses import dataclass

import numpy as np

from .classes import class_members
from .costs import Tables
from .exact_sizes import ITEM, LABEL_FIELDS, N_THETAS, exact_arrays, total_bytes
from .problem import Problem
from .stage_windows import end_hi

__all__ = ["N_THETAS", "SizeEstimate", "SolverSizeError", "check", "check_labels", "estimate", "memory_budget"]

DEFAULT_FRACTION = 0.5          # of the available RAM: leaves room for the rest of the process and the OS
FALLBACK_BUDGET = 8 * 10**9     # where /proc/meminfo is missing (not Linux)
LABEL_BYTES = LABEL_FIELDS * ITEM   # one Pareto label
ENV = "DONNA_MEMORY_BUDGET"

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


class SolverSizeError(ValueError):
    """A solve would exceed the memory budget; the message (one line) names the size and what to do."""


@dataclass(frozen=True)
class SizeEstimate:
    states: int               # DP states (exact: count vectors x classes x (L+1); paper: (L+1) x 2^D x D)
    bytes: int                # memory the solver would allocate (a floor for the exact front, see module doc)
    feasible_in_budget: bool
    message: str
    budget: int = 0
    solver: str = "exact"



def parse_bytes(text: str, what: str = ENV) -> int:
    """``"4G"`` -> 4_000_000_000; ``"512MiB"``, ``"1e9"`` and plain integers work too."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower().removesuffix("b") if m else ""
    if unit in ("ki", "mi", "gi", "ti"):
        unit += "b"
    if not m or unit not in _UNITS:
        raise ValueError(f"{what}: expected a byte count such as 4000000000, 4G or 512MiB, got {text!r}")
    value = float(m.group(1)) * _UNITS[unit]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what}: must be a positive byte count, got {text!r}")
    return int(value)


def available_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo, or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_budget(budget: int | str | None = None) -> int:
    """The budget in bytes (see the module docstring for the order of sources)."""
    if budget is not None:
        return parse_bytes(budget, "memory budget") if isinstance(budget, str) else _positive(budget)
    env = os.environ.get(ENV)
    if env:
        return parse_bytes(env, ENV)
    avail = available_bytes()
    default = int(avail * DEFAULT_FRACTION) if avail else FALLBACK_BUDGET
    room = address_space_room()
    return default if room is None else max(1, min(default, int(room * DEFAULT_FRACTION)))


def address_space_room() -> int | None:
    """Bytes the address-space limit (``RLIMIT_AS``) still allows this process, or None without a limit."""
    if resource is None:
        return None
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    return max(0, soft - _mapped_bytes())


def _mapped_bytes() -> int:
    """The process's current virtual size (``VmSize``), 0 where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _positive(x) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0 or not math.isfinite(x):
        raise ValueError(f"memory budget: must be a positive number of bytes, got {x!r}")
    return int(x)


def count_vectors(p: Problem) -> int:
    """Number of count vectors ``prod(class size + 1)`` as an exact Python int."""
    return math.prod(len(c) + 1 for c in class_members(p))


def _sci(n: int) -> str:
    """A non-negative integer of any size in 3-digit scientific notation, without going through a float."""
    digits = str(int(n))
    if len(digits) <= 3:
        return digits
    lead = int(digits[:4])
    lead = (lead + 5) // 10                     # round to 3 significant digits
    exp = len(digits) - 1
    if lead >= 1000:
        lead, exp = lead // 10, exp + 1
    d = str(lead)
    return f"{d[0]}.{d[1:]}e+{exp:02d}"


def _human(n: int) -> str:
    if n >= 10**15:
        return f"{_sci(n)} B"
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else _sci(n)


def estimate(p: Problem, alpha: float | None = None, solver: str = "exact",
             budget: int | str | None = None) -> SizeEstimate:
    """States and bytes ``solver`` would need for ``p`` at ``alpha`` (None = the exact Pareto front)."""
    limit = memory_budget(budget)
    L1, T = p.L + 1, int(p.time_s.shape[0])
    tables = 2 * 8 * T * L1 * L1
    members = class_members(p)
    K = len(members)
    M = math.prod(len(c) + 1 for c in members)
    if solver == "paper":
        states = L1 * 2**p.D * p.D
        need = 5 * 8 * states
    elif solver == "bounded":
        # class-pair transfer tables, the plan search's labels (count vectors) and its per-step candidates
        states = K * L1
        need = tables + 64 * K * K * L1
    else:
        states = M * K * L1
        n2 = level2_candidates(p, members) if (alpha is None or 0.0 < alpha < 1.0 or p.extended) else 0
        need = total_bytes(exact_arrays(M, K, T, p.L, alpha, n2, p.extended))
    ok = need <= limit
    what = "the exact Pareto front" if alpha is None else f"alpha = {alpha:g}"
    if solver == "paper":
        shape = f"(L+1) x 2^D x D = {_count(states)} states for L={p.L}, D={p.D}"
    else:
        shape = (f"{_count(M)} count vectors over {K} device classes x (L+1) = {_count(states)} states for "
                 f"L={p.L}"
                 if solver != "bounded" else f"{K} classes x (L+1) = {states} states")
    advice = ("use --solver bounded (a plan with a certified gap) or raise --memory-budget / "
              f"{ENV}" if alpha is not None else
              f"the front needs the exact solver: use coarser units (fewer of them), group devices into fewer "
              f"classes (same type and links), solve single alphas (--solver bounded, or exact at alpha 0 or 1) "
              f"or raise --memory-budget / {ENV}")
    if solver == "paper" and not ok:
        advice = "use the exact solver (--solver exact groups interchangeable devices) or --solver bounded"
    if solver == "bounded" and not ok:
        advice = f"group devices into fewer classes (same type and links) or raise --memory-budget / {ENV}"
    msg = (f"{solver} solver for {what} needs about {_human(need)} ({shape}); budget {_human(limit)}"
           + ("" if ok else f": {advice}"))
    return SizeEstimate(states, need, ok, msg, limit, solver)


def level2_candidates(p: Problem, members) -> int:
    """Candidate labels the front search could build at its second level before any bound narrows the
    windows: every feasible first stage ``0..j-1`` on a class, extended by every feasible stage from ``j`` on a
    class with a device left. The search counts the true number before it allocates that level; this upper
    bound lets the guard refuse at once a problem whose second level alone would not fit."""
    if p.L == 0 or len(members) > 4096:
        return 0             # the count vectors alone refuse such problems
    tb = Tables(p)
    j = np.arange(p.L + 1)
    n_fin = {int(t): end_hi(tb, int(t), j) - j for t in np.unique(p.device_type)}
    nf = np.array([n_fin[int(p.device_type[c[0]])] for c in members], dtype=np.int64)   # (K, L1)
    single = np.array([len(c) == 1 for c in members])
    first = nf[:, 0]                                    # first stages end at j = 1..first
    every = np.concatenate([[0], np.cumsum(nf.sum(axis=0))])              # prefix sums over j
    own = np.concatenate([np.zeros((len(members), 1), dtype=np.int64), np.cumsum(nf, axis=1)], axis=1)
    rows = np.arange(len(members))
    # a class of one device cannot follow itself
    total = (every[first + 1] - every[1]) - np.where(single, own[rows, first + 1] - own[rows, 1], 0)
    return int(total.sum())


def check(p: Problem, alpha: float | None, solver: str, budget: int | str | None = None) -> SizeEstimate:
    """:func:`estimate`, raising :class:`SolverSizeError` when it does not fit the budget."""
    est = estimate(p, alpha, solver, budget)
    if not est.feasible_in_budget:
        raise SolverSizeError(est.message)
    return est


def check_labels(n_labels: int, n_new: int, limit: int, extra_bytes: int = 0) -> None:
    """Called by the front search before it allocates a level of ``n_new`` candidate labels (built, merged and
    sorted: about three copies) while it holds ``n_labels``."""
    need = LABEL_BYTES * (n_labels + 3 * n_new) + extra_bytes
    if need > limit:
        raise SolverSizeError(
            f"exact Pareto search would hold {_count(n_labels + n_new)} labels (about {_human(need)}); "
            f"budget {_human(limit)}: use --solver bounded (a plan with a certified gap) or raise "
            f"--memory-budget / {ENV}")
