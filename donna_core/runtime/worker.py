"""One pipeline stage: ``python -m donna_core.runtime.worker SPEC.json OUT.json``.

Started once per stage by :mod:`donna_core.runtime.launch` (one host) or by ``torchrun`` (several hosts); the
rank comes from the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``, ``LOCAL_RANK``),
so both paths run this same code. Stage ``k`` = rank ``k`` unless ``--first-stage`` says otherwise.

Three threads per stage so that communication overlaps compute, as the cost model assumes: a receive thread
(blocking gloo ``recv`` into a queue of at most ``in_flight`` inputs), the compute loop, and a send thread (at
most ``in_flight`` outputs queued; with emulation it holds each message until its link would have delivered
it, see :class:`~donna_core.runtime.wire.LinkShaper`). Timestamps are ``time.time()`` (wall clock, comparable
between processes of one host; across hosts only as well as their clocks are synchronised).

Any error in any thread prints one ``DONNA-STAGE-ERROR: stage k (device): Type: message`` line on stderr and
exits the process at once (exit code 1) -- the launcher (or torchrun) then stops the other stages.
"""
from __future__ import annotations

import json
import os
import queue
import socket
import sys
import threading
import time
import traceback
from datetime import timedelta
from typing import Any

ERROR_MARK = "DONNA-STAGE-ERROR:"


def fatal(where: str, exc: BaseException) -> None:
    # A full traceback goes to the stage's log for debugging; the marked line is what users see.
    traceback.print_exception(exc, file=sys.stderr)
    msg = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(f"{ERROR_MARK} {where}: {type(exc).__name__}: {msg}\n")
    sys.stderr.flush()
    os._exit(1)  # threads blocked in gloo would keep a normal exit waiting forever


def pin_to_core(local_rank: int) -> tuple[int | None, int]:
    """Pin this process to one core of those it may use (local rank modulo their number)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: no pinning, reported as None
        return None, os.cpu_count() or 1
    core = cores[local_rank % len(cores)]
    os.sched_setaffinity(0, {core})
    return core, len(cores)


def make_inputs(example, n: int, seed: int) -> list:
    """``n`` deterministic random inputs shaped like the model's example input (the same on every stage)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(example.shape, generator=gen, dtype=example.dtype) for _ in range(n)]


def _inject(fault: dict | None, rank: int, i: int) -> None:
    """Fault injection for the robustness tests: a stage that raises, or one that hangs, at input ``i``."""
    if fault and fault.get("stage") == rank and fault.get("at_input") == i:
        if fault.get("kind") == "hang":
            time.sleep(1e6)
        raise RuntimeError(f"injected fault at input {i}")


def _to_cpu(obj: Any):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    return obj


