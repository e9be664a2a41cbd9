"""The pipeline runtime: exact outputs across cuts, link emulation, failures, torchrun, calibration.

Process-level tests start real stage processes (gloo on localhost, CPU); they assert on exact outputs, on
orderings and on lower bounds, never on wall-clock tolerances.
"""
from __future__ import annotations

import json
import os
import time

import pytest
import torch

from donna_core.partition.problem import problem_from_dict
from donna_core.runtime.calibrate import add_medium, fit_latency_bandwidth, medium_record, relative_errors
from donna_core.runtime.launch import StageFailed, launch
from donna_core.runtime.report import hold_times
from donna_core.runtime.spec import (RunSpecError, build_run_spec, checked_indices, plan_from_json,
                                     torch_device_for)
from donna_core.runtime.wire import LinkShaper, WireError, layout_of, pack, unpack

from tiny_models import tiny_resnet

from .runs import TINY, children, run_torchrun_nodes, tiny_problem


def tiny_spec(plan, n_inputs=6, emulate=False, media=None, medium="hb-wcc", **kw):
    p = problem_from_dict(tiny_problem(3, medium=medium, media=media))
    return build_run_spec(p, plan, TINY, "layer", p.unit_names, alpha=1.0, inputs=n_inputs, warmup=1,
                          emulate_links=emulate, comm_timeout_s=60, **kw)


# --- pure pieces ---------------------------------------------------------------------------------------------

def test_pack_unpack_round_trip_mixed_dtypes_and_alignment():
    env = {"a": torch.arange(3, dtype=torch.uint8), "b": torch.randn(2, 3), "c": torch.arange(4, dtype=torch.int64)}
    lay = layout_of(env, ["a", "b", "c"])  # b starts at offset 3: not 4-aligned -> must still decode exactly
    out = unpack(pack(env, lay).clone(), lay)
    for k in env:
        assert torch.equal(out[k], env[k]) and out[k].dtype == env[k].dtype
    with pytest.raises(WireError, match="received 5 bytes"):
        unpack(torch.zeros(5, dtype=torch.uint8), lay)
    with pytest.raises(WireError, match="not a tensor"):
        layout_of({"s": 3}, ["s"])


def test_link_shaper_releases_after_latency_plus_bytes_over_bandwidth():
    sh = LinkShaper(bandwidth_Bps=1000.0, latency_s=0.5)
    r1 = sh.release_time(10.0, 2000)      # 0.5 + 2 s
    r2 = sh.release_time(10.1, 1000)      # ready while the link is busy: queues behind message 1
    r3 = sh.release_time(20.0, 0)         # link idle again: latency only
    assert r1 == pytest.approx(12.5) and r2 == pytest.approx(r1 + 1.5) and r3 == pytest.approx(20.5)
    assert LinkShaper(None).release_time(3.0, 10**9) == 3.0  # unshaped: immediate


def test_checked_indices_and_plan_json_errors():
    assert checked_indices(10, 3) == [0, 4, 9]        # round(4.5) = 4 (round half to even)
    assert checked_indices(4, 10) == [0, 1, 2, 3] and checked_indices(5, 0) == []
    assert plan_from_json({"stages": [{"device": "cpu0", "first": 0, "last": 3}]}) == [("cpu0", 0, 3)]
    with pytest.raises(RunSpecError, match=r"plan.stages\[0\]: needs"):
        plan_from_json({"stages": [{"device": "cpu0"}]})
    with pytest.raises(RunSpecError, match="compute-in-memory"):
        torch_device_for("cim", 0, 0)
    with pytest.raises(RunSpecError, match="CUDA"):
        torch_device_for("gpu-rtx3070ti", 0, 0)


