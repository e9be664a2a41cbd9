"""Transfer-bound validation: plans whose messages matter, predicted by the paper's communication model and by
the extended one, against running pipelines.

The plans (:data:`COMM_CASES`) cut VGG19 and ResNet-152 early, where tensors are MB-sized, and send them over
emulated LB-WCC (3.5 MB/s: the link sets the throughput) and HB-WCC (1 GB/s: it does not, but each message is
still compared), over a shared LB-WCC channel that two senders take turns on (3 stages, the same plan also over
independent LB-WCC links), and over the unshaped loopback transport.

Two predictions per run, side by side:

* **old** -- the paper's model: every medium a line (``latency + bytes / bandwidth``; loopback = the line
  ``calibrate-link`` fits with idle cores), links independent, no CPU cost of messages;
* **new** -- the extended model: loopback described by its measured ``time_curve`` (``calibrate-link``'s
  ping-pong medians) and the CPU time of a send and a receive (seconds per message + per byte, each end's
  whole-process CPU time per message, :func:`cpu_cost`), charged to the stages' busy time on every link (the
  emulated media run over the same transport); shared media share one channel. The same calibration measured
  while each end's core also computes (``calibrate(busy=True)``) gives a second curve, reported next to it
  (``pred_busy_curve_s``).

Measured throughput = 1 / the slowest stage's period over the steady-state items (``report.summarise``): with
the few inputs these slow links allow, the last stage alone drains faster at the end of a run (e.g. once the first
link of a shared channel has sent its last message, the second has the channel to itself).

Per transfer, the measured in-flight time of a message = emulated hold (the medium's own time) + the real
transport's wire time (both ends ready -> receive completed), the median over the steady-state messages. The old
model predicts the medium's line; the new one the medium's time plus, on emulated links, the loopback transport
that carries the message after its hold (the curve), since the emulation sends it only once held.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

from ..partition.media import MEDIA_PRESETS, Medium, message_time

# A name for the media the new model uses on emulated links (preset numbers + the transport's CPU cost).
NEW_MEDIUM = "emulated+cpu"


@dataclass(frozen=True)
class CommCase:
    """One transfer-bound run: a model cut after the units named in ``cuts`` (one CPU device per stage), its
    links all ``setting`` (a medium preset, emulated, or ``loopback``, unshaped), ``inputs`` streamed."""
    model: str
    granularity: str
    setting: str
    cuts: tuple[str | int, ...]
    inputs: int
    warmup: int = 1


# Early cuts (MB-sized tensors). LB-WCC holds 0.8 MB for 0.23 s; its messages are chosen large against the
# stages' compute (which the 2-core VM's other load can slow several-fold), so those plans stay transfer-bound,
# and they stream few inputs.
COMM_CASES: tuple[CommCase, ...] = (
    CommCase("vgg19", "block", "lb-wcc", ("features.0",), 4),           # 12.8 MB per message, 3.7 s
    CommCase("resnet152", "block", "lb-wcc", ("layer1.0",), 5),         # 3.2 MB, 0.92 s
    CommCase("resnet152", "block", "lb-wcc", ("layer1.0", "layer1.2"), 5),         # 2 senders, independent links
    CommCase("resnet152", "block", "lb-wcc-shared", ("layer1.0", "layer1.2"), 5),  # 2 senders, one channel
    CommCase("vgg19", "block", "hb-wcc", ("features.0",), 8),           # 12.8 MB, 12.8 ms
    CommCase("resnet152", "block", "hb-wcc", ("layer1.0",), 8),         # 3.2 MB, 3.2 ms
    CommCase("vgg19", "block", "loopback", ("features.0",), 8),         # unshaped, 12.8 MB
    CommCase("resnet152", "block", "loopback", ("layer1.0",), 8),       # unshaped, 3.2 MB
    CommCase("vgg19", "block", "loopback", ("features.16",), 8),        # unshaped, 0.8 MB
)


class CaseError(ValueError):
    """A case names a unit the model does not have (one line)."""


def case_plan(unit_names: Sequence[str], case: CommCase) -> list[tuple[str, int, int]]:
    """Stages ``cpu0, cpu1, ...`` ending after each cut unit, the last stage running the rest."""
    names = list(unit_names)
    ends = []
    for c in case.cuts:   # a unit name, or an index (for models whose unit names a test does not know)
        if isinstance(c, int) and 0 <= c < len(names):
            ends.append(c)
            continue
        if c not in names:
            raise CaseError(f"{case.model}/{case.granularity}: no unit named {c!r}")
        ends.append(names.index(c))
    if ends != sorted(set(ends)) or ends[-1] >= len(names) - 1:
        raise CaseError(f"{case.model}/{case.granularity}: cuts {case.cuts} are not increasing inner units")
    firsts = [0] + [e + 1 for e in ends]
    lasts = ends + [len(names) - 1]
    return [(f"cpu{k}", f, l) for k, (f, l) in enumerate(zip(firsts, lasts))]


def _independent(setting: str) -> str:
    return setting.removesuffix("-shared")


def cpu_cost(cal: dict) -> dict:
    """The fitted CPU cost of a send and a receive of a calibration record (whether or not it was written into
    the medium): ``{send_s, send_s_per_byte, recv_s, recv_s_per_byte}``. Each end's whole-process CPU
    (``samples.process_cpu``: the transport's own threads run on the stage's pinned core too); records made
    before it was measured have the calling thread's CPU only (``samples.cpu``)."""
    fit = cal["samples"].get("process_cpu") or cal["samples"]["cpu"]
    (ss, sb), (rs, rb) = fit["send"]["fit"], fit["recv"]["fit"]
    return {"send_s": ss, "send_s_per_byte": sb, "recv_s": rs, "recv_s_per_byte": rb}


