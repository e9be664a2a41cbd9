"""The validation data contract: the writer's rows have exactly its columns; the loader refuses a file without one."""
from __future__ import annotations

import pandas as pd
import pytest

from donna_core.runtime.records import STAGE_COLUMNS, SUMMARY_COLUMNS, TRANSFER_COLUMNS, RecordsError
from donna_core.runtime.validation import load_validation, stage_rows, summary_row, transfer_check


def _result():
    stage = {"device": "cpu0", "first": 0, "last": 1, "compute_s": 0.2, "compute_cpu_s": 0.2, "idle_s": 0.0,
             "blocked_s": 0.0, "core": 0, "transfer": {"bytes": 10, "transfer_s": 0.1, "wire_s": 0.05,
                                                       "emulated_hold_s": 0.0}}
    return {"predicted": {"throughput_ips": 5.0, "bottleneck_s": 0.2,
                          "stages": [{"compute_s": 0.2, "comm_out_s": 0.1}]},
            "measured": {"throughput_ips": 4.0, "period_s": 0.25, "latency_s": 0.3, "stages": [stage],
                         "outputs_check": {"exactly_equal": True}, "more_stages_than_cores": []},
            "error": {"compute_part_s": 0.0, "comm_overlap_part_s": 0.05, "compute_share": 0.0, "work_part_s": 0.0,
                      "core_wait_part_s": 0.0},
            "provenance": {"date": "d", "load_avg_before": [1.0], "load_avg_after": [1.0]}, "emulated": False}


def test_writer_rows_have_exactly_the_contract_columns():
    run = {"setting": "loopback", "alphas": [1.0], "plan": [["cpu0", 0, 1]]}
    assert tuple(summary_row("m", "layer", run, _result(), None)) == SUMMARY_COLUMNS
    stages = stage_rows("m", "layer", run, _result())
    assert tuple(stages[0]) == STAGE_COLUMNS
    tr = transfer_check(pd.DataFrame(stages), {"latency_s": 0.0, "bandwidth_Bps": 1e3})
    assert tuple(tr.columns) == TRANSFER_COLUMNS and len(tr) == 1


def test_loader_refuses_a_file_without_a_contract_column(tmp_path):
    pd.DataFrame([{c: 1 for c in SUMMARY_COLUMNS}]).to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame([{c: 1 for c in STAGE_COLUMNS if c != "wire_s"}]).to_csv(tmp_path / "stages.csv", index=False)
    with pytest.raises(RecordsError, match=r"stages.csv: missing column\(s\) \['wire_s'\]"):
        load_validation(tmp_path)
