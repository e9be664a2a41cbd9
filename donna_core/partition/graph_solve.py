"""Solver entry points for graph problems (a problem with ``edges``): ``solve_graph`` and ``graph_pareto``.

Solvers: ``exact`` (HiGHS MILP, warm-started and backed by the heuristic: the best plan found and the proven gap
within ``time_limit_s``; gap 0 = HiGHS proved optimality to its relative gap 1e-6; large latency problems with
barrier units are decomposed, :mod:`.graph_latency_dp`), ``heuristic`` (local search
with a certified lower bound, :mod:`.graph_heuristic`; ``bounded`` is an alias), ``heft`` (the baseline) and
``auto`` (= ``exact``). Objectives: ``alpha`` (throughput vs energy, :mod:`.graph_costs`) and ``latency``
(single-inference makespan, :mod:`.graph_schedule`). Every number reported is recomputed from the plan by the
cost model / the list schedule.

Ties: the heuristic and HEFT break ties by the lowest device index (first found in unit order); the MILP
returns HiGHS's optimal solution (deterministic for the same HiGHS version, 1 thread, seed 0, when the time
limit is not reached), with interchangeable devices renamed so they are used in order of their first unit.
Among several optimal plans, which one is returned is therefore fixed but not otherwise specified.
"""
from __future__ import annotations

import math
import time

from .costs import check_alpha
from .graph_costs import TIE_RTOL, GraphResult, GraphTables, evaluate_graph, graph_norm
from .graph_front import graph_front
from .graph_milp import MIP_REL_GAP
from .problem import Problem

GRAPH_SOLVERS = ("exact", "heuristic", "bounded", "heft", "auto")
OBJECTIVES = ("alpha", "latency")
# Above this many candidate message pairs the latency MILP drops the link-contention rows: it then gives a
# lower bound (and a candidate plan, costed with contention) rather than a proof.
MAX_CONTENTION_PAIRS = 20_000
# Share of the time limit the heuristic gets before the MILP (it provides the warm start and the fallback).
HEURISTIC_SHARE = 0.1


def _result(p, gt, norm, a, alpha, solver, t0, **stats) -> GraphResult:
    r = evaluate_graph(p, a, alpha, solver, gt=gt, norm=norm)
    r.stats = {"solve_s": time.perf_counter() - t0, **stats}
    return r


