"""From the raw timestamps of a run to measurements, and measurements next to the cost model's prediction.

Definitions (items ``warmup..N-1`` only, the steady state):

* throughput = (n - 1) / (finish of the last item - finish of the first measured item) at the last stage;
  ``slowest_stage_period_s``: the same period measured at every stage (its work finished and its send queued),
  the largest -- the steady-state estimate for short runs, where the last stage drains faster at the end;
* stage compute = mean time from an input being available to its outputs being computed (the mean, because a
  stage's rate is 1 / its mean cycle; the median is kept as ``compute_median_s``);
* stage compute CPU = mean CPU time of the compute thread over the same span (``time.thread_time``): where it is
  below the wall time the stage was waiting for its core (other processes), where it is above the profile the
  work itself got slower (shared caches / memory bandwidth);
* stage idle = mean time the compute loop waited for an input; blocked = mean time it waited for the send queue;
* transfer = mean of (emulated hold + wire time) per message: the hold is how long an emulated link kept
  the message (``latency + bytes / bandwidth``; 0 unshaped), the wire time runs from both ends being ready
  (send called, receive posted) to the receive completing; bytes are exact;
* end-to-end latency = median time from the first stage starting an item to the last stage finishing it
  (includes queueing between stages);
* energy per inference: meter joules / items (whole streaming phase) where RAPL/NVML exist, else unavailable.

Error split (``error_split``): P = predicted bottleneck, M = measured period (1 / throughput),
Pc = the cost model's bottleneck with each stage's *measured* compute time put in. ``Pc - P`` is the error from
compute (contention, per-stage overheads); ``M - Pc`` is what is left: communication (per-message cost,
serialisation) and imperfect overlap. The compute part splits further with Pcpu (the bottleneck with each stage's
compute *CPU* time): ``Pcpu - P`` = the work itself slower or faster than profiled (shared caches and memory
bandwidth, profile noise), ``Pc - Pcpu`` = time the stage waited for its core (other processes, more stages
than cores).
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Sequence

from ..host import cpu_model
from ..partition.costs import evaluate
from ..partition.problem import Problem


def _median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def _mean(xs: Sequence[float]) -> float | None:
    return float(statistics.fmean(xs)) if xs else None


def hold_times(send_log: Sequence[Sequence[float]]) -> list[float]:
    """Per message, how long the emulated link held it: release - start on the link (0 unshaped). A log
    without the start (4 entries) derives it as max(ready, previous release), the serial link's rule."""
    out, prev = [], float("-inf")
    for m in send_log:
        ready, release = m[0], m[1]
        start = m[4] if len(m) > 4 else max(ready, prev)
        out.append(max(0.0, release - start))
        prev = release
    return out


def queue_times(send_log: Sequence[Sequence[float]]) -> list[float]:
    """Per message, how long it waited for its link or shared channel before the hold began (0 unshaped)."""
    return [max(0.0, m[4] - m[0]) if len(m) > 4 else 0.0 for m in send_log]


def wire_times(send_log: Sequence[Sequence[float]], recv_log: Sequence[Sequence[float]]) -> list[float]:
    """Per message, the real transport's time: from both ends being ready (send called, receive posted) to the
    receive completing -- so a receiver that is still busy (back-pressure) does not count as transfer time."""
    return [rdone - max(s[2], rpost) for s, (rpost, rdone) in zip(send_log, recv_log)]


