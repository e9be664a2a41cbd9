"""Start one stage process per plan stage on this host, watch them, and stop them all on the first failure.

Each stage runs ``python -P -m donna_core.runtime.worker`` (``-P``: nothing is imported from the working
directory) in its own session (process group), with the ``torch.distributed`` env:// variables torchrun would
set, on a free port picked now. The launcher polls: the first stage that exits non-zero, or the timeout, ends the
run -- every remaining stage's process group gets SIGKILL and is reaped, so no process outlives :func:`launch`.

Signals: inside :func:`ending_on_signals` (``donna run`` and ``calibrate-link`` use it) SIGINT raises
KeyboardInterrupt and SIGTERM / SIGHUP raise :class:`Terminated`, so every ``finally`` runs: stages killed, temporary
``donna-run-*`` directories removed. The spec the stages read names that directory (``run_dir``): the channel files
of emulated shared media live there (:class:`~donna_core.runtime.wire.SharedChannel`). A parent that is SIGKILLed
cannot clean up: its stages die with it
(``worker.end_with_parent``) and its directories are removed by the next :func:`run_dir` (owner PID recorded).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..config import CODE_ROOT
from .spec import is_code_ref, module_root
from .worker import ERROR_MARK, PARENT_ENV

REPO_ROOT = CODE_ROOT
RUN_DIR_PREFIX = "donna-run-"
OWNER_FILE = "owner"
# Signals that end a run, with the exit status a shell would report for them (128 + number).
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StageFailed(RuntimeError):
    """A stage raised, crashed or got stuck; the message names the stage and its error (one line)."""


class Terminated(SystemExit):
    """SIGTERM or SIGHUP ended the run; the exit status is 128 + the signal number (143, 129)."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


@contextlib.contextmanager
def ending_on_signals():
    """Within the block, the signals that end a run raise in the main thread, so every ``finally`` runs.

    The first signal raises; later ones are ignored while the clean-up runs (a second Ctrl-C must not leave
    stages behind). Outside the main thread (no handlers possible) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, _frame):
        if fired:
            return
        fired.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in ENDING_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live owner from a new process that reused its PID)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_alive(owner: str) -> bool:
    try:
        pid_s, _, started = owner.strip().partition(" ")
        pid = int(pid_s)
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process: alive, not ours to judge
        return True
    return not started or started == "None" or _start_time(pid) in (None, started)


def remove_stale_run_dirs(root: str | os.PathLike | None = None) -> list[str]:
    """Remove ``donna-run-*`` directories whose owner process is gone (it was SIGKILLed); returns them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for d in root.glob(RUN_DIR_PREFIX + "*"):
        try:
            owner = (d / OWNER_FILE).read_text()
        except OSError:
            continue  # not one we recorded (or being created): leave it
        if not _owner_alive(owner):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


@contextlib.contextmanager
def run_dir(root: str | os.PathLike | None = None):
    """A private ``donna-run-*`` temporary directory recording its owner, removed on leaving the block."""
    remove_stale_run_dirs(root)
    with tempfile.TemporaryDirectory(prefix=RUN_DIR_PREFIX, dir=root) as tmp:
        (Path(tmp) / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}")
        yield Path(tmp)


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


def stage_pythonpath(model: str | None = None, base: str | None = None) -> str:
    """``PYTHONPATH`` of a stage: this package's root, the root of a code model named on the command line, and
    the caller's explicit entries -- never the working directory (an empty entry would mean it)."""
    paths = [str(REPO_ROOT)]
    root = module_root(model) if model and is_code_ref(model) else None
    if root:
        paths.append(root)
    paths += [os.path.abspath(p) for p in (base or "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(paths))


def worker_env(rank: int, world: int, port: int, base: dict | None = None, model: str | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(world),
                "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world),
                "PYTHONPATH": stage_pythonpath(model, env.get("PYTHONPATH")), "OMP_NUM_THREADS": "1"})
    return env


# Python < 3.11 has no -P: drop the working directory from sys.path by hand, then run the module as -m would.
_NO_CWD_BOOT = ("import sys, runpy; del sys.path[0]; "
                "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def isolated_module(module: str) -> list[str]:
    """The command that runs ``python -m module`` without the working directory on ``sys.path``."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", module]
    return [sys.executable, "-c", _NO_CWD_BOOT, module]


def stage_command(module: str, spec: dict, spec_path: Path, out_path: Path) -> list[str]:
    """``python -P -m module SPEC OUT``; a code model is named on the command line, the only place a stage
    accepts one from (the spec is data)."""
    cmd = isolated_module(module) + [str(spec_path), str(out_path)]
    model = spec.get("model")
    if isinstance(model, str) and is_code_ref(model):
        cmd += ["--model", model]
    return cmd


def launch(spec: dict, timeout_s: float = 600.0, workdir: str | os.PathLike | None = None,
           module: str = "donna_core.runtime.worker") -> dict:
    """Run the stages of ``spec`` (see :mod:`donna_core.runtime.spec`); returns what stage 0 wrote (the run's
    result record, :func:`donna_core.runtime.report.comparison` plus ``raw`` timestamps).

    ``module`` is the stage program (``python -P -m module SPEC OUT``); one process per ``spec["stages"]`` entry.
    ``spec`` is trusted (built in this process, e.g. by :func:`~donna_core.runtime.spec.build_run_spec` from a
    model the user named); a spec read from a file must not be passed here unchecked.
    """
    world = len(spec["stages"])
    with run_dir(workdir) as tmp:
        spec_path, out_path = tmp / "spec.json", tmp / "raw.json"
        # the run directory holds the channel files of emulated shared media (wire.SharedChannel)
        spec_path.write_text(json.dumps({**spec, "run_dir": str(tmp)}))
        port = free_port()
        procs: list[subprocess.Popen] = []
        logs = [tmp / f"stage{r}.log" for r in range(world)]
        try:
            for r in range(world):
                with open(logs[r], "wb") as log:
                    procs.append(subprocess.Popen(
                        stage_command(module, spec, spec_path, out_path),
                        env={**worker_env(r, world, port, model=spec.get("model")), PARENT_ENV: str(os.getpid())},
                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        start_new_session=True, cwd=os.getcwd()))
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
