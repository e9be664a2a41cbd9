"""One device of a graph plan: ``python -m donna_core.runtime.graph_worker SPEC.json OUT.json``.

Started once per used device by :func:`graph_run.run_graph_plan` (rank k = ``spec["stages"][k]``).  Each
message -- one per (producer unit, destination device), holding the values of that unit which the destination's
units read -- is packed into one buffer and sent once (:mod:`.wire`), tagged with the producer unit.  Threads:
one receiver per incoming stream (producer unit -> this device; a unit sees the inputs in order, so its
messages arrive in input order and no header is needed), one sender per destination, and the compute loop.
The compute loop keeps up to ``in_flight`` inputs open and always runs the first ready unit of the oldest input
(each device's units in index order per input, a topological order; a unit handles input i before i+1), so a
device waiting for a message of input i can work on input i+1, as the cost model's pipelined bottleneck assumes.

Two phases: *stream* (``inputs`` inputs back to back, pipelined across devices: throughput over the inputs after
``warmup``), then *latency* (``latency_inputs`` inputs one at a time: all devices meet at a barrier on a separate
process group before each input; latency = last unit's end - first device's barrier exit).  Rank 0 gathers the
timestamps and the outputs, compares them with the single-process model and writes the result.
"""
from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from .worker import end_with_parent, fatal, make_inputs, pin_to_core, write_result


def build_model_for(name: str, code_allowed: bool = False):
    """A graph model (:mod:`profiling.graph_models`) or a zoo/``module:function`` model (:func:`spec.resolve_model`;
    code only where the name was typed on a command line)."""
    from ..profiling.graph_models import build_graph_model, is_graph_model
    from .spec import resolve_model

    return build_graph_model(name) if is_graph_model(name) else resolve_model(name, code_allowed=code_allowed)


def message_plan(plan, assignment: list[str]) -> dict[tuple[int, str], tuple[str, ...]]:
    """``(producer unit, destination device) -> value names`` it carries (ordered as the unit produces them)."""
    out: dict[tuple[int, str], list[str]] = {}
    for (u, v), names in plan.edge_values.items():
        d = assignment[v]
        if d == assignment[u]:
            continue
        vals = out.setdefault((u, d), [])
        vals.extend(n for n in names if n not in vals)
    order = {u.index: {n: k for k, n in enumerate(u.produced)} for u in plan.units}
    return {k: tuple(sorted(v, key=lambda n: order[k[0]][n])) for k, v in sorted(out.items())}