def summarise(raw: dict, spec: dict) -> dict:
    """Measured quantities of a run (see the module docstring)."""
    ranks = sorted(raw["ranks"], key=lambda r: r["rank"])
    w, N = int(spec["warmup"]), int(spec["inputs"])
    last = ranks[-1]["comp"]
    ends = [c[4] for c in last]
    period = (ends[N - 1] - ends[w]) / (N - 1 - w)
    starts = [c[1] for c in ranks[0]["comp"]]
    # each stage's own period over the same items (finish of its work, send queued): in a short run the last
    # stage drains faster at the end (an upstream link that has finished no longer competes for a shared
    # channel), so the slowest stage's period is the steady state's estimate where few inputs are streamed
    stage_periods = [(r["comp"][N - 1][4] - r["comp"][w][4]) / (N - 1 - w) for r in ranks]
    stages = []
    for r in ranks:
        comp = r["comp"][w:]
        st = {"device": r["stage"]["device"], "first": r["stage"]["first"], "last": r["stage"]["last"],
              "host": r["host"], "core": r["core"], "compute_s": _mean([c[2] - c[1] for c in comp]),
              "compute_median_s": _median([c[2] - c[1] for c in comp]),
              "compute_cpu_s": _mean([c[5] for c in comp]),
              "pack_s": _median([c[3] - c[2] for c in comp]), "idle_s": _mean([c[1] - c[0] for c in comp]),
              "blocked_s": _mean([c[4] - c[3] for c in comp]), "setup_s": r["setup_s"]}
        if r["send"]:
            hold, wire = hold_times(r["send"]), wire_times(r["send"], ranks[r["rank"] + 1]["recv"])
            st["transfer"] = {"bytes": r["out_bytes"], "tensors": r["out_tensors"],
                              "transfer_s": _mean([h + x for h, x in zip(hold[w:], wire[w:])]),
                              "transfer_median_s": _median([h + x for h, x in zip(hold[w:], wire[w:])]),
                              "emulated_hold_s": _median(hold[w:]), "wire_s": _median(wire[w:]),
                              "channel_wait_s": _median(queue_times(r["send"])[w:]),
                              "wire_s_all": wire[w:]}
        stages.append(st)
    energies = [r["energy"] for r in ranks if r["energy"] is not None]
    joules = [e["joules"] for e in energies]
    if energies and all(j is not None for j in joules):
        energy = {"per_inference_j": sum(joules) / N, "source": "+".join(sorted({e["source"] for e in energies})),
                  "note": "whole streaming phase (warm-up included) / inputs"}
    else:
        reasons = sorted({e["reason"] for e in energies if e["joules"] is None}) or ["no meter on any stage"]
        energy = {"per_inference_j": None, "source": "unavailable", "note": "; ".join(reasons)}
    hosts: dict[str, set] = {}
    for r in ranks:
        hosts.setdefault(r["host"], set()).add(r["core"])
    per_host = {h: sum(1 for r in ranks if r["host"] == h) for h in hosts}
    oversub = [f"{h}: {per_host[h]} stages on {len(hosts[h])} distinct core(s)"
               for h in hosts if len(hosts[h]) < per_host[h]]
    return {"throughput_ips": 1.0 / period if period > 0 else float("inf"), "period_s": period,
            "stage_periods_s": stage_periods, "slowest_stage_period_s": max(stage_periods),
            "latency_s": _median([e - s for s, e in zip(starts[w:], ends[w:])]),
            "stages": stages, "energy": energy, "outputs_check": raw["check"],
            "more_stages_than_cores": oversub,
            "hosts": sorted(hosts), "load_avg_end": [r["load_avg_end"] for r in ranks]}


def predicted(problem: Problem, plan: Sequence[tuple[str, int, int]], alpha: float) -> dict:
    r = evaluate(problem, plan, alpha)
    return {"bottleneck_s": r.bottleneck_s, "throughput_ips": r.throughput_ips, "energy_j": r.energy_j,
            "input_s": r.input_s, "stages": [{"device": s.device, "compute_s": s.compute_s,
                                               "comm_out_s": s.comm_out_s} for s in r.stages],
            **r.extra}  # shared media / CPU costs only: stage_busy_s, shared_busy_s


def error_split(pred: dict, meas: dict) -> dict:
    """Split the period error into compute (contention) and communication/overlap parts (module docstring)."""
    P, M = pred["bottleneck_s"], meas["period_s"]
    parts = [pred["input_s"]] + [s["comm_out_s"] for s in pred["stages"]]
    parts += [m["compute_s"] for m in meas["stages"]]
    Pc = max(parts)
    # the same with each stage's compute CPU time: splits the compute part into slower work and core waiting
    cpu = [m.get("compute_cpu_s") for m in meas["stages"]]
    Pcpu = max(parts[:-len(cpu)] + cpu) if all(c is not None for c in cpu) else None
    comp, comm = Pc - P, M - Pc
    tot = abs(comp) + abs(comm)
    return {"period_error_s": M - P, "rel_error": (M - P) / P if P > 0 else None,
            "compute_part_s": comp, "comm_overlap_part_s": comm,
            "compute_share": abs(comp) / tot if tot > 0 else None,
            "work_part_s": None if Pcpu is None else Pcpu - P,
            "core_wait_part_s": None if Pcpu is None else Pc - Pcpu}


