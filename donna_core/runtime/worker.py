"""One pipeline stage: ``python -P -m donna_core.runtime.worker SPEC.json OUT.json [--model MODULE:FUNCTION]``.

The spec is data: its ``model`` is built only if it is a zoo name, or if this command line names the same
``module:function`` (``--model``). Started as ``python -m`` without ``-P`` (torchrun), the module still drops the
working directory from ``sys.path`` before importing anything else. A stage ends when its parent does
(:func:`end_with_parent`).

Started once per stage by :mod:`donna_core.runtime.launch` (one host) or by ``torchrun`` (several hosts); the
rank comes from the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``, ``LOCAL_RANK``),
so both paths run this same code. Stage ``k`` = rank ``k`` unless ``--first-stage`` says otherwise.

A :class:`Stage` has three parts so that communication overlaps compute, as the cost model assumes: a
:class:`~donna_core.runtime.edges.Receiver` thread (blocking gloo ``recv`` into a queue of at most ``in_flight``
inputs), the :class:`Compute` loop, and a :class:`~donna_core.runtime.edges.Sender` thread (at most ``in_flight``
outputs queued; with emulation it holds each message until its link would have delivered it, see
:class:`~donna_core.runtime.wire.LinkShaper`; the links of a shared medium take turns on one
:class:`~donna_core.runtime.wire.SharedChannel` in the launcher's run directory). Timestamps are ``time.time()`` (wall
clock, comparable
between processes of one host; across hosts only as well as their clocks are synchronised).

Any error in any thread prints one ``DONNA-STAGE-ERROR: stage k (device): Type: message`` line on stderr and
exits the process at once (exit code 1) -- the launcher (or torchrun) then stops the other stages.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not sys.flags.safe_path and sys.path and sys.path[0] in ("", os.getcwd()):
    # started as `python -m` without -P (e.g. by torchrun): never import from the working directory
    del sys.path[0]

import json  # noqa: E402  (after the path fix above)
import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Any  # noqa: E402

ERROR_MARK = "DONNA-STAGE-ERROR:"
# Set by the launcher: the PID a stage must keep as its parent; when the parent is gone the stage ends too.
PARENT_ENV = "DONNA_LAUNCHER_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def fatal(where: str, exc: BaseException) -> None:
    # A full traceback goes to the stage's log for debugging; the marked line is what users see.
    traceback.print_exception(exc, file=sys.stderr)
    msg = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(f"{ERROR_MARK} {where}: {type(exc).__name__}: {msg}\n")
    sys.stderr.flush()
    os._exit(1)  # threads blocked in gloo would keep a normal exit waiting forever


def end_with_parent(poll_s: float = 0.5) -> None:
    """End this process when its parent dies, however it dies (SIGKILL included).

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``), and a parent that died
    before that call is caught by comparing ``getppid()`` with the launcher's PID. Elsewhere a daemon thread polls
    ``getppid()``. Under torchrun (no launcher PID) the parent is torchrun's agent.
    """
    expected = os.environ.get(PARENT_ENV)
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if expected is None:
        return
    if os.getppid() != int(expected):
        os._exit(1)
    if not armed:
        def watch():
            while os.getppid() == int(expected):
                time.sleep(poll_s)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()


def pin_to_core(local_rank: int) -> tuple[int | None, int]:
    """Pin this process to one core of those it may use (local rank modulo their number)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: no pinning, reported as None
        return None, os.cpu_count() or 1
    core = cores[local_rank % len(cores)]
    os.sched_setaffinity(0, {core})
    return core, len(cores)


def _run_store(timeout_s: float):
    """A client of the run's key-value store (the one ``env://`` rendezvous uses at MASTER_ADDR:MASTER_PORT)."""
    from datetime import timedelta

    import torch.distributed as dist

    return dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                         timeout=timedelta(seconds=timeout_s))


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


