"""Cost model vs measurement: run plans across alpha for real and cache the results with provenance.

What ``make validate`` does (``run_validation``):

1. calibrate this host's transport (``calibrate.calibrate``) -> medium ``loopback`` (latency + bandwidth);
2. profile each (model, granularity) on this host right before the runs (device type ``cpu-run``, 1 thread,
   interleaved order): the shipped ``cpu-host`` profiles were measured on another VM (AMD EPYC), so they cannot
   predict this one; their prediction is kept next to ours for reference (``pred_shipped_ips``);
3. for each link setting -- unshaped (the problem's medium is the calibrated ``loopback``) and emulated as
   PCIe-5 / HB-WCC / LB-WCC -- build a 2-CPU problem, solve it at each alpha, and run every distinct plan once
   (a one-stage plan has no link, so it runs once per model/granularity);
4. write ``runs.json`` (every result record with its raw per-input timestamps), ``summary.csv`` (one row per run),
   ``stages.csv`` (one row per stage) and ``transfers.csv`` (the calibrated link model against the pipeline's own
   unshaped transfers) atomically under ``data/validation/``;
5. the transfer-bound plans (:func:`run_comm_part`, :mod:`donna_core.runtime.comm_validation`): early cuts over
   emulated LB-WCC / HB-WCC, a shared channel with two senders and unshaped loopback, predicted by the paper's
   model and the extended one side by side -> ``comm_summary.csv``, ``comm_transfers.csv``, ``comm_runs.json``,
   ``comm_calibration.json``.

Energy per device is *modelled* for choosing plans at alpha < 1 (``POWER_W`` x measured time: this VM has no
RAPL); the runs measure time only.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .. import config
from ..atomic import write_json_atomic, write_text_atomic
from ..partition.plan_format import plan_string
from .records import (COMM_SUMMARY_COLUMNS, COMM_TRANSFER_COLUMNS, FILES, STAGE_COLUMNS, SUMMARY_COLUMNS,
                      TRANSFER_COLUMNS, check_columns)

DEVICE_TYPE = "cpu-run"
POWER_W = 15.0  # modelled CPU power for alpha < 1 plan choice only (no RAPL here); README's example value
LINK_SETTINGS = ("loopback", "pcie5", "hb-wcc", "lb-wcc")  # loopback = unshaped real transport, others emulated
VALIDATION_DIR = config.VALIDATION


def planned_runs(problems: dict[str, dict], alphas: Sequence[float], solve_fn) -> list[dict]:
    """Distinct (plan, link setting) pairs over the alphas; a one-stage plan once, under the first setting.

    ``problems`` maps link setting -> problem dict; ``solve_fn(problem_dict, alpha) -> plan``. Ties between
    alphas that give the same plan keep the list of alphas.
    """
    runs: dict[tuple, dict] = {}
    for setting, prob in problems.items():
        for a in alphas:
            plan = tuple(tuple(s) for s in solve_fn(prob, a))
            key = (plan, "none") if len(plan) == 1 else (plan, setting)
            if key in runs:
                if a not in runs[key]["alphas"]:
                    runs[key]["alphas"].append(a)
                continue
            runs[key] = {"plan": [list(s) for s in plan], "setting": key[1], "problem": prob, "alphas": [a]}
    return list(runs.values())


def summary_row(model: str, gran: str, run: dict, res: dict, pred_shipped_ips: float | None) -> dict:
    pred, meas, err = res["predicted"], res["measured"], res["error"]
    prov = res["provenance"]
    return {"model": model, "granularity": gran, "setting": run["setting"],
            "emulated": res["emulated"], "alphas": " ".join(f"{a:g}" for a in run["alphas"]),
            "plan": plan_string(run["plan"]), "stages": len(run["plan"]),
            "pred_ips": pred["throughput_ips"], "meas_ips": meas["throughput_ips"],
            "rel_error": meas["throughput_ips"] / pred["throughput_ips"] - 1.0,
            "pred_period_s": pred["bottleneck_s"], "meas_period_s": meas["period_s"],
            "compute_part_s": err["compute_part_s"], "comm_overlap_part_s": err["comm_overlap_part_s"],
            "compute_share": err["compute_share"], "work_part_s": err["work_part_s"],
            "core_wait_part_s": err["core_wait_part_s"], "latency_s": meas["latency_s"],
            "outputs_equal": meas["outputs_check"]["exactly_equal"], "pred_shipped_ips": pred_shipped_ips,
            "oversubscribed": bool(meas["more_stages_than_cores"]), "date": prov["date"],
            "load1_before": prov["load_avg_before"][0], "load1_after": prov["load_avg_after"][0]}


def stage_rows(model: str, gran: str, run: dict, res: dict) -> list[dict]:
    rows = []
    for k, (p, m) in enumerate(zip(res["predicted"]["stages"], res["measured"]["stages"])):
        tr = m.get("transfer") or {}
        rows.append({"model": model, "granularity": gran, "setting": run["setting"], "plan": plan_string(run["plan"]),
                     "stage": k, "device": m["device"], "units": f"{m['first']}..{m['last']}", "core": m["core"],
                     "pred_compute_s": p["compute_s"], "meas_compute_s": m["compute_s"],
                     "meas_compute_cpu_s": m.get("compute_cpu_s"),
                     "compute_rel_error": m["compute_s"] / p["compute_s"] - 1.0 if p["compute_s"] else None,
                     "idle_s": m["idle_s"], "blocked_s": m["blocked_s"], "bytes_out": tr.get("bytes"),
                     "pred_transfer_s": p["comm_out_s"] if tr else None, "meas_transfer_s": tr.get("transfer_s"),
                     "wire_s": tr.get("wire_s"), "emulated_hold_s": tr.get("emulated_hold_s")})
    return rows


def run_validation(models: Iterable[str] = ("resnet152", "vgg19"), granularities: Iterable[str] = ("block", "layer"),
                   settings: Sequence[str] = LINK_SETTINGS, alphas: Sequence[float] = (0.0, 0.5, 1.0),
                   inputs: int = 10, warmup: int = 2, check: int = 2, profile_repeats: int = 10,
                   calib_repeats: int = 20, out_dir: str | os.PathLike = VALIDATION_DIR, timeout_s: float = 300.0,
                   shipped_profiles: str | os.PathLike | None = None, progress: bool = True,
                   transfer_bound: bool = True, comm_cases: Sequence | None = None) -> pd.DataFrame:
    """Measure and cache (see the module docstring); returns the summary table."""
    from tqdm import tqdm

    from ..partition.problem import problem_from_dict
    from ..partition.solve import solve
    from ..profiling.problem_builder import build_problem
    from ..profiling.profiler import profile_model
    from ..profiling.profiles import load_profiles, profile_path, write_profile
    from ..profiling.units import derive_model_units
    from .calibrate import calibrate
    from .launch import StageFailed, launch
    from .spec import build_run_spec, freeze_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    combos = [(m, g) for m in models for g in granularities]
    with tqdm(total=1 + len(combos), desc="calibrate + profile", disable=not progress) as bar:
        cal = calibrate("loopback", repeats=calib_repeats)
        write_json_atomic(out / "calibration.json", cal)
        bar.update()
        profiles = {}
        for m, g in combos:
            bar.set_postfix_str(f"{m}/{g}")
            prof = profile_model(m, "cpu", g, repeats=profile_repeats, warmup=2, threads=1, device_type=DEVICE_TYPE,
                                 progress=False, order="interleaved",
                                 notes="profiled by make validate right before its pipeline runs (shared 2-core VM)")
            write_profile(prof, profile_path(out / "profiles", m, g, DEVICE_TYPE))
            profiles[(m, g)] = prof
            bar.update()

    todo = []
    for m, g in combos:
        problems = {s: build_problem({DEVICE_TYPE: profiles[(m, g)]}, {DEVICE_TYPE: 2}, s,
                                     assume_power_w={DEVICE_TYPE: POWER_W},
                                     media={"loopback": cal["medium"]} if s == "loopback" else None)
                    for s in settings}
        shipped = None
        if shipped_profiles is not None:
            try:
                shipped = load_profiles(shipped_profiles, m, g).get("cpu-host")
            except (OSError, ValueError):  # a missing shipped profile only drops the reference column
                shipped = None
        for run in planned_runs(problems, alphas, lambda d, a: solve(problem_from_dict(d), a).plan()):
            todo.append((m, g, run, shipped))

    rows, srows, records, failed = [], [], [], []
    names_cache: dict[tuple, list] = {}
    weights: dict[str, str] = {}
    wdir = tempfile.TemporaryDirectory(prefix="donna-validate-")
    for m, g, run, shipped in tqdm(todo, desc="pipeline runs", disable=not progress):
        if (m, g) not in names_cache:
            names_cache[(m, g)] = [u.name for u in derive_model_units(m, g)[2].units]
        if m not in weights:  # built once, loaded by every stage process (see spec.freeze_model)
            weights[m] = freeze_model(m, Path(wdir.name) / f"{m}.pt")
        p = problem_from_dict(run["problem"])
        plan = [tuple(s) for s in run["plan"]]
        emulate = run["setting"] not in ("loopback", "none")
        spec = build_run_spec(p, plan, m, g, names_cache[(m, g)], alpha=max(run["alphas"]), inputs=inputs,
                              warmup=warmup, emulate_links=emulate, check_outputs=check, comm_timeout_s=timeout_s,
                              weights=weights[m])
        try:
            res = launch(spec, timeout_s=timeout_s)
        except StageFailed as exc:  # recorded and reported, the other runs still count
            failed.append({"model": m, "granularity": g, "setting": run["setting"], "plan": plan_string(plan),
                           "error": str(exc)})
            tqdm.write(f"{m}/{g} {run['setting']} {plan_string(plan)}: FAILED: {exc}")
            continue
        pred_shipped = None
        if shipped is not None:  # same plan and link model, compute from the shipped (other-VM) profile
            t = shipped.df["time_s"].to_numpy()
            parts = ([float(t[f:l + 1].sum()) for _, f, l in plan]
                     + [x["comm_out_s"] for x in res["predicted"]["stages"]])
            pred_shipped = 1.0 / max(parts)
        rows.append(summary_row(m, g, run, res, pred_shipped))
        srows += stage_rows(m, g, run, res)
        records.append({"model": m, "granularity": g, "setting": run["setting"], "alphas": run["alphas"], **res})
        tqdm.write(f"{m}/{g} {run['setting']:>8} {plan_string(plan)}: predicted {rows[-1]['pred_ips']:.3g}/s "
                   f"measured {rows[-1]['meas_ips']:.3g}/s "
                   f"({100 * rows[-1]['rel_error']:+.1f} %)") if progress else None
    wdir.cleanup()
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    stages = pd.DataFrame(srows, columns=list(STAGE_COLUMNS))
    write_text_atomic(out / "transfers.csv", transfer_check(stages, cal["medium"]).to_csv(index=False))
    write_json_atomic(out / "runs.json", {"format": 1, "calibration": cal["medium"], "runs": records,
                                          "failed": failed})
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
    write_text_atomic(out / "stages.csv", stages.to_csv(index=False))
    if transfer_bound:
        run_comm_part(out, idle=cal, profiles=profiles, calib_repeats=calib_repeats, profile_repeats=profile_repeats,
                      timeout_s=timeout_s, progress=progress, cases=comm_cases)
    return summary


def run_comm_part(out_dir: str | os.PathLike = VALIDATION_DIR, idle: dict | None = None,
                  profiles: dict | None = None, calib_repeats: int = 10, profile_repeats: int = 10,
                  inputs_scale: float = 1.0, timeout_s: float = 300.0, progress: bool = True,
                  cases: Sequence | None = None) -> dict:
    """The transfer-bound plans (:mod:`donna_core.runtime.comm_validation`): calibrate loopback with busy cores
    (and with idle ones unless ``idle`` is given), profile the block models unless ``profiles`` holds them, run
    every case, write ``comm_calibration.json``, ``comm_runs.json``, ``comm_summary.csv`` and
    ``comm_transfers.csv`` atomically; returns :func:`~donna_core.runtime.comm_validation.accuracy_old_new`."""
    from ..profiling.profiler import profile_model
    from ..profiling.profiles import profile_path, write_profile
    from .calibrate import calibrate
    from .comm_validation import COMM_CASES, accuracy_old_new, run_comm_validation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = tuple(round(10 ** (3 + k / 2)) for k in range(10))  # 1 kB .. 32 MB: the cases' tensors and more
    idle = idle or calibrate("loopback", sizes=sizes, repeats=calib_repeats, cpu_type=DEVICE_TYPE)
    busy = calibrate("loopback", sizes=sizes, repeats=calib_repeats, cpu_type=DEVICE_TYPE, busy=True)
    write_json_atomic(out / "comm_calibration.json", {"idle": idle, "busy": busy})
    profiles = dict(profiles or {})
    cases = COMM_CASES if cases is None else tuple(cases)
    for m, g in sorted({(c.model, c.granularity) for c in cases} - set(profiles)):
        prof = profile_model(m, "cpu", g, repeats=profile_repeats, warmup=2, threads=1, device_type=DEVICE_TYPE,
                             progress=False, order="interleaved",
                             notes="profiled by make validate right before its transfer-bound runs (shared 2-core VM)")
        write_profile(prof, profile_path(out / "comm_profiles", m, g, DEVICE_TYPE))
        profiles[(m, g)] = prof
    summary, transfers, records, failed = run_comm_validation(profiles, idle, busy, DEVICE_TYPE, POWER_W,
                                                              cases=cases, timeout_s=timeout_s,
                                                              progress=progress, inputs_scale=inputs_scale)
    write_json_atomic(out / "comm_runs.json", {"format": 1, "runs": records, "failed": failed})
    write_text_atomic(out / "comm_summary.csv",
                      pd.DataFrame(summary, columns=list(COMM_SUMMARY_COLUMNS)).to_csv(index=False))
    write_text_atomic(out / "comm_transfers.csv",
                      pd.DataFrame(transfers, columns=list(COMM_TRANSFER_COLUMNS)).to_csv(index=False))
    return accuracy_old_new(summary, transfers)


def transfer_check(stages: pd.DataFrame, medium: dict) -> pd.DataFrame:
    """The calibrated link model against the pipeline's own transfers on unshaped links (median wire time per
    cut): does the ping-pong fit predict what the runtime's messages take?"""
    if stages.empty or "wire_s" not in stages:
        return pd.DataFrame(columns=list(TRANSFER_COLUMNS))
    t = stages[(stages["setting"] == "loopback") & stages["bytes_out"].notna()].copy()
    t["bytes"] = t["bytes_out"].astype(float)
    t["model_s"] = medium["latency_s"] + t["bytes"] / medium["bandwidth_Bps"]
    t["rel_error"] = t["model_s"] / t["wire_s"] - 1.0
    return t[list(TRANSFER_COLUMNS)].reset_index(drop=True)


