"""The transfer-bound validation's pure parts: plans from cut names, the old/new problems, the per-transfer
predictions, the rows' contract, and that the new model reduces to the old one without curve, sharing or CPU cost."""
from __future__ import annotations

import pytest

from donna_core.partition.costs import evaluate
from donna_core.partition.media import MEDIA_PRESETS
from donna_core.partition.problem import problem_from_dict
from donna_core.runtime.comm_validation import (
    COMM_CASES,
    NEW_MEDIUM,
    CaseError,
    CommCase,
    accuracy_old_new,
    bound_by,
    case_plan,
    media_pair,
    rows_from_records,
    summary_row,
    transfer_predictions,
    transfer_rows,
)
from donna_core.runtime.records import COMM_SUMMARY_COLUMNS, COMM_TRANSFER_COLUMNS
from donna_core.runtime.report import predicted

NAMES = ["a", "b", "c", "d", "e"]
CURVE = [[1e3, 5e-5], [1e6, 1e-3], [1e7, 2e-2]]
FIT = {"send": {"fit": [1e-4, 1e-10]}, "recv": {"fit": [5e-5, 1e-11]}}
CPU = {"send_s": 1e-4, "send_s_per_byte": 1e-10, "recv_s": 5e-5, "recv_s_per_byte": 1e-11}
IDLE = {"medium": {"bandwidth_Bps": 5e9, "energy_J_per_bit": 6.5e-12, "latency_s": 5e-5, "description": "idle",
                   "time_curve": CURVE}, "samples": {"cpu": FIT}}
BUSY = {"medium": {"bandwidth_Bps": 1e9, "energy_J_per_bit": 6.5e-12, "latency_s": 1e-4, "description": "busy",
                   "time_curve": [[1e3, 1e-4], [1e6, 4e-3], [1e7, 5e-2]]}, "samples": {"cpu": FIT}}


def test_case_plan_cuts_after_the_named_units():
    assert case_plan(NAMES, CommCase("m", "block", "lb-wcc", ("b",), 5)) == [("cpu0", 0, 1), ("cpu1", 2, 4)]
    assert case_plan(NAMES, CommCase("m", "block", "lb-wcc", ("a", "d"), 5)) == [
        ("cpu0", 0, 0), ("cpu1", 1, 3), ("cpu2", 4, 4)]
    for cuts in (("zz",), ("e",), ("c", "b")):
        with pytest.raises(CaseError):
            case_plan(NAMES, CommCase("m", "block", "lb-wcc", cuts, 5))


def test_cases_cover_the_settings_the_validation_promises():
    settings = {c.setting for c in COMM_CASES}
    assert {"lb-wcc", "hb-wcc", "lb-wcc-shared", "loopback"} <= settings
    assert {c.model for c in COMM_CASES} == {"vgg19", "resnet152"}
    shared = [c for c in COMM_CASES if MEDIA_PRESETS.get(c.setting, MEDIA_PRESETS["pcie5"]).shared]
    assert shared and all(len(c.cuts) == 2 for c in shared)    # two concurrent senders on one channel


def _problem(links, media, n=3):
    units = [{"name": u, "out_bytes": 8e5, "weight_bytes": 1.0} for u in NAMES]
    d = {"name": "t", "units": units, "devices": [{"name": f"cpu{i}", "type": "cpu-run"} for i in range(n)],
         "device_types": {"cpu-run": {"time_s": [0.01] * 5, "energy_j": [0.1] * 5}}, "links": links}
    if media:
        d["media"] = media
    return problem_from_dict(d)


def test_old_problem_is_the_paper_model_and_new_adds_sharing_and_cpu_cost():
    plan = [("cpu0", 0, 0), ("cpu1", 1, 3), ("cpu2", 4, 4)]
    ol, om, nl, nm = media_pair("lb-wcc-shared", IDLE, "cpu-run")
    assert ol == "lb-wcc" and om == {} and nl == NEW_MEDIUM and nm[NEW_MEDIUM]["shared"]
    old, new = predicted(_problem(ol, om), plan, 1.0), predicted(_problem(nl, nm), plan, 1.0)
    t = 8e5 / 3.5e6
    assert old["bottleneck_s"] == pytest.approx(t) and "shared_busy_s" not in old
    assert new["bottleneck_s"] == pytest.approx(2 * t)                 # both messages on one channel
    assert new["shared_busy_s"][NEW_MEDIUM] == pytest.approx(2 * t)
    cpu = CPU
    mid = 0.03 + cpu["recv_s"] + 8e5 * cpu["recv_s_per_byte"] + cpu["send_s"] + 8e5 * cpu["send_s_per_byte"]
    assert new["stage_busy_s"][1] == pytest.approx(mid)              # CPU cost charged to the stage
    assert bound_by(new) == bound_by(old) == "transfer"