def run_device(spec: dict, rank: int, world: int, out_path: str) -> None:
    import torch
    import torch.distributed as dist

    from ..profiling.graph_units import derive_graph_units
    from .spec import checked_indices
    from .wire import layout_bytes, layout_of, pack, unpack

    stages = spec["stages"]
    if world != len(stages):
        raise RuntimeError(f"WORLD_SIZE is {world} but the plan uses {len(stages)} devices")
    load_before = list(os.getloadavg())
    core, _ = pin_to_core(rank)
    torch.set_num_threads(int(spec["threads"]))
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=timedelta(seconds=float(spec["comm_timeout_s"])))
    ctl = dist.new_group(backend="gloo")  # barriers on their own connections, apart from the data messages
    me = stages[rank]["device"]
    rank_of = {s["device"]: r for r, s in enumerate(stages)}
    assignment = list(spec["assignment"])

    model, example = build_model_for(spec["model"])
    plan = derive_graph_units(model, example)
    if [u.name for u in plan.units] != list(spec["unit_names"]):
        raise RuntimeError(f"model {spec['model']} builds units that differ from the plan's")
    L = len(plan.units)
    mine = [i for i in range(L) if assignment[i] == me]
    msgs = message_plan(plan, assignment)
    with torch.no_grad():  # layouts of every message from the example input (no header on the wire)
        env = plan.initial_env(example)
        for step in plan.steps:
            env.update(step(env))
    layouts = {k: layout_of(env, names) for k, names in msgs.items()}
    dests = {u: [d for (p, d) in msgs if p == u] for u in mine}
    needs = {u: sorted({p for p, v, _ in plan.edges if v == u and assignment[p] != me}) for u in mine}
    out_names = set(plan.output_values())
    my_outputs = [n for u in mine for n in plan.units[u].produced if n in out_names]

    n_stream, n_lat = int(spec["inputs"]), int(spec["latency_inputs"])
    N = n_stream + n_lat
    inputs = make_inputs(example, N, int(spec["seed"]))
    checked = sorted(set(checked_indices(n_stream, int(spec["check_outputs"]))) | {N - 1})
    store: dict[tuple[int, int], dict] = {}
    cond = threading.Condition()
    send_q = {d: queue.Queue() for d in {d for ds in dests.values() for d in ds}}

    def receiver(src: str, u: int):
        # one thread per stream (source unit u -> this device): a unit handles inputs in order, so its messages
        # arrive in input order; the tag (= u) keeps the streams of one source apart
        try:
            lay = layouts[(u, me)]
            for i in range(N):
                buf = torch.empty(layout_bytes(lay), dtype=torch.uint8)
                dist.recv(buf, src=rank_of[src], tag=u)
                vals = unpack(buf, lay)
                with cond:
                    store[(i, u)] = vals
                    cond.notify_all()
        except BaseException as exc:
            fatal(f"device {me} receiving unit {u} from {src}", exc)

    def sender(dst: str):
        try:
            count = N * sum(1 for u in mine if dst in dests[u])
            for _ in range(count):
                buf, tag = send_q[dst].get()
                dist.send(buf, dst=rank_of[dst], tag=tag)
        except BaseException as exc:
            fatal(f"device {me} sending to {dst}", exc)

    # (input, unit, start, end, CPU seconds of this thread): CPU < wall = the core was busy with other processes
    comp: list[tuple[int, int, float, float, float]] = []
    outputs: dict[int, dict[str, Any]] = {}
    waits: list[float] = []

    def process(first: int, last: int, window: int) -> None:
        """Inputs first..last-1 with up to ``window`` in flight: run the first ready unit of the oldest input,
        where input i may run its k-th unit only after input i-1 has (each unit sees inputs in order)."""
        inflight: list[int] = []
        envs: dict[int, dict] = {}
        pos: dict[int, int] = {}
        nxt = first
        while inflight or nxt < last:
            while nxt < last and len(inflight) < window:
                envs[nxt], pos[nxt] = plan.initial_env(inputs[nxt]), 0
                inflight.append(nxt)
                nxt += 1
            with cond:
                pick = None
                while pick is None:
                    for idx, i in enumerate(inflight):
                        k = pos[i]
                        if idx > 0 and pos[inflight[idx - 1]] <= k:
                            continue
                        if all((i, p) in store for p in needs[mine[k]]):
                            pick = i
                            for p in needs[mine[k]]:
                                envs[i].update(store[(i, p)])
                            break
                    if pick is None:
                        w0 = time.time()
                        cond.wait()
                        waits.append(time.time() - w0)
            env, u = envs[pick], mine[pos[pick]]
            t0, c0 = time.time(), time.thread_time()
            env.update(plan.steps[u](env))
            comp.append((pick, u, t0, time.time(), time.thread_time() - c0))
            for d in dests[u]:
                send_q[d].put((pack(env, layouts[(u, d)]), u))
            pos[pick] += 1
            if pos[pick] == len(mine):  # inputs finish in order (see above)
                inflight.remove(pick)
                with cond:
                    for key in [k for k in store if k[0] == pick]:
                        del store[key]
                if pick in checked and my_outputs:
                    outputs[pick] = {n: env[n].clone() for n in my_outputs}
                del envs[pick], pos[pick]

    threads = [threading.Thread(target=receiver, args=(assignment[u], u), daemon=True)
               for (u, d) in msgs if d == me]
    threads += [threading.Thread(target=sender, args=(d,), daemon=True) for d in send_q]
    dist.barrier(group=ctl)
    for th in threads:
        th.start()
    lat_start: list[float] = []
    with torch.no_grad():
        t_stream, pc0 = time.time(), time.process_time()
        process(0, n_stream, int(spec["in_flight"]))
        stream_cpu = (time.process_time() - pc0, time.time() - t_stream)
        stream_waits = (len(waits), sum(waits))
        for i in range(n_stream, N):
            dist.barrier(group=ctl)  # the previous input is finished on every device
            lat_start.append(time.time())
            process(i, i + 1, 1)
        for th in threads:
            th.join()
    record = {"device": me, "rank": rank, "core": core, "pid": os.getpid(), "t_stream": t_stream, "comp": comp,
              "stream_process_cpu_s": stream_cpu[0], "stream_wall_s": stream_cpu[1],
              "stream_waits": stream_waits[0], "stream_wait_s": stream_waits[1],
              "lat_start": lat_start, "outputs": outputs, "load_avg_end": list(os.getloadavg()),
              "sent_bytes_per_input": sum(layout_bytes(layouts[(u, d)]) for u in mine for d in dests[u]),
              "sent_messages_per_input": sum(len(dests[u]) for u in mine)}
    gathered = [None] * world if rank == 0 else None
    dist.gather_object(record, gathered, dst=0)
    if rank == 0:
        with torch.no_grad():
            refs = {i: model(inputs[i]) for i in checked}
        result = summarize(spec, gathered, refs, plan, load_before)
        write_result(out_path, result)   # never re-creates a run directory the launcher removed
    dist.destroy_process_group()


