"""Emulating a shared medium: every sender on it takes turns on one channel, across stage processes.

Unit level: reservations on one channel file never overlap, also when two processes reserve at once. Pipeline
level: a 3-stage plan of the tiny model whose two cuts cross the same shared medium -- the two links' hold
intervals are disjoint and the channel's busy time per inference is the sum of both messages' times, which
paces the run; the same plan over an independent medium holds both links at once.
"""
from __future__ import annotations

import multiprocessing as mp
import os

import pytest

from donna_core.partition.problem import problem_from_dict
from donna_core.runtime.launch import launch
from donna_core.runtime.report import hold_times
from donna_core.runtime.spec import build_run_spec
from donna_core.runtime.wire import LinkShaper, SharedChannel, StoreChannel, channel_path

from .runs import TINY, run_torchrun_nodes, tiny_problem


def _disjoint(intervals) -> bool:
    iv = sorted(intervals)
    return all(b[0] >= a[1] - 1e-6 for a, b in zip(iv, iv[1:]))


def test_two_shapers_on_one_channel_take_turns(tmp_path):
    path = channel_path(str(tmp_path), "radio/1")
    assert os.path.dirname(path) == str(tmp_path) and "/" not in os.path.basename(path)
    a = LinkShaper(1000.0, channel=SharedChannel(path))
    b = LinkShaper(1000.0, channel=SharedChannel(path))
    sa = a.reserve(10.0, 1000)       # 1 s on the channel
    sb = b.reserve(10.0, 500)        # ready at the same time: waits for a's message
    assert sa == (10.0, 11.0) and sb == (11.0, 11.5)
    assert a.reserve(10.2, 1000) == (11.5, 12.5)   # a's next message queues behind b's
    # an independent link (no channel) carries b's message at once
    assert LinkShaper(1000.0).reserve(10.0, 500) == (10.0, 10.5)


def test_a_missing_run_directory_is_one_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="does not exist"):
        channel_path(str(tmp_path / "gone"), "hb-wcc-shared")
    assert not (tmp_path / "gone").exists()   # never created


def _reserve_many(path, k, out):
    ch = SharedChannel(path)
    out.put([(s, s + 0.001) for s in (ch.reserve(0.0, 0.001) for _ in range(k))])


def test_reservations_from_concurrent_processes_never_overlap(tmp_path):
    path = channel_path(str(tmp_path), "m")
    q = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_reserve_many, args=(path, 200, q)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [iv for _ in procs for iv in q.get(timeout=60)]
    for p in procs:
        p.join(60)
    assert len(got) == 600 and _disjoint(got)
    assert max(e for _, e in got) == pytest.approx(0.6)   # back to back: busy time = the sum of the messages


MSG_S = 0.04  # each cut's message is held 40 ms, far above the tiny model's compute


def _run_spec(shared: bool):
    probe = problem_from_dict(tiny_problem(3, model=None))
    b = [float(probe.out_bytes[1]), float(probe.out_bytes[2])]
    bw = b[0] / MSG_S
    media = {"radio": {"bandwidth_Bps": bw, "energy_J_per_bit": 0.0, "shared": shared}}
    p = problem_from_dict(tiny_problem(3, model=None, medium="radio", media=media))
    plan = [("cpu0", 0, 1), ("cpu1", 2, 2), ("cpu2", 3, 3)]
    spec = build_run_spec(p, plan, TINY, "layer", p.unit_names, alpha=1.0, inputs=8, warmup=2,
                          emulate_links=True, comm_timeout_s=60)
    return spec, [x / bw for x in b]


def _run(tmp_path, shared: bool):
    spec, times = _run_spec(shared)
    return spec, launch(spec, timeout_s=180, workdir=tmp_path), times


def test_shared_medium_senders_take_turns_in_a_pipeline(tmp_path):
    spec, res, times = _run(tmp_path, shared=True)
    assert spec["links"][0]["shared"] and spec["links"][1]["shared"]
    assert res["measured"]["outputs_check"]["exactly_equal"]
    ranks = sorted(res["raw"]["ranks"], key=lambda r: r["rank"])
    iv = [(m[4], m[1]) for r in ranks[:2] for m in r["send"]]
    assert _disjoint(iv)                                   # never two messages on the channel at once
    holds = [sorted(hold_times(r["send"])) for r in ranks[:2]]
    for h, t in zip(holds, times):
        assert h[0] >= t - 1e-6       # (wall-clock floats: 0.2 µs ulp) each message holds its own time ...
    busy = sum(times)                                      # ... and the channel's busy time per inference adds up
    assert res["predicted"]["bottleneck_s"] == pytest.approx(busy)
    n = len(ranks[0]["send"])
    span = max(e for _, e in iv) - min(s for s, _ in iv)
    assert span >= n * busy - 1e-6                         # the run took at least every message back to back
    assert not os.listdir(tmp_path)                        # the channel file went with the run directory

    _, ind, _ = _run(tmp_path, shared=False)
    iranks = sorted(ind["raw"]["ranks"], key=lambda r: r["rank"])
    iv2 = [(m[4], m[1]) for r in iranks[:2] for m in r["send"]]
    assert not _disjoint(iv2)                              # independent links carry messages at the same time
    assert ind["predicted"]["bottleneck_s"] == pytest.approx(max(times))
    assert max(e for _, e in iv2) - min(s for s, _ in iv2) < span
    assert ind["measured"]["period_s"] < res["measured"]["period_s"]


def _store_reserve_many(port, name, k, out):
    from datetime import timedelta

    import torch.distributed as dist

    ch = StoreChannel(dist.TCPStore("127.0.0.1", port, is_master=False, timeout=timedelta(seconds=30)), "m", name)
    out.put([(s, s + 0.001) for s in (ch.reserve(0.0, 0.001) for _ in range(k))])


def test_store_channel_reservations_from_concurrent_processes_never_overlap():
    """The channel of stages on several hosts: one key of the run's TCPStore, reserved by compare-and-set."""
    from datetime import timedelta

    import torch.distributed as dist

    server = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=30))
    ctx = mp.get_context("spawn")   # fresh interpreters: a forked TCPStore client would share the server's socket
    q = ctx.Queue()
    procs = [ctx.Process(target=_store_reserve_many, args=(server.port, f"s{i}", 100, q)) for i in range(3)]
    for p in procs:
        p.start()
    got = [iv for _ in procs for iv in q.get(timeout=120)]
    for p in procs:
        p.join(60)
    assert len(got) == 300 and _disjoint(got)
    assert max(e for _, e in got) == pytest.approx(0.3)   # back to back: busy time = the sum of the messages


def test_torchrun_stages_share_a_channel_through_the_store(tmp_path):
    """Stages started by torchrun (no launcher, no run directory: possibly several hosts) still take turns on a
    shared medium's channel."""
    spec, _ = _run_spec(shared=True)
    res, _ = run_torchrun_nodes(spec, tmp_path, nodes=3, rdzv_id="donna-shared", timeout=180)
    assert res["measured"]["outputs_check"]["exactly_equal"]
    ranks = sorted(res["raw"]["ranks"], key=lambda r: r["stage"]["device"])
    iv = [(m[4], m[1]) for r in ranks[:2] for m in r["send"]]
    assert len(iv) == 2 * len(ranks[0]["send"]) and _disjoint(iv)
