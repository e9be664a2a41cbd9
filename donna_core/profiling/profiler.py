"""Per-unit profiler: time (and energy, where a meter exists) of each partition unit on one device.

For each unit, in model order: ``warmup`` untimed runs, then ``repeats`` timed runs on the unit's real input
(the live values produced by the units before it).  Time is the median of the repeats, spread their IQR.  Energy
is read by the meter over the whole block of ``repeats`` runs and divided by ``repeats`` (RAPL/NVML counters are
too coarse for one short run).  The whole model's forward is timed the same way and the ratio
``sum(unit medians) / whole-model median`` is recorded: it shows how well the units add up to the model (the
unit-by-unit runs miss cross-op cache reuse and add a little Python dispatch).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import time
from typing import Any, Callable, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from ..host import cpu_model
from .meters import Meter, make_meter
from .models import LLM_NAMES, build_model, resolve_model
from .module_units import derive_units_any
from .profiles import Profile, validate_profile
from .llm import unit_frame
from .units import UnitPlan, unit_table


class ProfilerError(ValueError):
    """Bad profiler arguments (device, repeats, threads)."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_repeats(fn: Callable[[], Any], repeats: int, warmup: int, device: torch.device,
                 meter: Optional[Meter] = None) -> tuple[np.ndarray, Optional[float]]:
    """Per-repeat seconds of ``fn()`` and the meter's joules per repeat (``None`` if unknown).

    CPU: ``time.perf_counter`` around each call.  CUDA: a pair of CUDA events per call, synchronised, so the
    time is the GPU execution time of that call.
    """
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        _sync(device)
        times = np.empty(repeats)
        if meter is not None:
            meter.start()
        if device.type == "cuda":
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
            for r in range(repeats):
                starts[r].record()
                fn()
                ends[r].record()
                torch.cuda.synchronize(device)
            joules = meter.stop() if meter is not None else None
            for r in range(repeats):
                times[r] = starts[r].elapsed_time(ends[r]) * 1e-3  # ms -> s
        else:
            for r in range(repeats):
                t0 = time.perf_counter()
                fn()
                times[r] = time.perf_counter() - t0
            joules = meter.stop() if meter is not None else None
    per_run = None if joules is None else joules / repeats
    return times, per_run


def _iqr(x: np.ndarray) -> float:
    q1, q3 = np.percentile(x, [25, 75])
    return float(q3 - q1)


def host_info() -> dict[str, Any]:
    """CPU model, logical CPU count, OS, and load average (for the provenance record)."""
    cpu = cpu_model() or "unknown"
    info = {"cpu_model": cpu, "logical_cpus": os.cpu_count(), "os": platform.platform(),
            "virtualised": _is_vm(), "rapl_sysfs": os.path.exists("/sys/class/powercap")}
    info.update(_lscpu())
    return info


_LSCPU_KEYS = {"Vendor ID": "vendor", "CPU family": "cpu_family", "Model": "cpu_model_number",
               "Thread(s) per core": "threads_per_core", "Core(s) per socket": "cores_per_socket",
               "Socket(s)": "sockets", "Hypervisor vendor": "hypervisor", "L2 cache": "l2_cache",
               "L3 cache": "l3_cache", "CPU max MHz": "max_mhz"}


def _lscpu() -> dict[str, str]:
    """Selected ``lscpu`` fields (empty when lscpu is absent: it is extra provenance, not required)."""
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    res = {}
    for line in out.splitlines():
        key, sep, val = line.partition(":")
        if sep and key.strip() in _LSCPU_KEYS:
            res[_LSCPU_KEYS[key.strip()]] = val.strip()
    return res


def _is_vm() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            # The "hypervisor" CPU flag is set inside virtual machines.
            return " hypervisor" in fh.read()
    except OSError:
        return False


def _load_avg() -> Optional[list[float]]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import torchvision

    out = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
           "numpy": numpy.__version__, "pandas": pandas.__version__}
    try:
        from importlib.metadata import version

        out["pyJoules"] = version("pyJoules")
        out["nvidia-ml-py"] = version("nvidia-ml-py")
    except Exception:  # metadata lookups are best effort: a missing one is not an error for a profile
        pass
    return out


ORDERS = ("blocked", "interleaved")