def media_pair(setting: str, cal: dict, device_type: str) -> tuple[str, dict, str, dict]:
    """``(old links, old media, new links, new media)`` of a case's problems (see the module docstring);
    ``cal``: a :func:`~donna_core.runtime.calibrate.calibrate` record of loopback."""
    m_cal = cal["medium"]
    cpu = {device_type: cpu_cost(cal)}
    line = {k: m_cal[k] for k in ("bandwidth_Bps", "energy_J_per_bit", "latency_s", "description")}
    if setting == "loopback":
        new = {**line, "time_curve": m_cal["time_curve"], "cpu": cpu,
               "description": "loopback: measured time_curve and CPU cost of send/recv (calibrate-link)"}
        return "loopback", {"loopback": line}, "loopback", {"loopback": new}
    m = MEDIA_PRESETS[setting]
    new = {"bandwidth_Bps": m.bandwidth_Bps, "energy_J_per_bit": m.energy_J_per_bit, "latency_s": m.latency_s,
           "shared": m.shared, "cpu": cpu,
           "description": f"{setting} emulated over loopback: preset time, the transport's CPU cost per message"}
    return _independent(setting), {}, NEW_MEDIUM, {NEW_MEDIUM: new}


def curve_medium(cal: dict) -> Medium:
    """A calibration's loopback transport as the new model describes it (its curve)."""
    c = cal["medium"]
    return Medium(c["bandwidth_Bps"], 0.0, latency_s=c["latency_s"], time_curve=tuple(map(tuple, c["time_curve"])))


def transfer_predictions(setting: str, nbytes: float, idle: dict, busy: dict) -> dict:
    """Old and new predicted in-flight time of one message of ``nbytes`` (module docstring), plus the busy-core
    curve's prediction for comparison."""
    if setting == "loopback":
        old = idle["medium"]["latency_s"] + nbytes / idle["medium"]["bandwidth_Bps"]
        held = 0.0
    else:
        old = held = float(message_time(MEDIA_PRESETS[setting], nbytes))
    return {"pred_old_s": old, "pred_new_s": held + float(message_time(curve_medium(idle), nbytes)),
            "pred_busy_curve_s": held + float(message_time(curve_medium(busy), nbytes))}


def bound_by(pred: dict) -> str:
    """What sets a predicted bottleneck: ``compute`` (a stage's busy time) or ``transfer`` (a link or a shared
    channel); the first part equal to the bottleneck, stages first (a tie counts as compute)."""
    b = pred["bottleneck_s"]
    busy = pred.get("stage_busy_s") or [s["compute_s"] for s in pred["stages"]]
    return "compute" if any(np.isclose(x, b, rtol=1e-12, atol=0) for x in busy) else "transfer"


