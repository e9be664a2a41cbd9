"""Helpers for the runtime's whole-process tests: a tiny problem, ``donna`` as a subprocess, its stage processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
TINY = "tiny_models:tiny_resnet"
# The venv's console script: unlike `python -m`, it has no working directory on sys.path (as a user runs it).
DONNA = [str(Path(sys.executable).with_name("donna"))] if Path(sys.executable).with_name("donna").exists() \
    else [sys.executable, "-P", "-m", "donna_core.cli"]


def tiny_problem(n_devices: int = 2, time_s: float = 0.001, medium: str = "hb-wcc", media: dict | None = None,
                 model: str | None = TINY, types: tuple[str, ...] | None = None) -> dict:
    """A problem over the tests' tiny residual model (4 layer units)."""
    from tiny_models import tiny_resnet  # tests/ is on sys.path (pytest's pythonpath setting)

    from donna_core.profiling.units import derive_units

    units = derive_units(*tiny_resnet(), "layer").units
    types = types or ("cpu",) * n_devices
    d = {"name": "tiny", "units": [{"name": u.name, "out_bytes": u.out_bytes, "weight_bytes": u.weight_bytes}
                                   for u in units],
         "device_types": {t: {"time_s": [time_s] * len(units), "energy_j": [time_s] * len(units)} for t in set(types)},
         "devices": [{"name": f"{t}{i}", "type": t} for i, t in enumerate(types)], "links": medium,
         "meta": {"granularity": "layer"} | ({"model": model} if model is not None else {})}
    if media:
        d["media"] = media
    return d


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def env_for(tmpdir: Path) -> dict:
    """The environment of a ``donna`` subprocess: this checkout and the tests' models importable, temporary
    directories under ``tmpdir`` (so leftovers can be counted)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS)])
    env["TMPDIR"] = str(tmpdir)
    return env


def donna(args: list[str], tmpdir: Path, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(DONNA + args, env=env_for(tmpdir), cwd=cwd or tmpdir, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def start_donna(args: list[str], tmpdir: Path, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(DONNA + args, env=env_for(tmpdir), cwd=cwd or tmpdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as ended)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (e.g. a run's temporary directory)."""
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and int(d.name) != os.getpid()
            and text in cmdline(int(d.name))]


def wait_for_stages(proc: subprocess.Popen, n: int, timeout: float = 120) -> list[int]:
    """The PIDs of ``n`` stage processes of ``donna`` process ``proc``, once all are running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = [c for c in children(proc.pid) if "donna_core.runtime.worker" in cmdline(c)]
        if len(stages) >= n:
            return stages
        if proc.poll() is not None:
            raise AssertionError(f"donna ended early ({proc.returncode}): {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {n} stage processes after {timeout} s")


def run_dirs(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob("donna-run-*"))


def run_torchrun_nodes(spec: dict, tmpdir: Path, nodes: int, rdzv_id: str, timeout: float = 120) -> tuple[dict, list]:
    """Run ``spec`` as ``nodes`` torchrun nodes on localhost (one stage each, as on separate hosts: no launcher, no
    run directory); every node must exit 0. Returns (stage 0's result, each node's log). Nodes that outlive the
    timeout are killed with their process group."""
    from donna_core.runtime.launch import free_port, worker_env

    spec = {**spec, "print_result": True}
    spec_path, out = tmpdir / "spec.json", tmpdir / "result.json"
    spec_path.write_text(json.dumps(spec))
    port = free_port()
    env = worker_env(0, 1, port, model=TINY)  # the tests' directory on PYTHONPATH, for TINY
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k)
    torchrun = [sys.executable, "-m", "torch.distributed.run"]  # = the torchrun console script of this venv
    procs = [subprocess.Popen(torchrun + ["--nnodes", str(nodes), "--nproc-per-node", "1", "--node-rank", str(i),
                                          "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                                          "--rdzv-id", rdzv_id, "-m", "donna_core.runtime.worker",
                                          str(spec_path), str(out), "--first-stage", str(i), "--model", TINY],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
             for i in range(nodes)]
    try:
        logs = [p.communicate(timeout=timeout)[0].decode(errors="replace") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait()
    assert [p.returncode for p in procs] == [0] * nodes, logs
    return json.loads(out.read_text()), logs
