"""The validation cache's data contract: the columns of ``summary.csv``, ``stages.csv``, ``transfers.csv`` and
the transfer-bound plans' ``comm_summary.csv`` and ``comm_transfers.csv``.

One home for them: :mod:`donna_core.runtime.validation` writes rows with exactly these columns (in this order)
and its loader refuses a file that lacks one, so a renamed column fails where it is written, not in a plot.
"""
from __future__ import annotations

# One row per pipeline run (a plan under a link setting).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "granularity", "setting", "emulated", "alphas", "plan", "stages", "pred_ips", "meas_ips", "rel_error",
    "pred_period_s", "meas_period_s", "compute_part_s", "comm_overlap_part_s", "compute_share", "work_part_s",
    "core_wait_part_s", "latency_s", "outputs_equal", "pred_shipped_ips", "oversubscribed", "date", "load1_before",
    "load1_after")

# One row per stage of a run.
STAGE_COLUMNS: tuple[str, ...] = (
    "model", "granularity", "setting", "plan", "stage", "device", "units", "core", "pred_compute_s",
    "meas_compute_s", "meas_compute_cpu_s", "compute_rel_error", "idle_s", "blocked_s", "bytes_out",
    "pred_transfer_s", "meas_transfer_s", "wire_s", "emulated_hold_s")

# One row per unshaped cut: the calibrated link model against the pipeline's own transfers.
TRANSFER_COLUMNS: tuple[str, ...] = ("model", "granularity", "plan", "bytes", "wire_s", "model_s", "rel_error")

# Transfer-bound plans (runtime.comm_validation): one row per run, the paper's model ("old") and the extended one
# ("new": measured curve, CPU cost of messages, shared channels) side by side. meas_ips / meas_period_s: the
# slowest stage's period (short runs); meas_last_stage_ips: the last stage's, as summary.csv measures.
# slowest_compute_*: the stage with the longest measured compute -- profiled, wall and CPU time (wall > CPU: it
# waited for its core).
COMM_SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "granularity", "setting", "emulated", "plan", "stages", "cut_bytes", "inputs", "pred_old_ips",
    "pred_new_ips", "meas_ips", "meas_last_stage_ips", "rel_error_old", "rel_error_new", "pred_old_period_s",
    "pred_new_period_s",
    "meas_period_s", "bound_old", "bound_new", "slowest_compute_pred_s", "slowest_compute_wall_s",
    "slowest_compute_cpu_s", "outputs_equal", "oversubscribed", "date", "load1_before",
    "load1_after")

# One row per message stream (cut) of those runs: predicted vs measured in-flight time (hold + wire, median).
COMM_TRANSFER_COLUMNS: tuple[str, ...] = (
    "model", "granularity", "setting", "plan", "cut", "bytes", "pred_old_s", "pred_new_s", "pred_busy_curve_s",
    "meas_s", "hold_s", "wire_s", "channel_wait_s", "rel_error_old", "rel_error_new", "rel_error_busy_curve",
    "date", "load1_before")

FILES: dict[str, tuple[str, ...]] = {"summary.csv": SUMMARY_COLUMNS, "stages.csv": STAGE_COLUMNS,
                                     "transfers.csv": TRANSFER_COLUMNS, "comm_summary.csv": COMM_SUMMARY_COLUMNS,
                                     "comm_transfers.csv": COMM_TRANSFER_COLUMNS}


class RecordsError(ValueError):
    """A cached validation file without a column of the contract (one line naming the file and the column)."""


def missing_columns(columns, expected: tuple[str, ...]) -> list[str]:
    have = set(columns)
    return [c for c in expected if c not in have]


def check_columns(columns, expected: tuple[str, ...], where: str) -> None:
    miss = missing_columns(columns, expected)
    if miss:
        raise RecordsError(f"{where}: missing column(s) {miss} of the validation data contract "
                           "(donna_core.runtime.records); rerun make validate")