class Compute:
    """The stage's units ``first..last`` on its device, input by input: takes each input (generated on stage 0,
    else from the :class:`~donna_core.runtime.edges.Receiver`), runs the units, hands the packed cut to the
    :class:`~donna_core.runtime.edges.Sender` (the last stage keeps the checked outputs instead).

    ``log`` per input: wait start, compute start, compute end, packed, queued (wall clock), compute CPU seconds of
    this thread -- CPU < wall means the stage was waiting for its core (other processes), not computing.
    """

    def __init__(self, plan, first: int, last: int, device, in_layout, out_layout, inputs: list, checked: set,
                 stage: int, n_stages: int, fault: dict | None):
        self.plan, self.first, self.last, self.device = plan, first, last, device
        self.in_layout, self.out_layout, self.inputs, self.checked = in_layout, out_layout, inputs, checked
        self.stage, self.is_last, self.fault = stage, stage == n_stages - 1, fault
        self.log: list[tuple[float, float, float, float, float, float]] = []
        self.outputs: dict[int, Any] = {}
        self._stopped = False

    def _input(self, i: int, receiver):
        from .wire import unpack

        if self.stage == 0:
            return self.plan.initial_env(self.inputs[i].to(self.device))
        env = unpack(receiver.get(), self.in_layout)
        if self.device.type != "cpu":
            env = {k: v.to(self.device) for k, v in env.items()}
        return env

    def run(self, receiver, sender) -> None:
        import torch

        from .wire import pack

        with torch.no_grad():
            for i in range(len(self.inputs)):
                if self._stopped:
                    return
                tw0 = time.time()
                env = self._input(i, receiver)
                tw1 = time.time()
                cpu0 = time.thread_time()
                _inject(self.fault, self.stage, i)
                for j in range(self.first, self.last + 1):
                    env = self.plan.steps[j](env)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                tc1 = time.time()
                cpu = time.thread_time() - cpu0
                if not self.is_last:
                    buf = pack(env, self.out_layout)
                    if self.device.type != "cpu":
                        buf = buf.cpu()
                    tp1 = time.time()
                    sender.put(buf, tp1)
                else:
                    tp1 = tc1
                    if i in self.checked:
                        self.outputs[i] = _to_cpu(self.plan.output(env))
                self.log.append((tw0, tw1, tc1, tp1, time.time(), cpu))

    def stop(self) -> None:
        self._stopped = True