def load_validation(path: str | os.PathLike = VALIDATION_DIR) -> dict | None:
    """The cached results: ``{"summary", "stages", "transfers": DataFrame, "runs": list, "calibration": dict}``
    or None when ``make validate`` has not run."""
    path = Path(path)
    if not (path / "summary.csv").exists():
        return None
    runs = json.loads((path / "runs.json").read_text()) if (path / "runs.json").exists() else {"runs": []}
    cal = json.loads((path / "calibration.json").read_text()) if (path / "calibration.json").exists() else None
    tables = {}
    for name, columns in FILES.items():
        if not (path / name).exists():
            tables[name] = pd.DataFrame(columns=list(columns))
            continue
        tables[name] = pd.read_csv(path / name)
        check_columns(tables[name].columns, columns, str(path / name))
    comm = path / "comm_calibration.json"
    return {"summary": tables["summary.csv"], "stages": tables["stages.csv"], "runs": runs["runs"],
            "calibration": cal, "transfers": tables["transfers.csv"], "comm_summary": tables["comm_summary.csv"],
            "comm_transfers": tables["comm_transfers.csv"],
            "comm_calibration": json.loads(comm.read_text()) if comm.exists() else None}


def accuracy(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and worst absolute throughput error per link setting, for plans with no more stages than cores."""
    ok = summary[~summary["oversubscribed"].astype(bool)].copy()
    ok["abs_err"] = ok["rel_error"].abs()
    ok["link"] = ok["setting"].where(ok["stages"] > 1, "none (1 stage)")
    g = ok.groupby("link")["abs_err"]
    out = pd.DataFrame({"runs": g.size(), "mean_abs_error": g.mean(), "max_abs_error": g.max()})
    out.loc["all"] = [len(ok), ok["abs_err"].mean(), ok["abs_err"].max()]
    return out.reset_index().rename(columns={"index": "link"})