def _time_once(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call of ``fn`` (CUDA: event pair + synchronize)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) * 1e-3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def profile_plan(model: torch.nn.Module, x: torch.Tensor, plan: UnitPlan, device: torch.device, repeats: int,
                 warmup: int, meter: Meter, progress: bool = True, whole_repeats: Optional[int] = None,
                 desc: str = "", order: str = "blocked") -> dict[str, Any]:
    """Time every unit of ``plan`` and the whole model; returns medians, IQRs, energies and totals.

    ``order="blocked"`` (the paper's method): all repeats of unit 1, then of unit 2, ...; the meter brackets
    each unit's block of repeats, so per-unit energy is measured.  ``order="interleaved"``: each round runs every
    unit once, in model order, then the whole model; a background load that drifts over minutes then hits all
    units and the whole-model reference alike, and each unit starts with the caches as the previous unit left
    them, as in a real forward pass.  Interleaving cannot attribute energy to units, so it is time only.
    """
    if order not in ORDERS:
        raise ProfilerError(f"order must be one of {ORDERS}, got {order!r}")
    wr = repeats if whole_repeats is None else whole_repeats
    if order == "interleaved":
        return _profile_interleaved(model, x, plan, device, repeats, warmup, progress, wr, desc)
    env = plan.initial_env(x)
    med, iqr, energy = [], [], []
    bar = tqdm(plan.steps, desc=desc or "units", unit="unit", disable=not progress)
    with torch.no_grad():
        for step in bar:
            cur = env
            t, e = time_repeats(lambda: step(cur), repeats, warmup, device, meter)
            med.append(float(np.median(t)))
            iqr.append(_iqr(t))
            energy.append(e)
            env = step(env)
        tw, ew = time_repeats(lambda: model(x), wr, warmup, device, meter)
    return {"median_s": med, "iqr_s": iqr, "energy_j": energy, "whole_median_s": float(np.median(tw)),
            "whole_iqr_s": _iqr(tw), "whole_energy_j": ew, "whole_repeats": wr}


def _profile_interleaved(model, x, plan, device, repeats, warmup, progress, whole_repeats, desc):
    with torch.no_grad():
        envs = []
        env = plan.initial_env(x)
        for step in plan.steps:  # the real input of every unit, kept for the whole run
            envs.append(env)
            env = step(env)
        n = len(plan.steps)
        times = np.empty((repeats, n))
        whole = []
        rounds = max(repeats, whole_repeats)
        for r in tqdm(range(-warmup, rounds), desc=desc or "rounds", unit="round", disable=not progress):
            if r < repeats:
                for i, step in enumerate(plan.steps):
                    t = _time_once(lambda: step(envs[i]), device)
                    if r >= 0:
                        times[r, i] = t
            if r < whole_repeats:
                t = _time_once(lambda: model(x), device)
                if r >= 0:
                    whole.append(t)
    tw = np.array(whole)
    return {"median_s": [float(v) for v in np.median(times, axis=0)],
            "iqr_s": [_iqr(times[:, i]) for i in range(n)], "energy_j": [None] * n,
            "whole_median_s": float(np.median(tw)), "whole_iqr_s": _iqr(tw), "whole_energy_j": None,
            "whole_repeats": whole_repeats}