def summary_row(case: CommCase, plan, res: dict, old: dict) -> dict:
    from .validation import plan_string

    pred, meas, prov = res["predicted"], res["measured"], res["provenance"]
    ips = 1.0 / meas["slowest_stage_period_s"]   # few inputs: the slowest stage's period (report.summarise)
    # the stage that computed longest: its wall time against its CPU time (= waiting for a core) and the profile
    k = max(range(len(meas["stages"])), key=lambda i: meas["stages"][i]["compute_s"])
    return {"model": case.model, "granularity": case.granularity, "setting": case.setting,
            "emulated": res["emulated"], "plan": plan_string(plan), "stages": len(plan),
            "cut_bytes": " ".join(str(s["transfer"]["bytes"]) for s in meas["stages"] if s.get("transfer")),
            "inputs": case.inputs, "pred_old_ips": old["throughput_ips"], "pred_new_ips": pred["throughput_ips"],
            "meas_ips": ips, "meas_last_stage_ips": meas["throughput_ips"],
            "rel_error_old": ips / old["throughput_ips"] - 1.0, "rel_error_new": ips / pred["throughput_ips"] - 1.0,
            "pred_old_period_s": old["bottleneck_s"], "pred_new_period_s": pred["bottleneck_s"],
            "meas_period_s": meas["slowest_stage_period_s"], "bound_old": bound_by(old), "bound_new": bound_by(pred),
            "slowest_compute_pred_s": pred["stages"][k]["compute_s"],
            "slowest_compute_wall_s": meas["stages"][k]["compute_s"],
            "slowest_compute_cpu_s": meas["stages"][k].get("compute_cpu_s"),
            "outputs_equal": meas["outputs_check"]["exactly_equal"],
            "oversubscribed": bool(meas["more_stages_than_cores"]), "date": prov["date"],
            "load1_before": prov["load_avg_before"][0], "load1_after": prov["load_avg_after"][0]}


def transfer_rows(case: CommCase, plan, res: dict, idle: dict, busy: dict) -> list[dict]:
    from .validation import plan_string

    rows, prov = [], res["provenance"]
    for k, st in enumerate(res["measured"]["stages"]):
        tr = st.get("transfer")
        if not tr:
            continue
        p = transfer_predictions(case.setting, tr["bytes"], idle, busy)
        meas = tr["transfer_median_s"]
        rows.append({"model": case.model, "granularity": case.granularity, "setting": case.setting,
                     "plan": plan_string(plan), "cut": k, "bytes": tr["bytes"], **p, "meas_s": meas,
                     "hold_s": tr["emulated_hold_s"], "wire_s": tr["wire_s"],
                     "channel_wait_s": tr.get("channel_wait_s"),
                     "rel_error_old": p["pred_old_s"] / meas - 1.0, "rel_error_new": p["pred_new_s"] / meas - 1.0,
                     "rel_error_busy_curve": p["pred_busy_curve_s"] / meas - 1.0,
                     "date": prov["date"], "load1_before": prov["load_avg_before"][0]})
    return rows


def run_comm_validation(profiles: dict, idle: dict, busy: dict, device_type: str, power_w: float,
                        cases: Sequence[CommCase] = COMM_CASES, timeout_s: float = 300.0, progress: bool = True,
                        inputs_scale: float = 1.0) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """Run every case once; ``(summary rows, transfer rows, result records, failures)``.

    ``profiles``: ``(model, granularity) -> Profile`` of ``device_type`` measured on this host; ``idle``/``busy``:
    the loopback calibrations with idle / busy cores (module docstring; the new model uses ``idle``, ``busy``
    gives the comparison curve); ``power_w`` the modelled power that energy needs.
    """
    import tempfile
    from pathlib import Path

    from tqdm import tqdm

    from ..partition.problem import problem_from_dict
    from ..profiling.problem_builder import build_problem
    from .launch import StageFailed, launch
    from .report import predicted
    from .spec import build_run_spec, freeze_model
    from .validation import plan_string

    summary, transfers, records, failed = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="donna-validate-") as wdir:
        weights: dict[str, str] = {}
        for case in tqdm(cases, desc="transfer-bound runs", disable=not progress):
            prof = profiles[(case.model, case.granularity)]
            names = list(prof.df["unit"])
            plan = case_plan(names, case)
            old_links, old_media, new_links, new_media = media_pair(case.setting, idle, device_type)
            old_p, new_p = (problem_from_dict(build_problem(
                {device_type: prof}, {device_type: len(plan)}, links, assume_power_w={device_type: power_w},
                media=media or None)) for links, media in ((old_links, old_media), (new_links, new_media)))
            if case.model not in weights:
                weights[case.model] = freeze_model(case.model, Path(wdir) / f"{case.model}.pt")
            n = max(case.warmup + 3, round(case.inputs * inputs_scale))
            spec = build_run_spec(new_p, plan, case.model, case.granularity, names, alpha=1.0, inputs=n,
                                  warmup=case.warmup, emulate_links=case.setting != "loopback", check_outputs=2,
                                  comm_timeout_s=timeout_s, weights=weights[case.model])
            try:
                res = launch(spec, timeout_s=timeout_s)
            except StageFailed as exc:
                failed.append({"model": case.model, "granularity": case.granularity, "setting": case.setting,
                               "plan": plan_string(plan), "error": str(exc)})
                tqdm.write(f"{case.model} {case.setting} {plan_string(plan)}: FAILED: {exc}")
                continue
            old = predicted(old_p, plan, 1.0)
            row = summary_row(case, plan, res, old)
            summary.append(row)
            transfers += transfer_rows(case, plan, res, idle, busy)
            records.append({"case": case.__dict__, "predicted_old": old, **res})
            if progress:
                tqdm.write(f"{case.model} {case.setting:>13} {row['plan']}: measured {row['meas_ips']:.3g}/s, "
                           f"predicted old {row['pred_old_ips']:.3g}/s ({100 * row['rel_error_old']:+.1f} %), "
                           f"new {row['pred_new_ips']:.3g}/s ({100 * row['rel_error_new']:+.1f} %)")
    return summary, transfers, records, failed