def run_stage(spec: dict, rank: int, world: int, local_rank: int, out_path: str, stage: int | None = None) -> None:
    import torch
    import torch.distributed as dist

    from ..atomic import write_json_atomic
    from ..profiling.meters import make_meter
    from ..profiling.units import derive_units
    from .report import comparison, format_comparison
    from .spec import checked_indices, load_model
    from .wire import LinkShaper, layout_bytes, layout_of, pack, unpack

    S = len(spec["stages"])
    if world != S:
        raise RuntimeError(f"WORLD_SIZE is {world} but the plan has {S} stages (start one process per stage)")
    t_setup = time.time()
    load_before = list(os.getloadavg())
    core, n_cores = pin_to_core(local_rank)
    torch.set_num_threads(int(spec["threads"]))
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=timedelta(seconds=float(spec["comm_timeout_s"])))
    # Which process runs which stage: by default rank k runs stage k; under torchrun the rendezvous may number
    # the hosts in any order, so each process may name its stage (--stage) and we route by that.
    stage = rank if stage is None else stage
    wanted = [None] * world
    dist.all_gather_object(wanted, stage)
    if sorted(wanted) != list(range(S)):
        raise RuntimeError(f"stages claimed by the processes {wanted} are not each of 0..{S - 1} exactly once")
    rank_of = {s: r for r, s in enumerate(wanted)}
    st = spec["stages"][stage]
    where = f"stage {stage} ({st['device']})"
    device = torch.device(st["torch_device"])
    first, last, N = int(st["first"]), int(st["last"]), int(spec["inputs"])

    model, example = load_model(spec["model"], spec.get("weights"))
    plan = derive_units(model, example, spec["granularity"])
    names = [u.name for u in plan.units]
    if names != list(spec["unit_names"]):
        raise RuntimeError(f"model {spec['model']} at {spec['granularity']} granularity has units that differ from "
                           f"the plan's (this host builds {len(names)} units, the plan has {len(spec['unit_names'])})")
    plan.graph_module.to(device)
    for s in plan.steps:
        s.module.to(device)

    with torch.no_grad():  # layouts of the cuts around this stage, from the example input (no header on the wire)
        env = plan.initial_env(example.to(device))
        in_layout = None
        for j in range(last + 1):
            if j == first and first > 0:
                in_layout = layout_of(env, plan.units[first - 1].live_out)
            env = plan.steps[j](env)
        out_layout = layout_of(env, plan.units[last].live_out) if stage < S - 1 else None
    inputs = make_inputs(example, N, int(spec["seed"]))
    checked = set(checked_indices(N, int(spec["check_outputs"])))
    depth = int(spec["in_flight"])
    q_in: queue.Queue = queue.Queue(maxsize=depth)
    q_out: queue.Queue = queue.Queue(maxsize=depth)
    recv_log: list[tuple[float, float]] = []
    send_log: list[tuple[float, float, float, float]] = []
    # per input: wait start, compute start, compute end, packed, queued (wall clock), compute CPU seconds of this
    # thread -- CPU < wall means the stage was waiting for its core (other processes), not computing
    comp_log: list[tuple[float, float, float, float, float, float]] = []
    outputs: dict[int, Any] = {}

    def receiver():
        try:
            nbytes = layout_bytes(in_layout)
            for _ in range(N):
                buf = torch.empty(nbytes, dtype=torch.uint8)
                t0 = time.time()
                dist.recv(buf, src=rank_of[stage - 1])
                recv_log.append((t0, time.time()))
                q_in.put(buf)
        except BaseException as exc:
            fatal(where + " receiving", exc)

    link = spec["links"][stage] if stage < S - 1 else None
    emulate = bool(spec["emulated"]) and link is not None

    def sender():
        try:
            shaper = LinkShaper(link["bandwidth_Bps"] if emulate else None, link["latency_s"] if emulate else 0.0,
                                link.get("time_curve") if emulate else None)
            for _ in range(N):
                buf, t_ready = q_out.get()
                release = shaper.release_time(t_ready, buf.numel())
                delay = release - time.time()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.time()
                dist.send(buf, dst=rank_of[stage + 1])
                send_log.append((t_ready, release, t0, time.time()))
        except BaseException as exc:
            fatal(where + " sending", exc)

    threads = []
    if stage > 0:
        threads.append(threading.Thread(target=receiver, daemon=True))
    if stage < S - 1:
        threads.append(threading.Thread(target=sender, daemon=True))
    meter = make_meter(st["torch_device"]) if (device.type == "cuda" or local_rank == 0) else None
    dist.barrier()  # every stage is built: start streaming together
    setup_s = time.time() - t_setup
    for th in threads:
        th.start()
    if meter is not None:
        meter.start()
    t_stream = time.time()
    with torch.no_grad():
        for i in range(N):
            tw0 = time.time()
            if stage == 0:
                env = plan.initial_env(inputs[i].to(device))
            else:
                env = unpack(q_in.get(), in_layout)
                if device.type != "cpu":
                    env = {k: v.to(device) for k, v in env.items()}
            tw1 = time.time()
            cpu0 = time.thread_time()
            _inject(spec.get("fault"), stage, i)
            for j in range(first, last + 1):
                env = plan.steps[j](env)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            tc1 = time.time()
            cpu = time.thread_time() - cpu0
            if stage < S - 1:
                buf = pack(env, out_layout)
                if device.type != "cpu":
                    buf = buf.cpu()
                tp1 = time.time()
                q_out.put((buf, tp1))
            else:
                tp1 = tc1
                if i in checked:
                    outputs[i] = _to_cpu(plan.output(env))
            comp_log.append((tw0, tw1, tc1, tp1, time.time(), cpu))
        for th in threads:
            th.join()
    t_end = time.time()
    joules = meter.stop() if meter is not None else None

    # Reference outputs of the single-process model, shared out over the stages after the timed phase.
    refs = {}
    with torch.no_grad():
        for pos, i in enumerate(sorted(checked)):
            if pos % S == stage:
                refs[i] = _to_cpu(model(inputs[i].to(device)))
    record = {
        "rank": stage, "process_rank": rank, "stage": st, "host": socket.gethostname(), "pid": os.getpid(), "core": core,
        "cores_available": n_cores, "local_rank": local_rank, "threads": torch.get_num_threads(),
        "setup_s": setup_s, "t_stream": t_stream, "t_end": t_end,
        "in_bytes": layout_bytes(in_layout) if in_layout else 0,
        "out_bytes": layout_bytes(out_layout) if out_layout else 0,
        "out_tensors": len(out_layout) if out_layout else 0,
        "comp": comp_log, "recv": recv_log, "send": send_log,
        "energy": None if meter is None else {"source": meter.source, "reason": meter.reason, "joules": joules},
        "load_avg_end": list(os.getloadavg()),
        "refs": refs, "outputs": outputs,
    }
    gathered = [None] * S if stage == 0 else None
    dist.gather_object(record, gathered, dst=rank_of[0])
    if stage == 0:
        raw = finish_records(gathered)
        result = comparison(spec, raw, load_before)
        write_json_atomic(out_path, {**result, "raw": raw})
        if spec.get("print_result"):
            print(format_comparison(result), flush=True)
    dist.destroy_process_group()