class Stage:
    """One stage process: :meth:`setup` (process group, model, the layouts of its cuts), :meth:`stream` (receiver,
    compute and sender parts over N inputs), :meth:`report` (reference outputs, the record gathered on stage 0)."""

    def __init__(self, spec: dict, rank: int, world: int, local_rank: int, out_path: str, stage: int | None = None,
                 code_allowed: bool = False):
        S = len(spec["stages"])
        if world != S:
            raise RuntimeError(f"WORLD_SIZE is {world} but the plan has {S} stages (start one process per stage)")
        self.spec, self.rank, self.world, self.local_rank, self.out_path = spec, rank, world, local_rank, out_path
        self.n_stages, self.stage, self.code_allowed = S, stage, code_allowed
        self.where = f"stage {rank if stage is None else stage}"
        self.receiver = self.sender = self.compute = None

    def _fail(self, what: str, exc: BaseException) -> None:
        fatal(f"{self.where} {what}", exc)

    def setup(self) -> None:
        import torch
        import torch.distributed as dist

        from ..profiling.meters import make_meter
        from ..profiling.module_units import derive_units_any
        from .spec import checked_indices, load_model
        from .wire import layout_of

        spec, S = self.spec, self.n_stages
        self.t_setup = time.time()
        self.load_before = list(os.getloadavg())
        self.core, self.n_cores = pin_to_core(self.local_rank)
        torch.set_num_threads(int(spec["threads"]))
        dist.init_process_group("gloo", rank=self.rank, world_size=self.world,
                                timeout=timedelta(seconds=float(spec["comm_timeout_s"])))
        # Which process runs which stage: by default rank k runs stage k; under torchrun the rendezvous may number
        # the hosts in any order, so each process may name its stage (--stage) and we route by that.
        stage = self.rank if self.stage is None else self.stage
        wanted = [None] * self.world
        dist.all_gather_object(wanted, stage)
        if sorted(wanted) != list(range(S)):
            raise RuntimeError(f"stages claimed by the processes {wanted} are not each of 0..{S - 1} exactly once")
        self.stage, self.rank_of = stage, {s: r for r, s in enumerate(wanted)}
        self.st = st = spec["stages"][stage]
        self.where = f"stage {stage} ({st['device']})"
        self.device = device = torch.device(st["torch_device"])
        first, last, N = int(st["first"]), int(st["last"]), int(spec["inputs"])

        self.model, example = load_model(spec["model"], spec.get("weights"), self.code_allowed)
        plan = derive_units_any(self.model, example, spec["granularity"])[0]   # the units the profiler and CLI use
        names = [u.name for u in plan.units]
        if names != list(spec["unit_names"]):
            raise RuntimeError(f"model {spec['model']} at {spec['granularity']} granularity has units that differ "
                               f"from the plan's (this host builds {len(names)} units, the plan has "
                               f"{len(spec['unit_names'])})")
        plan.graph_module.to(device)
        for s in plan.steps:
            s.module.to(device)
        with torch.no_grad():  # layouts of the cuts around this stage, from the example input (no header on the wire)
            env = plan.initial_env(example.to(device))
            self.in_layout = None
            for j in range(last + 1):
                if j == first and first > 0:
                    self.in_layout = layout_of(env, plan.units[first - 1].live_out)
                env = plan.steps[j](env)
            self.out_layout = layout_of(env, plan.units[last].live_out) if stage < S - 1 else None
        self.inputs = make_inputs(example, N, int(spec["seed"]))
        self.checked = set(checked_indices(N, int(spec["check_outputs"])))
        self.compute = Compute(plan, first, last, device, self.in_layout, self.out_layout, self.inputs, self.checked,
                               stage, S, spec.get("fault"))
        self._build_edges(N, int(spec["in_flight"]))
        self.meter = make_meter(st["torch_device"]) if (device.type == "cuda" or self.local_rank == 0) else None

    def _build_edges(self, N: int, depth: int) -> None:
        from .edges import Receiver, Sender
        from .wire import LinkShaper, SharedChannel, StoreChannel, channel_path, layout_bytes

        stage, S = self.stage, self.n_stages
        if stage > 0:
            self.receiver = Receiver(self.rank_of[stage - 1], layout_bytes(self.in_layout), N, depth, self._fail)
        if stage < S - 1:
            link = self.spec["links"][stage]
            emulate = bool(self.spec["emulated"])
            channel = None
            if emulate and link.get("shared"):
                # one channel per shared medium: a file in the launcher's run directory on one host, a key of
                # the run's store when torchrun starts the stages (possibly on several hosts)
                if self.spec.get("run_dir"):
                    channel = SharedChannel(channel_path(self.spec["run_dir"], link["medium"]))
                else:
                    channel = StoreChannel(_run_store(float(self.spec["comm_timeout_s"])), link["medium"],
                                           f"stage{stage}", os.environ.get("TORCHELASTIC_RUN_ID", ""))
            shaper = LinkShaper(link["bandwidth_Bps"] if emulate else None, link["latency_s"] if emulate else 0.0,
                                link.get("time_curve") if emulate else None, channel)
            self.sender = Sender(self.rank_of[stage + 1], N, depth, shaper, self._fail)

    def _edges(self) -> list:
        return [e for e in (self.receiver, self.sender) if e is not None]

    def stream(self) -> None:
        import torch.distributed as dist

        dist.barrier()  # every stage is built: start streaming together
        self.setup_s = time.time() - self.t_setup
        for e in self._edges():
            e.start()
        if self.meter is not None:
            self.meter.start()
        self.t_stream = time.time()
        self.compute.run(self.receiver, self.sender)
        for e in self._edges():
            e.join()
        self.t_end = time.time()
        self.joules = self.meter.stop() if self.meter is not None else None

    def stop(self) -> None:
        for part in [self.compute, *self._edges()]:
            if part is not None:
                part.stop()

    def report(self) -> None:
        import torch
        import torch.distributed as dist

        from ..atomic import json_safe
        from .report import comparison, format_comparison
        from .wire import layout_bytes

        S, stage, st = self.n_stages, self.stage, self.st
        # Reference outputs of the single-process model, shared out over the stages after the timed phase.
        refs = {}
        with torch.no_grad():
            for pos, i in enumerate(sorted(self.checked)):
                if pos % S == stage:
                    refs[i] = _to_cpu(self.model(self.inputs[i].to(self.device)))
        record = {
            "rank": stage, "process_rank": self.rank, "stage": st, "host": socket.gethostname(), "pid": os.getpid(),
            "core": self.core, "cores_available": self.n_cores, "local_rank": self.local_rank,
            "threads": torch.get_num_threads(), "setup_s": self.setup_s, "t_stream": self.t_stream,
            "t_end": self.t_end,
            "in_bytes": layout_bytes(self.in_layout) if self.in_layout else 0,
            "out_bytes": layout_bytes(self.out_layout) if self.out_layout else 0,
            "out_tensors": len(self.out_layout) if self.out_layout else 0,
            "comp": self.compute.log, "recv": self.receiver.log if self.receiver else [],
            "send": self.sender.log if self.sender else [],
            "energy": None if self.meter is None else {"source": self.meter.source, "reason": self.meter.reason,
                                                       "joules": self.joules},
            "load_avg_end": list(os.getloadavg()),
            "refs": refs, "outputs": self.compute.outputs,
        }
        gathered = [None] * S if stage == 0 else None
        dist.gather_object(record, gathered, dst=self.rank_of[0])
        if stage == 0:
            raw = finish_records(gathered)
            result = comparison(self.spec, raw, self.load_before)
            # strict JSON: a zero-cost problem predicts an infinite throughput, written as null
            write_result(self.out_path, json_safe({**result, "raw": raw}))
            if self.spec.get("print_result"):
                print(format_comparison(result), flush=True)
        dist.destroy_process_group()