def provenance(spec: dict, load_before: Sequence[float]) -> dict:
    import torch

    return {"kind": "measured", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "cpu": cpu_model() or "unknown", "logical_cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "backend": "gloo",
            "threads_per_stage": spec["threads"], "inputs": spec["inputs"], "warmup": spec["warmup"],
            "in_flight": spec["in_flight"], "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()]}



def comparison(spec: dict, raw: dict, load_before) -> dict[str, Any]:
    """The full result record of one run: provenance, plan, links, prediction, measurement, error split."""
    pred = spec["predicted"]
    meas = summarise(raw, spec)
    links = [{**lk, "mode": "emulated" if spec["emulated"] else "transport (not shaped)"} for lk in spec["links"]]
    return {"provenance": provenance(spec, load_before), "problem": spec["problem_name"], "model": spec["model"],
            "granularity": spec["granularity"], "alpha": spec["alpha"],
            "plan": [{"device": s["device"], "first": s["first"], "last": s["last"]} for s in spec["stages"]],
            "links": links, "emulated": spec["emulated"], "predicted": pred, "measured": meas,
            "error": error_split(pred, meas)}


def _num(x, fmt: str = ".4g", scale: float = 1.0) -> str:
    """A number for the table; ``n/a`` where the result holds none (a non-finite value is JSON ``null``)."""
    return "n/a" if x is None else format(x * scale, fmt)


def format_comparison(res: dict) -> str:
    pred, meas = res["predicted"], res["measured"]
    mode = "links emulated" if res["emulated"] else "links = real transport (not shaped to the problem's media)"
    lines = [f"{res['problem']}  [{res['model']}/{res['granularity']}, alpha={res['alpha']:g}, {mode}]",
             f"{'stage':<8}{'units':>10}{'core':>6}{'pred comp s':>13}{'meas comp s':>13}{'of it CPU':>11}{'idle s':>9}"
             f"{'bytes out':>11}{'pred xfer s':>13}{'meas xfer s':>13}"]
    for p, m in zip(pred["stages"], meas["stages"]):
        tr = m.get("transfer")
        xfer = (f"{tr['bytes']:>11}{p['comm_out_s']:>13.4g}{tr['transfer_s']:>13.4g}" if tr
                else f"{'-':>11}{'-':>13}{'-':>13}")
        units = f"{m['first']}..{m['last']}"
        lines.append(f"{m['device']:<8}{units:>10}{str(m['core']):>6}{p['compute_s']:>13.4g}"
                     f"{m['compute_s']:>13.4g}{m['compute_cpu_s']:>11.4g}{m['idle_s']:>9.3g}{xfer}")
    err = res["error"]
    lines.append(f"throughput: predicted {_num(pred['throughput_ips'])}/s, measured {_num(meas['throughput_ips'])}/s "
                 f"(period error {_num(err['rel_error'], '+.1f', 100)} %: compute "
                 f"{_num(err['compute_part_s'], '+.2f', 1e3)} ms [work {_num(err['work_part_s'], '+.2f', 1e3)}, "
                 f"waiting for a core {_num(err['core_wait_part_s'], '+.2f', 1e3)}], communication/overlap "
                 f"{_num(err['comm_overlap_part_s'], '+.2f', 1e3)} ms)")
    lines.append(f"end-to-end latency (median) {_num(meas['latency_s'], '.2f', 1e3)} ms; energy/inference: "
                 + (f"{meas['energy']['per_inference_j']:.4g} J ({meas['energy']['source']})"
                    if meas['energy']['per_inference_j'] is not None else f"unavailable ({meas['energy']['note']})"))
    chk = meas["outputs_check"]
    lines.append(f"outputs: {len(chk['indices'])} checked against the single-process model: "
                 + ("exactly equal" if chk["exactly_equal"] else f"DIFFER (max abs diff {chk['max_abs_diff']})"))
    if pred.get("input_s"):
        lines.append(f"note: the input transfer from the problem's source ({pred['input_s']:.4g} s predicted) is not "
                     "executed: stage 0 generates the inputs")
    for o in meas["more_stages_than_cores"]:
        lines.append(f"note: more stages than cores ({o}): stages share cores, measured times include contention")
    prov = res["provenance"]
    lines.append(f"measured on {prov['host']} ({prov['cpu']}), torch {prov['torch']}, load avg before "
                 f"{prov['load_avg_before']} after {prov['load_avg_after']}")
    return "\n".join(lines)