def solve_graph(p: Problem, alpha: float = 1.0, solver: str = "exact", *, objective: str = "alpha",
                time_limit_s: float = 60.0, max_latency_s: float | None = None) -> GraphResult:
    alpha = check_alpha(alpha)
    if solver not in GRAPH_SOLVERS:
        raise ValueError(f"--solver: {solver!r} is not a graph solver; choose one of {list(GRAPH_SOLVERS)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"--objective: unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise ValueError(f"time limit must be a positive number of seconds, got {time_limit_s!r}")
    t0 = time.perf_counter()
    gt, norm = GraphTables(p), graph_norm(p)
    _check_runnable(gt)
    if objective == "latency":
        if max_latency_s is not None:
            raise ValueError("--max-latency constrains the alpha-objective; --objective latency already minimises "
                             "the latency (use one of the two)")
        return _latency(p, gt, norm, alpha, solver, time_limit_s, t0)
    if max_latency_s is not None:
        from .graph_latency_cap import solve_capped
        return solve_capped(p, gt, norm, alpha, solver, time_limit_s, t0, max_latency_s,
                            lambda: _alpha(p, gt, norm, alpha, solver, time_limit_s, t0),
                            lambda s: _latency(p, gt, norm, alpha, "exact", s, time.perf_counter()))
    return _alpha(p, gt, norm, alpha, solver, time_limit_s, t0)


def _check_runnable(gt: GraphTables) -> None:
    from .errors import InfeasibleError
    bad = [u for u in range(gt.L) if not gt.ok[:, u].any()]
    if bad:
        u = bad[0]
        raise InfeasibleError(f"unit {gt.p.unit_names[u]!r} (index {u}) can run on no device present (allowed "
                              f"or memory){f' (and {len(bad) - 1} more unit(s))' if len(bad) > 1 else ''}")


def _alpha(p, gt, norm, alpha, solver, limit, t0) -> GraphResult:
    from .graph_heuristic import alpha_heuristic, lp_alpha_bound
    if solver == "heft":
        from .heft import heft
        a, _ = heft(gt)
        bound = lp_alpha_bound(gt, alpha, norm, limit)
        r = _result(p, gt, norm, a, alpha, solver, t0, lower_bound=bound)
        r.stats["gap"] = max(0.0, (r.objective - bound) / r.objective) if r.objective > 0 else 0.0
        return r
    h_limit = limit if solver in ("heuristic", "bounded") else max(0.05, HEURISTIC_SHARE * limit)
    a, st = alpha_heuristic(gt, alpha, norm, h_limit, with_message_bound=solver in ("heuristic", "bounded"))
    if solver in ("heuristic", "bounded"):
        return _result(p, gt, norm, a, alpha, "heuristic", t0, **st)
    from .graph_milp import alpha_milp
    rest = max(0.05, limit - (time.perf_counter() - t0))
    a_milp, out = alpha_milp(gt, alpha, norm, rest, warm=a)
    best = evaluate_graph(p, a, alpha, gt=gt, norm=norm)
    if a_milp is not None:
        cand = evaluate_graph(p, a_milp, alpha, gt=gt, norm=norm)
        if cand.objective <= best.objective:
            a, best = a_milp, cand
    if out.proved and alpha in (0.0, 1.0) and a_milp is not None:
        # ties at alpha = 1 (0): the least energy (bottleneck) among the optimal plans, as for chains
        opt = best.bottleneck_s / norm["time_s"] if alpha == 1.0 else best.energy_j / norm["energy_j"]
        # best effort: at most as long as the main solve took (a tie-break must not double the run time)
        rest = max(0.05, min(limit - (time.perf_counter() - t0), out.seconds + 0.5))
        a_tie, out_tie = alpha_milp(gt, alpha, norm, rest, warm=a, cap=opt * (1 + TIE_RTOL))
        if a_tie is not None:
            cand = evaluate_graph(p, a_tie, alpha, gt=gt, norm=norm)
            if cand.objective <= best.objective * (1 + TIE_RTOL) and _second(cand, alpha) < _second(best, alpha):
                a, best = a_tie, cand
        tie_break = "done" if out_tie.proved else f"stopped ({out_tie.status})"
    else:
        tie_break = "not applicable"
    bound = max(st["lower_bound"], out.bound)
    gap = 0.0 if out.proved else (max(0.0, (best.objective - bound) / best.objective) if best.objective > 0 else 0.0)
    return _result(p, gt, norm, a, alpha, "exact", t0, lower_bound=min(bound, best.objective), gap=gap,
                   stopped="proved" if out.proved else f"HiGHS: {out.status}", milp_s=out.seconds,
                   tie_break=tie_break)


def _second(r, alpha) -> float:
    return r.energy_j if alpha == 1.0 else r.bottleneck_s


def _latency(p, gt, norm, alpha, solver, limit, t0) -> GraphResult:
    from .graph_heuristic import latency_heuristic, latency_lower_bound
    from .graph_schedule import schedule
    if solver == "heft":
        from .heft import heft_latency
        a, _, sch = heft_latency(gt)
        lb = latency_lower_bound(gt)
        # a one-pass heuristic: nothing to stop; the gap is against the critical-path / load bound
        return _latency_result(p, gt, norm, a, sch, alpha, "heft", t0, lb, False, stopped="heuristic (one pass)")
    h_limit = limit if solver in ("heuristic", "bounded") else max(0.05, HEURISTIC_SHARE * limit)
    a, key, sch, base, st = latency_heuristic(gt, h_limit)
    if solver in ("heuristic", "bounded"):
        return _latency_result(p, gt, norm, a, sch, alpha, "heuristic", t0, st["lower_bound"], False,
                               heft_latency_s=None if base is None else base.latency_s, stopped=st["stopped"])
    from .graph_latency import contention_pairs, latency_milp
    from .graph_latency_dp import applicable, solve_segments
    full = contention_pairs(gt) <= MAX_CONTENTION_PAIRS
    H = sch.latency_s
    lb = st["lower_bound"]
    proved = milp_proved = False
    status = "heuristic only (zero latency)"
    if H > 0 and not full and applicable(gt):
        rest = max(0.05, limit - (time.perf_counter() - t0))
        a2, uk, mk, _, lo, seg_proved = solve_segments(gt, rest)
        s2 = schedule(gt, a2, uk, mk)
        if s2.latency_s < sch.latency_s:
            a, sch = a2, s2
        lb = max(lb, lo)
        proved = seg_proved and sch.latency_s <= lo * (1 + 1e-6)
        return _latency_result(p, gt, norm, a, sch, alpha, "exact", t0, lb, proved,
                               milp_status="decomposed at barrier units", link_contention_modelled=True,
                               stopped="segment MILPs: time limit or not all proved")
    if H > 0:
        rest = max(0.05, limit - (time.perf_counter() - t0))
        a2, uk, mk, out = latency_milp(gt, H, rest, contention=full, warm_assign=a)
        status = out.status
        if a2 is not None:
            s2 = schedule(gt, a2, uk, mk)
            if s2.latency_s < sch.latency_s:
                a, sch = a2, s2
        lb = max(lb, out.bound * H * (1 - 1e-9))
        # proved only when the schedule reported is within HiGHS's proof tolerance of the proven bound (twice
        # MIP_REL_GAP: the MILP's own solution may sit that far above its bound, and its start times carry the
        # solver's feasibility tolerance): the list schedule rebuilt from the MILP's start times could come out
        # later than the MILP's solution, and the certificate is about the plan we print
        milp_proved = full and out.proved
        proved = milp_proved and sch.latency_s <= lb * (1 + 2 * MIP_REL_GAP)
    note = (" (without link contention: a bound)" if not full else
            " (its schedule not rebuilt: gap against its bound)" if milp_proved and not proved else "")
    return _latency_result(p, gt, norm, a, sch, alpha, "exact", t0, lb, proved, milp_status=status,
                           link_contention_modelled=full, stopped=f"HiGHS: {status}{note}")


def _latency_result(p, gt, norm, a, sch, alpha, solver, t0, lb, proved, **extra) -> GraphResult:
    r = _result(p, gt, norm, a, alpha, solver, t0, **extra)
    r.latency_s = sch.latency_s
    r.schedule = sch.to_dict(p, a)
    r.objective = sch.latency_s
    lb = min(lb, sch.latency_s)
    r.stats["lower_bound"] = lb
    r.stats["gap"] = 0.0 if proved else (max(0.0, (sch.latency_s - lb) / sch.latency_s) if sch.latency_s > 0 else 0.0)
    r.stats["stopped"] = "proved" if proved else r.stats["stopped"]
    return r


def graph_pareto(p: Problem, max_latency_s: float | None = None) -> list[GraphResult]:
    """The exact front; with ``max_latency_s`` the front of the plans whose latency is at most that."""
    t0 = time.perf_counter()
    gt, norm = GraphTables(p), graph_norm(p)
    _check_runnable(gt)
    if max_latency_s is None:
        return [_result(p, gt, norm, a, 1.0, "exact-front", t0, gap=0.0) for a in graph_front(gt)]
    from .graph_latency_cap import capped_pareto
    return [_result(p, gt, norm, a, 1.0, "exact-front", t0, gap=0.0) for a in capped_pareto(gt, max_latency_s)]