def write_result(path: str, obj: dict) -> None:
    """Write the run's result, never creating its directory: a launcher that gave up has removed it, and a
    stage that re-created it would leave litter behind."""
    from ..atomic import write_json_atomic

    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise RuntimeError(f"result directory of {path} does not exist (the launcher has ended the run)")
    write_json_atomic(path, obj, parents=False)


def run_stage(spec: dict, rank: int, world: int, local_rank: int, out_path: str, stage: int | None = None,
              code_allowed: bool = False) -> None:
    s = Stage(spec, rank, world, local_rank, out_path, stage, code_allowed)
    s.setup()
    s.stream()
    s.report()


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


USAGE = "usage: python -P -m donna_core.runtime.worker SPEC.json OUT.json [--first-stage K] [--model MODULE:FUNCTION]"


def parse_args(argv: list[str]) -> tuple[str, str, int | None, str | None]:
    """``(spec path, out path, first stage or None, command-line model or None)``."""
    pos, first, model = [], None, None
    it = iter(argv)
    for a in it:
        if a in ("--first-stage", "--model"):
            v = next(it, None)
            if v is None:
                raise RuntimeError(f"{a} needs a value; {USAGE}")
            if a == "--model":
                model = v
            else:
                first = int(v)
        else:
            pos.append(a)
    if len(pos) != 2:
        raise RuntimeError(USAGE)
    return pos[0], pos[1], first, model


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rank = int(os.environ.get("RANK", "0"))
    stage = None
    try:
        end_with_parent()
        spec_path, out_path, first, cli_model = parse_args(argv)
        if first is not None:
            # several stages per host under torchrun: this host runs stages first, first+1, ... by local rank
            stage = first + int(os.environ.get("LOCAL_RANK", "0"))
        with open(spec_path, encoding="utf-8") as fh:
            spec = json.load(fh)
        if cli_model is not None and cli_model != spec.get("model"):
            raise RuntimeError(f"--model {cli_model!r} is not the model of {spec_path} ({spec.get('model')!r})")
        # the spec is data: it may name a zoo model; code is imported only when this command line names it too
        run_stage(spec, rank, int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", rank)),
                  out_path, stage, code_allowed=cli_model is not None)
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