def profile_model(model_name: str, device: str = "cpu", granularity: str = "layer", repeats: int = 100,
                  warmup: int = 10, threads: int = 1, device_type: Optional[str] = None,
                  meter: Optional[Meter] = None, progress: bool = True, whole_repeats: Optional[int] = None,
                  notes: str = "", order: str = "blocked", context: Optional[int] = None,
                  input_shape: Optional[tuple[int, ...]] = None) -> Profile:
    """Measure a profile of model ``model_name`` (anything :func:`models.resolve_model` accepts; ``input_shape``
    overrides its example input's shape) on torch device ``device`` (``cpu``, ``cuda[:i]``).

    Decoder LLMs (``models.LLM_NAMES``) take a phase as ``granularity`` (``prefill``/``decode``) and the context
    length ``context`` (default :data:`llm.DEFAULT_CONTEXT`); see :func:`_llm_target`.
    """
    if repeats < 1:
        raise ProfilerError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ProfilerError(f"warmup must be >= 0, got {warmup}")
    if threads < 1:
        raise ProfilerError(f"threads must be >= 1, got {threads}")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ProfilerError(f"invalid device {device!r}: {exc}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ProfilerError(f"device must be cpu or cuda[:i], got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ProfilerError(f"device {device!r} requested but torch sees no CUDA GPU on this host")
    if order not in ORDERS:
        raise ProfilerError(f"order must be one of {ORDERS}, got {order!r}")
    if whole_repeats is not None and whole_repeats < 1:
        raise ProfilerError(f"whole_repeats must be >= 1, got {whole_repeats}")
    if device_type is None:
        device_type = "cpu-host" if dev.type == "cpu" else "gpu-host"

    ref = resolve_model(model_name, input_shape)
    model_name = ref.name  # the profile folder name ("torchvision.models.resnet50" -> "resnet50")
    units_note = None
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        load_before = _load_avg()
        started = time.time()
        if model_name in LLM_NAMES:
            model, x, plan, llm_meta = _llm_target(model_name, granularity, context, dev)
        else:
            if context is not None:
                raise ProfilerError(f"--context applies to the decoder LLMs only, not {model_name!r}")
            model, x = build_model(ref)
            model = model.to(dev)
            x = x.to(dev)
            plan, units_note = derive_units_any(model, x, granularity)
            if units_note:
                print(f"{model_name}: {units_note}", file=sys.stderr)
            llm_meta = {}
        meter = meter if meter is not None else make_meter(str(dev))
        if order == "interleaved" and meter.source != "unavailable":
            raise ProfilerError(f"an energy meter ({meter.source}) is available but order 'interleaved' cannot "
                                "attribute energy to units; use order 'blocked' to measure energy")
        r = profile_plan(model, x, plan, dev, repeats, warmup, meter, progress, whole_repeats,
                         desc=f"{model_name}/{granularity}/{dev}", order=order)
        duration = time.time() - started
        load_after = _load_avg()
    finally:
        torch.set_num_threads(prev_threads)

    df = unit_frame(plan.units) if llm_meta else unit_table(plan.units)
    df.insert(2, "time_s", r["median_s"])
    df.insert(3, "time_spread_s", r["iqr_s"])
    energies = r["energy_j"]
    if any(e is None for e in energies):
        energy_source = "unavailable"
        df.insert(4, "energy_j", [np.nan] * len(df))
    else:
        energy_source = meter.source
        df.insert(4, "energy_j", energies)
    sum_units = float(sum(r["median_s"]))
    meta: dict[str, Any] = {
        "format": 1, "model": model_name, "device_type": device_type, "granularity": granularity,
        "n_units": len(plan.units), "source_kind": "measured",
        "source": (f"donna profile: per-unit fp32 forward, batch 1, on torch device '{dev}' with {threads} "
                   f"thread(s); time = median of {repeats} repeats after {warmup} warm-up runs, {order} order "
                   f"({'CUDA events' if dev.type == 'cuda' else 'time.perf_counter'}), spread = IQR; units "
                   + (llm_meta.pop("units_how") if llm_meta else units_note if units_note else
                      "derived by torch.fx (donna_core.profiling.units)") + ", random weights (seed 0)"),
        "energy_source": energy_source, "energy_meter": meter.describe(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "host": host_info(), "threads": threads, "repeats": repeats, "warmup": warmup,
        "order": order, "statistic": "median", "dtype": str(x.dtype).replace("torch.", ""),
        "input_shape": list(x.shape),
        "input_bytes": plan.input_bytes, "libraries": library_versions(),
        "whole_model_median_s": r["whole_median_s"], "whole_model_iqr_s": r["whole_iqr_s"],
        "whole_model_repeats": r["whole_repeats"], "whole_model_energy_j": r["whole_energy_j"],
        "sum_unit_median_s": sum_units, "sum_to_whole_ratio": sum_units / r["whole_median_s"],
        "load_avg_before": load_before, "load_avg_after": load_after, "profiling_wall_s": round(duration, 1),
    }
    if llm_meta:
        meta["libraries"].update(llm_meta.pop("libraries_extra"))
        meta.update(llm_meta)
    if dev.type == "cuda":
        meta["gpu"] = torch.cuda.get_device_name(dev)
    if notes:
        meta["notes"] = notes
    return validate_profile(Profile(meta, df), f"{model_name}/{granularity}/{device_type}")


def _llm_target(name: str, phase: str, context: Optional[int], dev: torch.device):
    """(whole-model callable, input ids, plan, extra metadata) of a decoder LLM in one phase.

    Also checks, on the real shapes, that the units in sequence give the model's logits bit for bit.
    """
    from . import llm

    ctx = llm.DEFAULT_CONTEXT if context is None else context
    try:
        llm.check_phase(phase, ctx)
    except llm.LLMError as exc:
        raise ProfilerError(f"{name}: {exc}") from None
    if dev.type != "cpu":
        raise ProfilerError(f"{name}: LLM profiling is implemented for cpu only (KV cache kept on the host)")
    model = llm.build_llm(name)
    plan = llm.build_plan(model, phase, ctx, name)
    with torch.no_grad():
        exact = bool(torch.equal(plan.run(plan.tokens), plan.whole(plan.tokens)))
    if not exact:
        raise ProfilerError(f"{name}/{phase}: running the units in sequence does not reproduce the logits")
    sh = plan.shape
    meta = {"phase": phase, "context": ctx, "units_reproduce_logits": exact, "dtype": "float32",
            "input_dtype": str(plan.tokens.dtype).replace("torch.", ""),
            "kv_bytes_total": sum(u.kv_bytes for u in plan.units),
            "llm_shape": {"layers": sh.layers, "hidden": sh.d, "heads": sh.heads, "kv_heads": sh.kv_heads,
                          "ffn": sh.ffn, "vocab": sh.vocab, "params": sum(p.numel() for p in model.parameters())},
            "units_how": ("cut at module boundaries (donna_core.profiling.llm: embed, each decoder block, final "
                          f"norm + LM head); {phase} " + (f"of {ctx} prompt tokens" if phase == "prefill" else
                                                         f"of 1 token against a KV cache of {ctx} tokens")),
            "libraries_extra": {"transformers": _version("transformers")}}
    return plan.whole, plan.tokens, plan, meta


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)