def test_plans_the_runtime_cannot_execute_get_one_clear_error():
    p = problem_from_dict(tiny_problem(2))
    names = p.unit_names
    with pytest.raises(RunSpecError, match="device 'gpu7' is not in the problem"):
        build_run_spec(p, [("gpu7", 0, 3)], TINY, "layer", names, alpha=1, inputs=4, warmup=1, emulate_links=False)
    with pytest.raises(RunSpecError, match="wrong model or granularity"):
        build_run_spec(p, [("cpu0", 0, 3)], TINY, "layer", ["x"] * 4, alpha=1, inputs=4, warmup=1,
                       emulate_links=False)
    with pytest.raises(RunSpecError, match="do not continue"):
        build_run_spec(p, [("cpu0", 0, 1), ("cpu1", 3, 3)], TINY, "layer", names, alpha=1, inputs=4, warmup=1,
                       emulate_links=False)


def test_fit_recovers_latency_and_bandwidth_and_medium_round_trips_into_a_problem():
    sizes = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
    lat, bw = 50e-6, 2e9
    t = [lat + s / bw for s in sizes]
    flat, fbw = fit_latency_bandwidth(sizes, t)
    assert flat == pytest.approx(lat, rel=1e-6) and fbw == pytest.approx(bw, rel=1e-6)
    assert max(abs(e) for e in relative_errors(sizes, t, flat, fbw)) < 1e-6
    rec = medium_record("loopback", flat, fbw, {}, {"host": "h", "date": "d"})
    d = add_medium(tiny_problem(2), "loopback", rec["medium"], use_for_links=True)
    p = problem_from_dict(json.loads(json.dumps(d)))  # through JSON, as a file would
    assert p.link_medium[0][1] == "loopback" and p.link_bw[0, 1] == pytest.approx(fbw)
    assert p.link_lat[0, 1] == pytest.approx(flat)


# --- real pipelines ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("plan", [
    [("cpu0", 0, 1), ("cpu1", 2, 3)],                    # the cut after c2 carries the skip tensor too
    [("cpu0", 0, 0), ("cpu1", 1, 1), ("cpu2", 2, 3)],    # three stages, one cut with two tensors
], ids=["2-stage", "3-stage"])
def test_pipeline_outputs_equal_single_process_model_exactly(plan):
    spec = tiny_spec(plan, n_inputs=6)
    res = launch(spec, timeout_s=120)
    chk = res["measured"]["outputs_check"]
    assert chk["indices"] == list(range(6)) and chk["exactly_equal"] and chk["max_abs_diff"] == 0.0
    ranks = res["raw"]["ranks"]
    assert [r["stage"]["device"] for r in ranks] == [d for d, _, _ in plan]
    skip_cut = next(r for r in ranks if r["stage"]["last"] == 1)
    assert skip_cut["out_tensors"] == 2 and skip_cut["out_bytes"] == 2 * 8 * 16 * 16 * 4
    assert all(len(r["comp"]) == 6 for r in ranks)
    assert all(rel == ready for r in ranks for ready, rel, *_ in r["send"])  # links not shaped: no hold
    assert not res["emulated"]
    if len(plan) > os.cpu_count():
        assert res["measured"]["more_stages_than_cores"]  # said so in the output


@pytest.mark.parametrize("kind", ["raise", "hang"])
def test_failing_or_stuck_stage_stops_the_run_with_its_error_and_no_orphans(kind):
    fault = {"stage": 1, "at_input": 2, "kind": kind}
    spec = tiny_spec([("cpu0", 0, 1), ("cpu1", 2, 3)], n_inputs=8, fault=fault)
    # children that earlier tests left on purpose (e.g. the explorer's multiprocessing forkserver) are not ours
    before = set(children(os.getpid()))
    t0 = time.monotonic()
    timeout = 12.0  # stage start-up is a few seconds; a hang must be cut off by the run timeout
    with pytest.raises(StageFailed) as ei:
        launch(spec, timeout_s=timeout)
    msg = str(ei.value)
    assert "\n" not in msg
    if kind == "raise":
        assert "stage 1 (cpu1)" in msg and "injected fault at input 2" in msg
    else:
        assert "timeout" in msg and "stage 1 (cpu1)" in msg
    assert time.monotonic() - t0 < timeout + 10
    assert set(children(os.getpid())) - before == set()


