#!/usr/bin/env python
"""``make app``: serve the explorer (notebooks/05_explore.ipynb) with Voilà on a free port and print its URL
only once the server answers.

The server runs in its own process group and is stopped with this script on Ctrl-C, SIGTERM or SIGHUP (and on
Linux also when this script is killed outright: the child asks the kernel for SIGTERM when its parent dies).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from donna_core.experiments.explore import servers as es

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the signal handlers below still stop the server
        pass


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0: other machines too)")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up when the server has not answered by then")
    args = ap.parse_args(argv)
    port = args.port or es.free_port()
    env = dict(os.environ)
    env["JUPYTER_PATH"] = es.app_jupyter_path(env.get("JUPYTER_PATH"))
    env["PYTHONPATH"] = str(es.REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(es.voila_argv(es.NOTEBOOK, port, args.ip), env=env, start_new_session=True,
                            preexec_fn=_die_with_parent)

    def stop(*_):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        raise SystemExit(0)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    host = "127.0.0.1" if args.ip in ("0.0.0.0", "") else args.ip
    # probe a static file: requesting the app page itself would start a kernel
    probe = f"http://{host}:{port}/voila/static/voila.js"
    deadline = time.monotonic() + args.timeout
    while not _answers(probe):
        if proc.poll() is not None:
            print(f"donna explorer: Voilà exited with code {proc.returncode} before answering", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"donna explorer: no answer from {probe} within {args.timeout:g} s", file=sys.stderr)
            stop()
        time.sleep(0.2)
    print(f"donna explorer: http://{args.ip}:{port}/  (Ctrl-C stops it)", flush=True)
    proc.wait()
    return proc.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