def summarize(spec: dict, records: list[dict], refs: dict, plan, load_before: list[float]) -> dict:
    """Measured throughput / latency / busy times against the prediction, and the output check."""
    import numpy as np
    import torch

    n_stream, n_lat, warm = int(spec["inputs"]), int(spec["latency_inputs"]), int(spec["warmup"])
    N = n_stream + n_lat
    end = np.full(N, -np.inf)
    busy: dict[str, list[float]] = {}
    busy_cpu: dict[str, float] = {}
    for r in records:
        per_input, cpu = np.zeros(N), np.zeros(N)
        for i, _, t0, t1, c in r["comp"]:
            end[i] = max(end[i], t1)
            per_input[i] += t1 - t0
            cpu[i] += c
        busy[r["device"]] = per_input[warm:n_stream].tolist()
        busy_cpu[r["device"]] = float(np.median(cpu[warm:n_stream]))
    thr = (n_stream - warm - 1) / (end[n_stream - 1] - end[warm])
    starts = np.array([r["lat_start"] for r in records])  # devices x latency inputs
    lat = (end[n_stream:] - starts.min(axis=0)).tolist()
    outs: dict[int, dict] = {}
    for r in records:
        for i, vals in r["outputs"].items():
            outs.setdefault(int(i), {}).update(vals)
    equal = all(torch.equal(plan.output(outs[i]), refs[i]) for i in refs) and set(outs) == set(refs)
    pred = spec["predicted"]
    measured = {"throughput_ips": float(thr), "latency_s": float(np.median(lat)), "latency_each_s": lat,
                "device_busy_s": {d: float(np.median(v)) for d, v in busy.items()},
                "device_busy_cpu_s": busy_cpu,
                # all threads of the device's process (compute + transport), per streamed input
                "device_process_cpu_per_input_s": {r["device"]: r["stream_process_cpu_s"] / n_stream for r in records},
                # the compute loop found no ready unit and slept: how often and how long, per streamed input
                "device_idle_per_input": {r["device"]: {"waits": r["stream_waits"] / n_stream,
                                                        "seconds": r["stream_wait_s"] / n_stream} for r in records},
                "messages_per_inference": sum(r["sent_messages_per_input"] for r in records),
                "message_bytes_per_inference": sum(r["sent_bytes_per_input"] for r in records),
                "outputs_check": {"indices": sorted(refs), "exactly_equal": bool(equal)}}
    return {"problem_name": spec["problem_name"], "model": spec["model"], "assignment": spec["assignment"],
            "devices": [s["device"] for s in spec["stages"]], "predicted": pred, "measured": measured,
            "ratio": {"throughput": measured["throughput_ips"] / pred["throughput_ips"],
                      "latency": measured["latency_s"] / pred["latency_s"]},
            "inputs": n_stream, "warmup": warm, "latency_inputs": n_lat,
            "load_avg_before": load_before, "load_avg_end": [r["load_avg_end"] for r in records],
            "cores": [r["core"] for r in records]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rank = int(os.environ.get("RANK", "0"))
    try:
        end_with_parent()   # a device process never outlives the launcher, however it dies
        if len(argv) != 2:
            raise RuntimeError("usage: python -m donna_core.runtime.graph_worker SPEC.json OUT.json")
        with open(argv[0], encoding="utf-8") as fh:
            spec = json.load(fh)
        run_device(spec, rank, int(os.environ.get("WORLD_SIZE", "1")), argv[1])
    except BaseException as exc:
        fatal(f"graph device rank {rank}", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