def test_new_model_without_curve_sharing_or_cpu_is_the_old_one_bit_for_bit():
    plan = [("cpu0", 0, 1), ("cpu1", 2, 4)]
    zero = {**IDLE, "samples": {"cpu": {"send": {"fit": [0.0, 0.0]}, "recv": {"fit": [0.0, 0.0]}}}}
    ol, om, nl, nm = media_pair("hb-wcc", zero, "cpu-run")
    a, b = evaluate(_problem(ol, om, 2), plan), evaluate(_problem(nl, nm, 2), plan)
    assert (a.bottleneck_s, a.energy_j) == (b.bottleneck_s, b.energy_j)


def test_transfer_predictions_old_line_new_curve_and_emulated_hold_plus_transport():
    lb = transfer_predictions("loopback", 1e6, IDLE, BUSY)
    assert lb["pred_old_s"] == 5e-5 + 1e6 / 5e9
    assert lb["pred_new_s"] == pytest.approx(1e-3) and lb["pred_busy_curve_s"] == pytest.approx(4e-3)
    hb = transfer_predictions("hb-wcc", 1e6, IDLE, BUSY)
    assert hb["pred_old_s"] == pytest.approx(1e-3) and hb["pred_new_s"] == pytest.approx(1e-3 + 1e-3)
    assert hb["pred_busy_curve_s"] == pytest.approx(1e-3 + 4e-3)


def _res(shared=False):
    tr = {"bytes": 1000000, "transfer_median_s": 0.3, "emulated_hold_s": 0.29, "wire_s": 0.01, "channel_wait_s": 0.0}
    stages = [{"transfer": tr, "compute_s": 0.1, "compute_cpu_s": 0.05}, {"compute_s": 0.2, "compute_cpu_s": 0.1}]
    return {"predicted": {"throughput_ips": 4.0, "bottleneck_s": 0.25,
                          "stages": [{"compute_s": 0.1}, {"compute_s": 0.1}]},
            "measured": {"throughput_ips": 3.5, "period_s": 1 / 3.5, "slowest_stage_period_s": 1 / 3, "stages": stages,
                         "outputs_check": {"exactly_equal": True}, "more_stages_than_cores": []},
            "provenance": {"date": "d", "load_avg_before": [2.0], "load_avg_after": [2.5]}, "emulated": True}


def test_rows_have_exactly_the_contract_columns_and_accuracy_summarises_them():
    case = CommCase("m", "block", "lb-wcc", ("b",), 5)
    plan = [("cpu0", 0, 1), ("cpu1", 2, 4)]
    old = {"throughput_ips": 3.5, "bottleneck_s": 1 / 3.5, "stages": [{"compute_s": 0.1}, {"compute_s": 0.1}]}
    s = summary_row(case, plan, _res(), old)
    t = transfer_rows(case, plan, _res(), IDLE, BUSY)
    assert tuple(s) == COMM_SUMMARY_COLUMNS and tuple(t[0]) == COMM_TRANSFER_COLUMNS
    assert s["rel_error_new"] == pytest.approx(3 / 4 - 1) and s["rel_error_old"] == pytest.approx(3 / 3.5 - 1)
    assert s["meas_ips"] == pytest.approx(3.0) and s["meas_last_stage_ips"] == 3.5   # the slowest stage's rate
    acc = accuracy_old_new([s], t)
    assert acc["transfer_bound_plans"] == 1 and acc["plans_mean_abs_error_new"] == pytest.approx(0.25)
    assert acc["transfers_median_abs_error_old"] == pytest.approx(abs(1e6 / 3.5e6 / 0.3 - 1))
    assert acc["unshaped_transfers"] == 0 and acc["unshaped_transfers_median_abs_error_new"] is None
    # the slowest stage by measured compute: stage 1 (200 ms wall, 100 ms CPU, 100 ms profiled)
    assert (s["slowest_compute_wall_s"], s["slowest_compute_cpu_s"], s["slowest_compute_pred_s"]) == (0.2, 0.1, 0.1)
    rec = {**_res(), "case": dict(case.__dict__, cuts=list(case.cuts)), "predicted_old": old,
           "plan": [{"device": d, "first": f, "last": l} for d, f, l in plan]}
    assert rows_from_records([rec], IDLE, BUSY) == ([s], t)     # the cache rebuilds the same rows