def _max_abs_diff(a, b) -> float:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return float("inf")
        return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return max((_max_abs_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():   # _to_cpu keeps dict outputs
        return max((_max_abs_diff(a[k], b[k]) for k in a), default=0.0)
    return 0.0 if a == b else float("inf")


def _equal(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def finish_records(records: list[dict]) -> dict:
    """Compare the last stage's outputs with the references and drop the tensors (JSON-able raw record)."""
    refs: dict[int, Any] = {}
    for r in records:
        refs.update(r.pop("refs"))
    outs: dict[int, Any] = {}
    for r in records:
        outs.update(r.pop("outputs"))
    diffs = {i: _max_abs_diff(outs[i], refs[i]) for i in sorted(refs) if i in outs}
    equal = all(_equal(outs[i], refs[i]) for i in diffs) and set(diffs) == set(refs)
    worst = max(diffs.values(), default=0.0)
    if any(d != d for d in diffs.values()):   # NaN in an output: strict JSON cannot hold it (and max skips it)
        worst = "nan in the outputs"
    elif worst == float("inf"):
        worst = "shape/dtype mismatch"
    return {"ranks": records, "check": {"indices": sorted(refs), "exactly_equal": bool(equal),
                                        "max_abs_diff": worst}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rank = int(os.environ.get("RANK", "0"))
    stage = None
    try:
        if len(argv) == 4 and argv[2] == "--first-stage":
            # several stages per host under torchrun: this host runs stages first, first+1, ... by local rank
            stage = int(argv[3]) + int(os.environ.get("LOCAL_RANK", "0"))
            argv = argv[:2]
        if len(argv) != 2:
            raise RuntimeError("usage: python -m donna_core.runtime.worker SPEC.json OUT.json [--first-stage K]")
        with open(argv[0], encoding="utf-8") as fh:
            spec = json.load(fh)
        run_stage(spec, rank, int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", rank)),
                  argv[1], stage)
    except BaseException as exc:
        dev = ""
        try:
            dev = f" ({spec['stages'][stage if stage is not None else rank]['device']})"
        except Exception:  # the spec itself may be what failed to load
            pass
        fatal(f"stage {stage if stage is not None else rank}{dev}", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
