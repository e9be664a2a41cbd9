"""Fit the communication model ``time = latency_s + bytes / bandwidth_Bps`` to measured transfers.

Measurements come from a two-process ping-pong over the runtime's own transport (gloo ``send``/``recv`` of
one uint8 buffer, as a pipeline cut sends), one-way time = round trip / 2, in rounds that each send every
size once (interleaved, so load bursts fall on all sizes alike);
or from a pipeline run's per-message wire times (``report.summarise``). The fit minimises the *relative*
error (weights 1 / t), because sizes span five orders of magnitude and the target is relative.

Run as ``python -m donna_core.runtime.calibrate`` under the env:// variables (the launcher sets them).
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from typing import Sequence

import numpy as np

from ..partition.media import MEDIA_PRESETS, curve_from

# two sizes per decade: the decades build the curve and the line, the half-decades are held out to measure how
# well each predicts sizes it was not fitted on
DEFAULT_SIZES = tuple(int(round(10 ** (3 + k / 2))) for k in range(11))

# Loopback has no energy meter of its own: the medium's energy per bit is NOT measured. We write the paper's
# PCIe-5 figure (Table I: 6.5 pJ/b, its ref. [16]) as a stand-in for an on-host copy and say so in the medium.
ASSUMED_ENERGY_J_PER_BIT = MEDIA_PRESETS["pcie5"].energy_J_per_bit
ENERGY_NOTE = ("energy_J_per_bit not measured (no meter on this transport); PCIe-5 value of the paper's "
               "Table I (6.5 pJ/b) assumed")


class CalibrationError(ValueError):
    pass


def fit_latency_bandwidth(nbytes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """``(latency_s, bandwidth_Bps)`` minimising sum(((lat + b/bw) - t) / t)^2, with lat >= 0 and bw > 0."""
    x, t = np.asarray(nbytes, float), np.asarray(seconds, float)
    if len(x) < 2 or len(set(x.tolist())) < 2:
        raise CalibrationError("need transfers of at least two different sizes to fit latency and bandwidth")
    if np.any(t <= 0):
        raise CalibrationError("transfer times must be > 0")
    A = np.stack([np.ones_like(x), x], axis=1) / t[:, None]
    y = np.ones_like(t)
    lat, inv_bw = np.linalg.lstsq(A, y, rcond=None)[0]
    if lat < 0:  # constrained optimum on the boundary lat = 0: bandwidth alone
        lat, inv_bw = 0.0, float((x / t) @ np.ones_like(t) / ((x / t) @ (x / t)))
    if inv_bw <= 0:  # times do not grow with size: all latency
        inv_bw = 1e-15
        lat = float(np.median(t))
    return float(lat), float(1.0 / inv_bw)


def relative_errors(nbytes, seconds, latency_s: float, bandwidth_Bps: float) -> list[float]:
    return [((latency_s + b / bandwidth_Bps) - t) / t for b, t in zip(nbytes, seconds)]


def medium_record(name: str, latency_s: float, bandwidth_Bps: float, samples: dict, provenance: dict) -> dict:
    """A medium a problem can name (``media[name]``), plus the data and provenance of its fit."""
    return {"name": name,
            "medium": {"bandwidth_Bps": bandwidth_Bps, "energy_J_per_bit": ASSUMED_ENERGY_J_PER_BIT,
                       "latency_s": latency_s,
                       "description": f"fitted by donna calibrate-link on {provenance.get('host', '?')} "
                                      f"{provenance.get('date', '')}: latency + bytes/bandwidth from measured "
                                      f"gloo transfers; {ENERGY_NOTE}"},
            "samples": samples, "provenance": provenance}


def add_medium(problem: dict, name: str, medium: dict, use_for_links: bool = False) -> dict:
    """A copy of a problem dict with the medium added under ``media[name]`` (and every link set to it)."""
    out = dict(problem)
    out["media"] = {**problem.get("media", {}), name: dict(medium)}
    if use_for_links:
        out["links"] = name
    return out


def round_order(sizes: Sequence[int], r: int) -> list[int]:
    """The sizes of ping-pong round ``r``: every size once, the list rotated by ``r``. Rounds interleave the sizes
    so that a burst of load on the host (a shared VM's neighbours, a timer) falls on every size alike instead of
    on the one size being measured at that moment, which would bend the curve at that size only; the rotation
    keeps any size from always following the largest message."""
    sizes = [int(s) for s in sizes]
    k = r % len(sizes) if sizes else 0
    return sizes[k:] + sizes[:k]


def _pingpong(sizes: Sequence[int], repeats: int, rank: int) -> tuple[dict, dict]:
    """One-way times per size on rank 0, and rank 0's thread CPU seconds spent inside send and inside recv
    (``time.thread_time``: what a stage's own thread loses to a message, waiting excluded), and each end's
    whole-process CPU seconds per round trip. Round 0 is a warm-up (buffer allocation, connection set-up), then
    ``repeats`` rounds of :func:`round_order`."""
    import torch
    import torch.distributed as dist

    bufs = {int(n): torch.zeros(int(n), dtype=torch.uint8) for n in sizes}
    res = {n: [] for n in bufs}
    cpu = {n: {"send": [], "recv": [], "trip": []} for n in bufs}
    for r in range(repeats + 1):
        for n in round_order(sizes, r):
            buf = bufs[n]
            for timed in (False, True):  # an untimed trip first: the previous size's after-effects fall on it
                p0 = time.process_time()
                if rank == 0:
                    t0 = time.perf_counter()
                    c0 = time.thread_time()
                    dist.send(buf, dst=1)
                    c1 = time.thread_time()
                    dist.recv(buf, src=1)
                    c2 = time.thread_time()
                    t1 = time.perf_counter()
                else:
                    dist.recv(buf, src=0)
                    dist.send(buf, dst=0)
                if r and timed:
                    cpu[n]["trip"].append(time.process_time() - p0)
                    if rank == 0:
                        res[n].append((t1 - t0) / 2)
                        cpu[n]["send"].append(c1 - c0)
                        cpu[n]["recv"].append(c2 - c1)
    # each end's whole-process CPU per round trip (one send + one receive, each waking the other end)
    mine = torch.tensor([float(np.mean(cpu[n]["trip"])) if repeats else 0.0 for n in bufs], dtype=torch.float64)
    if rank == 0:
        other = torch.zeros(len(bufs), dtype=torch.float64)
        dist.recv(other, src=1)
        out = {n: {"send": cpu[n]["send"], "recv": cpu[n]["recv"],
                   "round_trip_process": [float(mine[i]), float(other[i])]} for i, n in enumerate(bufs)}
        return res, out
    dist.send(mine, dst=0)
    return res, {}


# messages per size in the one-way stream that measures the processes' CPU cost per message
STREAM_MESSAGES = 30


def _stream_cpu(sizes: Sequence[int], count: int, rank: int) -> dict:
    """CPU seconds per message of each end's whole process (every thread: the caller, gloo's I/O threads, the
    kernel's socket copies as system time) while rank 0 sends ``count`` messages back to back and rank 1
    receives them -- what a device's core gives to its transport besides its compute. Rank 0 returns
    ``{size: [send_s_per_message, recv_s_per_message]}`` (rank 1's figure gathered)."""
    import torch
    import torch.distributed as dist

    out = {}
    for n in sizes:
        buf = torch.zeros(int(n), dtype=torch.uint8)
        dist.barrier()
        c0 = time.process_time()
        for _ in range(count):
            if rank == 0:
                dist.send(buf, dst=1)
            else:
                dist.recv(buf, src=0)
        per = (time.process_time() - c0) / count
        # the other end's figure, after both have stopped counting
        mine = torch.tensor([per], dtype=torch.float64)
        if rank == 0:
            other = torch.zeros(1, dtype=torch.float64)
            dist.recv(other, src=1)
            out[int(n)] = [per, float(other[0])]
        else:
            dist.send(mine, dst=0)
    return out


class BusyCore:
    """A thread that computes (1-thread matmuls, GIL released) on the process's own core while it measures: the
    condition a pipeline stage sends and receives in, its compute thread sharing the core with the transport."""

    def __init__(self):
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import torch

        a = torch.randn(192, 192)
        while not self._stop.is_set():
            torch.mm(a, a)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None) -> int:
    from .worker import end_with_parent, fatal, pin_to_core, write_result

    argv = sys.argv[1:] if argv is None else argv
    rank = int(os.environ.get("RANK", "0"))
    try:
        end_with_parent()
        import torch
        import torch.distributed as dist

        with open(argv[0], encoding="utf-8") as fh:
            spec = json.load(fh)
        pin_to_core(int(os.environ.get("LOCAL_RANK", rank)))
        torch.set_num_threads(1)
        dist.init_process_group("gloo", timeout=timedelta(seconds=float(spec.get("comm_timeout_s", 300))))
        dist.barrier()
        with (BusyCore() if spec.get("busy") else contextlib.nullcontext()):
            res, cpu = _pingpong(spec["sizes"], int(spec["repeats"]), rank)
            stream = _stream_cpu(spec["sizes"], int(spec.get("stream_messages", STREAM_MESSAGES)), rank)
        if rank == 0:
            write_result(argv[1], {"one_way_s": {str(k): v for k, v in res.items()},
                                   "cpu_s": {str(k): v for k, v in cpu.items()},
                                   "process_cpu_s": {str(k): v for k, v in stream.items()}})
        dist.barrier()
        dist.destroy_process_group()
    except BaseException as exc:
        fatal(f"calibration rank {rank}", exc)
    return 0


STATS = ("median", "mean", "p25", "min")


def _stat(xs: Sequence[float], stat: str) -> float:
    if stat == "median":
        return float(statistics.median(xs))
    if stat == "mean":  # what a stream of messages costs on average, wake-up delays included
        return float(statistics.fmean(xs))
    if stat == "min":
        return float(min(xs))
    if stat == "p25":
        return float(np.percentile(xs, 25))
    raise CalibrationError(f"unknown statistic {stat!r}; choose one of {STATS}")


def summarise_samples(one_way: dict, stat: str = "median") -> tuple[list[int], list[float]]:
    """Sizes ascending and the chosen statistic of each size's one-way times."""
    sizes = sorted(int(k) for k in one_way)
    return sizes, [_stat(one_way[str(s)], stat) for s in sizes]


if __name__ == "__main__":
    sys.exit(main())


def measure_link(sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = 20, timeout_s: float = 300.0,
                 busy: bool = False) -> dict:
    """Ping-pong between two local processes; ``{"one_way_s": {size: [seconds, ...]}}``. ``busy``: each
    process's core also runs a compute thread (:class:`BusyCore`), as in a running pipeline."""
    from .launch import launch

    if any(int(s) < 1 for s in sizes):
        raise CalibrationError(f"sizes must be >= 1 byte, got {list(sizes)}")
    spec = {"stages": [{"device": "rank0"}, {"device": "rank1"}], "sizes": [int(s) for s in sizes],
            "repeats": int(repeats), "comm_timeout_s": timeout_s, "busy": bool(busy)}
    return launch(spec, timeout_s=timeout_s, module="donna_core.runtime.calibrate")


def split_sizes(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Sizes the curve and line are fitted on (every other size, ends included) and sizes held out."""
    sizes = sorted(int(x) for x in sizes)
    if len(sizes) < 4:
        return sizes, []
    fit = sizes[::2] if len(sizes) % 2 else sizes[::2] + [sizes[-1]]
    return fit, [x for x in sizes if x not in fit]


def curve_errors(curve, bandwidth_Bps: float, nbytes, seconds) -> list[float]:
    from ..partition.media import Medium, message_time

    m = Medium(bandwidth_Bps, 0.0, time_curve=tuple(map(tuple, curve)))
    return [(float(message_time(m, b)) - t) / t for b, t in zip(nbytes, seconds)]


def fit_cpu(nbytes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """``(s_per_message, s_per_byte)`` >= 0, least squares in relative error like the link fit (a CPU time that
    does not grow with size is all per-message)."""
    lat, bw = fit_latency_bandwidth(nbytes, np.maximum(np.asarray(seconds, float), 1e-9))
    return lat, (0.0 if bw >= 1e15 else 1.0 / bw)


def calibrate(name: str = "loopback", sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = 20,
              timeout_s: float = 300.0, stat: str = "p25", cpu_type: str | None = None, busy: bool = False,
              curve_stat: str = "median") -> dict:
    """Measure this host's transport: a :func:`medium_record` with a measured ``time_curve`` (per-size medians
    of the fit sizes) and the fitted line, each one's error at the held-out sizes (:func:`split_sizes`), and
    the CPU time of a send and a receive (each end's whole-process CPU time per message of a one-way stream,
    :func:`_stream_cpu`: a device's core runs its transport's threads too; written as the medium's ``cpu`` cost
    for device type ``cpu_type`` when given).

    ``stat`` is the per-size statistic the *line* is fitted to. On a shared machine a receiver that sleeps in
    the kernel can wait for a core for milliseconds, whatever the message size; the lower quartile (default)
    describes the transport itself, the median what a loaded host delivers -- both are recorded, with the fit's
    error against each. The curve uses the medians (its target is the median) unless ``curve_stat`` names
    another statistic (``"mean"``: the average cost of a message in a stream, wake-up delays included, which
    is what sets a pipeline's throughput); held-out errors are then against that statistic.

    ``busy``: measured while each end's core also computes (:class:`BusyCore`), the condition of a pipeline
    stage whose transport threads share its core with its compute thread (recorded in the provenance).
    """
    import platform

    import torch

    load_before = os.getloadavg()
    raw = measure_link(sizes, repeats, timeout_s, busy)
    xs, ts = summarise_samples(raw["one_way_s"], stat)
    _, med = summarise_samples(raw["one_way_s"], "median")
    _, cv = summarise_samples(raw["one_way_s"], curve_stat)
    fit_x, hold_x = split_sizes(xs)
    fi = [xs.index(x) for x in fit_x]
    hi = [xs.index(x) for x in hold_x]
    lat, bw = fit_latency_bandwidth(fit_x, [ts[i] for i in fi])
    errs = relative_errors(xs, ts, lat, bw)
    curve = curve_from(fit_x, [cv[i] for i in fi])
    held = {"bytes": hold_x, "statistic": curve_stat, "median_one_way_s": [med[i] for i in hi],
            f"{curve_stat}_one_way_s": [cv[i] for i in hi],
            "curve_rel_error": curve_errors(curve, bw, hold_x, [cv[i] for i in hi]),
            "line_rel_error": relative_errors(hold_x, [cv[i] for i in hi], lat, bw)}
    for k in ("curve", "line"):
        e = held[f"{k}_rel_error"]
        held[f"{k}_max_abs_rel_error"] = max(map(abs, e)) if e else None
    cpu = {}
    for end in ("send", "recv"):
        per_size = [float(statistics.median(raw["cpu_s"][str(x)][end])) for x in xs]
        cpu[end] = {"median_thread_cpu_s": per_size, "fit": fit_cpu(xs, per_size)}
    proc = {}
    for k, end in enumerate(("send", "recv")):
        per_size = [float(raw["process_cpu_s"][str(x)][k]) for x in xs]
        proc[end] = {"stream_process_cpu_s_per_message": per_size, "stream_fit": fit_cpu(xs, per_size)}
    # in a pipeline every message wakes its receiver, as in the ping-pong: each end's whole-process CPU per round
    # trip (one send + one receive), averaged over the two ends, half of it charged to a send, half to a receive
    trip = [float(np.mean(raw["cpu_s"][str(x)]["round_trip_process"])) for x in xs]
    proc["round_trip_process_cpu_s"] = trip
    for end in ("send", "recv"):
        proc[end]["fit"] = fit_cpu(xs, [t / 2 for t in trip])
    prov = {"kind": "measured", "host": platform.node(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": f"gloo send/recv ping-pong between 2 local processes pinned to distinct cores, one-way = "
                      f"round trip / 2, {repeats} rounds after 1 warm-up round, every size once per round "
                      "(interleaved, rotated); line fitted on the per-size "
                      f"{stat} of sizes {fit_x}, time_curve = per-size {curve_stat}s of the same sizes "
                      "(isotonic in log time), "
                      f"held out: {hold_x}; CPU cost written to the medium = each end's process CPU time (every "
                      "thread, user + system) per ping-pong round trip, averaged over the two ends, halved for a "
                      "send and for a receive, fitted as seconds per message + seconds per byte; also recorded: "
                      f"the same per message of a one-way stream of {STREAM_MESSAGES} messages (receiver never "
                      "sleeps) and the median time.thread_time() of rank 0's calling thread inside send / recv"
                      + ("; each process's core also ran a 1-thread compute loop (busy: a pipeline stage's "
                         "condition)" if busy else ""),
            "busy_cores": bool(busy),
            "torch": torch.__version__, "python": platform.python_version(),
            "load_avg_before": [round(v, 2) for v in load_before],
            "load_avg_after": [round(v, 2) for v in os.getloadavg()]}
    samples = {"bytes": xs, "statistic": stat, "one_way_s": ts, "median_one_way_s": med,
               "curve_statistic": curve_stat, "curve_one_way_s": cv, "fit_rel_error": errs,
               "max_abs_rel_error": max(abs(e) for e in errs),
               "fit_rel_error_vs_median": relative_errors(xs, med, lat, bw), "held_out": held, "cpu": cpu,
               "process_cpu": proc,
               "all_one_way_s": raw["one_way_s"], "all_cpu_s": raw["cpu_s"]}
    rec = medium_record(name, lat, bw, samples, prov)
    rec["medium"]["time_curve"] = curve
    if cpu_type:
        (ss, sb), (rs, rb) = proc["send"]["fit"], proc["recv"]["fit"]
        rec["medium"]["cpu"] = {cpu_type: {"send_s": ss, "send_s_per_byte": sb, "recv_s": rs, "recv_s_per_byte": rb}}
    rec["medium"]["meta"] = {"provenance": prov, "line": {"latency_s": lat, "bandwidth_Bps": bw}}
    return rec