def accuracy_old_new(summary, transfers) -> dict:
    """Headline numbers: per plan mean / worst |throughput error| (transfer-bound plans, not oversubscribed ones
    counted apart) and per transfer the median |error|, old and new model."""
    import pandas as pd

    s, t = pd.DataFrame(summary), pd.DataFrame(transfers)
    out = {}
    if len(s):
        tb = s[s["bound_new"] == "transfer"]
        for k in ("old", "new"):
            out[f"plans_mean_abs_error_{k}"] = float(s[f"rel_error_{k}"].abs().mean())
            out[f"plans_max_abs_error_{k}"] = float(s[f"rel_error_{k}"].abs().max())
            out[f"transfer_bound_mean_abs_error_{k}"] = float(tb[f"rel_error_{k}"].abs().mean()) if len(tb) else None
            out[f"transfer_bound_max_abs_error_{k}"] = float(tb[f"rel_error_{k}"].abs().max()) if len(tb) else None
        out["transfer_bound_plans"] = len(tb)
    if len(t):
        lb = t[t["setting"] == "loopback"]    # the transport alone (no emulated hold hiding it)
        for k in ("old", "new", "busy_curve"):
            out[f"transfers_median_abs_error_{k}"] = float(t[f"rel_error_{k}"].abs().median())
            out[f"unshaped_transfers_median_abs_error_{k}"] = float(lb[f"rel_error_{k}"].abs().median()) \
                if len(lb) else None
        out["transfers"], out["unshaped_transfers"] = len(t), len(lb)
    return out


def rows_from_records(records: Sequence[dict], idle: dict, busy: dict) -> tuple[list[dict], list[dict]]:
    """The summary and transfer rows again from cached result records (``comm_runs.json``): derived columns
    change, the measurements do not."""
    summary, transfers = [], []
    for rec in records:
        case = CommCase(**{**rec["case"], "cuts": tuple(rec["case"]["cuts"])})
        plan = [(s["device"], s["first"], s["last"]) for s in rec["plan"]]
        summary.append(summary_row(case, plan, rec, rec["predicted_old"]))
        transfers += transfer_rows(case, plan, rec, idle, busy)
    return summary, transfers


def calibration_table(comm_calibration: dict):
    """Both loopback calibrations of ``comm_calibration.json`` side by side, one row per message size (each
    calibration keeps its own sizes): one-way median and the thread CPU time inside send / recv."""
    import pandas as pd

    cols = {}
    for k in ("idle", "busy"):
        s = comm_calibration[k]["samples"]
        for name, vals in (("one-way median s", s["median_one_way_s"]),
                           ("send CPU s", s["cpu"]["send"]["median_thread_cpu_s"]),
                           ("recv CPU s", s["cpu"]["recv"]["median_thread_cpu_s"])):
            cols[f"{k}: {name}"] = pd.Series(vals, index=s["bytes"])
    return pd.DataFrame(cols).rename_axis("bytes")