def test_two_torchrun_nodes_on_localhost(tmp_path):
    spec = tiny_spec([("cpu0", 0, 1), ("cpu1", 2, 3)], n_inputs=5)
    res, logs = run_torchrun_nodes(spec, tmp_path, nodes=2, rdzv_id="donna-test")
    assert res["measured"]["outputs_check"]["exactly_equal"]
    assert [r["stage"]["device"] for r in res["raw"]["ranks"]] == ["cpu0", "cpu1"]
    assert any("exactly equal" in log for log in logs)  # stage 0 printed the comparison


def test_donna_run_cli_with_emulated_link(tmp_path, capsys):
    """donna run end to end, links shaped to a medium: every message is held >= latency + bytes / bandwidth."""
    from donna_core.cli.main import main

    # 8.192 MB/s + 1 ms latency: each 16 KiB message of the cut (skip tensor included) is held 3 ms.
    media = {"slow": {"bandwidth_Bps": 8192e3, "energy_J_per_bit": 0.0, "latency_s": 1e-3}}
    prob = tmp_path / "p.json"
    prob.write_text(json.dumps(tiny_problem(2, medium="slow", media=media)))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"stages": [{"device": "cpu0", "first": 0, "last": 1},
                                           {"device": "cpu1", "first": 2, "last": 3}]}))
    out = tmp_path / "r.json"
    assert main(["run", str(prob), "--plan", str(plan), "--inputs", "6", "--warmup", "1", "-o", str(out),
                 "--emulate-links", "--model", TINY]) == 0
    text = capsys.readouterr().out
    assert "throughput: predicted" in text and "exactly equal" in text and "links emulated" in text
    res = json.loads(out.read_text())
    assert res["provenance"]["kind"] == "measured" and "load_avg_before" in res["provenance"]
    energy = res["measured"]["energy"]
    assert energy["source"] in ("unavailable", "rapl", "nvml-energy", "nvml-power")
    # no meter is never reported as 0 J: unavailable <=> no number
    assert (energy["source"] == "unavailable") == (energy["per_inference_j"] is None)
    delay = 1e-3 + 2 * 8 * 16 * 16 * 4 / 8192e3
    assert res["predicted"]["stages"][0]["comm_out_s"] == pytest.approx(delay)
    send, recv = res["raw"]["ranks"][0]["send"], res["raw"]["ranks"][1]["recv"]
    for (ready, release, t0, *_), (_post, rdone) in zip(send, recv):
        assert release - ready >= delay - 1e-9      # never released earlier than latency + bytes / bandwidth
        assert t0 >= release and rdone >= release    # nothing arrives before its release
    releases = [s[1] for s in send]
    assert all(b - a >= delay - 1e-9 for a, b in zip(releases, releases[1:]))  # one message at a time
    assert all(h >= delay - 1e-9 for h in hold_times(send))
    last_done = res["raw"]["ranks"][1]["comp"][-1][4]
    assert last_done - releases[0] >= (len(releases) - 1) * delay  # the link paces the whole pipeline
    assert res["links"][0]["mode"] == "emulated"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stages": [{"device": "gpu9", "first": 0, "last": 3}]}))
    assert main(["run", str(prob), "--plan", str(bad), "--inputs", "5", "--model", TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gpu9" in err


def test_frozen_weights_load_to_the_same_model(tmp_path):
    from donna_core.runtime.spec import freeze_model, load_model

    path = freeze_model(TINY, tmp_path / "w.pt", code_allowed=True)
    m1, x1 = tiny_resnet()
    m2, x2 = load_model(TINY, path, code_allowed=True)
    assert torch.equal(x1, x2) and not any(p.is_meta or p.requires_grad for p in m2.parameters())
    with torch.no_grad():
        assert torch.equal(m1(x1), m2(x2))
    with pytest.raises(RunSpecError, match="holds model"):
        load_model("vgg8", path)
    assert load_model(TINY, str(tmp_path / "missing.pt"), code_allowed=True)[1].shape == x1.shape  # built here
    with pytest.raises(RunSpecError, match="names code"):   # code only where a command line named it
        load_model(TINY, path)


def test_summarise_and_error_split_on_hand_made_timestamps():
    from donna_core.runtime.report import error_split, summarise

    # 2 stages, 5 inputs, warm-up 1. Stage 0 computes 1.0 s (CPU 0.5: it waited for its core half the time),
    # the link holds 0.25 s, wire 0.05 s; stage 1 computes 0.5 s and finishes input i at 2.3 + 1.2 i.
    N, w = 5, 1
    s0_comp = [(1.2 * i, 1.2 * i, 1.2 * i + 1.0, 1.2 * i + 1.0, 1.2 * i + 1.0, 0.5) for i in range(N)]
    send = [(1.2 * i + 1.0, 1.2 * i + 1.25, 1.2 * i + 1.25, 1.2 * i + 1.30) for i in range(N)]
    recv = [(1.2 * i + 1.1, 1.2 * i + 1.30) for i in range(N)]
    s1_comp = [(1.2 * i + 1.3 - 0.7, 1.2 * i + 1.3, 1.2 * i + 1.8, 1.2 * i + 1.8, 1.2 * i + 1.8, 0.5) for i in range(N)]
    stage = lambda k, f, l: {"device": f"cpu{k}", "first": f, "last": l}
    raw = {"ranks": [
        {"rank": 0, "stage": stage(0, 0, 1), "host": "h", "core": 0, "setup_s": 1.0, "comp": s0_comp, "send": send,
         "recv": [], "out_bytes": 100, "out_tensors": 2, "energy": None, "load_avg_end": [0, 0, 0]},
        {"rank": 1, "stage": stage(1, 2, 3), "host": "h", "core": 1, "setup_s": 1.0, "comp": s1_comp, "send": [],
         "recv": recv, "out_bytes": 0, "out_tensors": 0, "energy": None, "load_avg_end": [0, 0, 0]}],
        "check": {"indices": [0], "exactly_equal": True, "max_abs_diff": 0.0}}
    m = summarise(raw, {"warmup": w, "inputs": N})
    assert m["period_s"] == pytest.approx(1.2) and m["throughput_ips"] == pytest.approx(1 / 1.2)
    s0, s1 = m["stages"]
    assert s0["compute_s"] == pytest.approx(1.0) and s0["compute_cpu_s"] == pytest.approx(0.5)
    assert s1["idle_s"] == pytest.approx(0.7) and s1["compute_s"] == pytest.approx(0.5)
    tr = s0["transfer"]
    assert tr["emulated_hold_s"] == pytest.approx(0.25) and tr["wire_s"] == pytest.approx(0.05)
    assert tr["transfer_s"] == pytest.approx(0.30) and tr["bytes"] == 100
    assert m["latency_s"] == pytest.approx(1.8) and m["energy"]["source"] == "unavailable"
    assert m["more_stages_than_cores"] == []
    pred = {"bottleneck_s": 0.6, "input_s": 0.0, "stages": [{"compute_s": 0.6, "comm_out_s": 0.25},
                                                             {"compute_s": 0.5, "comm_out_s": 0.0}]}
    e = error_split(pred, m)
    # Pc = 1.0 (stage 0's measured compute), Pcpu = 0.5 -> max(0.5, 0.25, 0.5) = 0.5
    assert e["compute_part_s"] == pytest.approx(0.4) and e["comm_overlap_part_s"] == pytest.approx(0.2)
    assert e["work_part_s"] == pytest.approx(-0.1) and e["core_wait_part_s"] == pytest.approx(0.5)
    assert e["rel_error"] == pytest.approx(1.0)
