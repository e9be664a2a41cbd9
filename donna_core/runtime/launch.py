"""Start one stage process per plan stage on this host, watch them, and stop them all on the first failure.

Each stage runs ``python -m donna_core.runtime.worker`` in its own session (process group), with the
``torch.distributed`` env:// variables torchrun would set, on a free port picked now. The launcher polls: the
first stage that exits non-zero, or the timeout, ends the run -- every remaining stage's process group gets
SIGKILL and is reaped, so no process outlives :func:`launch` (also on KeyboardInterrupt).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .worker import ERROR_MARK

REPO_ROOT = Path(__file__).resolve().parents[2]


class StageFailed(RuntimeError):
    """A stage raised, crashed or got stuck; the message names the stage and its error (one line)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stage_error(log: Path) -> str | None:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    marked = [ln[len(ERROR_MARK):].strip() for ln in lines if ln.startswith(ERROR_MARK)]
    if marked:
        return marked[-1]
    tail = [ln for ln in lines if ln.strip()]
    return tail[-1] if tail else None


def _is_peer_error(msg: str) -> bool:
    return any(k in msg for k in ("Connection closed", "Connection reset", "Broken pipe", "gloo"))


def _kill_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        p.wait()


def worker_env(rank: int, world: int, port: int, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    # Stages import donna_core (and a module:function model) the way this process does.
    paths = [str(REPO_ROOT)] + [p for p in sys.path if p and os.path.isdir(p)]
    env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(world),
                "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world),
                "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths + env.get("PYTHONPATH", "").split(os.pathsep)))
                .strip(os.pathsep),
                "OMP_NUM_THREADS": "1"})
    return env


def launch(spec: dict, timeout_s: float = 600.0, workdir: str | os.PathLike | None = None,
           module: str = "donna_core.runtime.worker") -> dict:
    """Run the stages of ``spec`` (see :mod:`donna_core.runtime.spec`); returns what stage 0 wrote (the run's
    result record, :func:`donna_core.runtime.report.comparison` plus ``raw`` timestamps).

    ``module`` is the stage program (``python -m module SPEC OUT``); one process per ``spec["stages"]`` entry.
    """
    world = len(spec["stages"])
    with tempfile.TemporaryDirectory(prefix="donna-run-", dir=workdir) as tmp:
        tmp = Path(tmp)
        spec_path, out_path = tmp / "spec.json", tmp / "raw.json"
        spec_path.write_text(json.dumps(spec))
        port = free_port()
        procs: list[subprocess.Popen] = []
        logs = [tmp / f"stage{r}.log" for r in range(world)]
        try:
            for r in range(world):
                with open(logs[r], "wb") as log:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", module, str(spec_path), str(out_path)],
                        env=worker_env(r, world, port), stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=os.getcwd()))
            deadline = time.monotonic() + timeout_s
            while True:
                codes = [p.poll() for p in procs]
                failed = [r for r, c in enumerate(codes) if c not in (None, 0)]
                if failed:
                    msgs = [m for m in (_stage_error(logs[r]) for r in failed) if m]
                    # a stage whose peer died fails with a connection error; the other message is the cause
                    msgs.sort(key=_is_peer_error)
                    first = msgs[0] if msgs else f"stage {failed[0]} exited with code {codes[failed[0]]}"
                    raise StageFailed(f"run stopped: {first}")
                if all(c == 0 for c in codes):
                    break
                if time.monotonic() > deadline:
                    stuck = [r for r, c in enumerate(codes) if c is None]
                    names = ", ".join(f"stage {r} ({spec['stages'][r]['device']})" for r in stuck)
                    raise StageFailed(f"run stopped: timeout after {timeout_s:g} s with {names} still running "
                                      "(stuck or too slow; raise --timeout)")
                time.sleep(0.05)
        finally:
            _kill_all(procs)
        if not out_path.exists():
            raise StageFailed("run finished but stage 0 wrote no result")
        return json.loads(out_path.read_text())
