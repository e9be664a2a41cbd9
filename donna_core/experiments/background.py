"""Background work for interactive front ends: a latest-only worker and solves in a memory-capped child process.

Why: a widget callback that solves in the kernel's own thread blocks every later event (each intermediate slider
value is then computed in turn), and a solve that blows up in memory kills the kernel. Here

* :class:`LatestOnly` runs one job at a time on a worker thread and keeps only the newest submitted job, so
  superseded control values are never computed; a running job can ask ``is_stale()`` and stop early;
* :func:`run_isolated` runs a function in a child process with an address-space limit (``RLIMIT_AS``) and a
  time limit, polls for cancellation, and turns every failure (memory, time, crash) into one
  :class:`IsolatedError` line instead of a dead kernel.

Children come from multiprocessing's *forkserver*, not a plain fork of the kernel: a kernel has several threads
(iopub, heartbeat, this worker), and a fork taken while another thread holds a lock leaves the child waiting on
that lock forever (seen: the explorer's first solve hung in Voilà one run in two). The fork server is a clean
single-threaded process started once per kernel, with the solver modules preloaded, so a child starts in
milliseconds.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from typing import Callable

DEFAULT_MEMORY_BYTES = 4 * 10**9
POLL_S = 0.02
# the graph solvers too: the explorer solves graph placements in the child (saves ~0.2 s of imports per solve)
PRELOAD = ["donna_core.experiments.explore", "donna_core.partition.solve", "donna_core.partition.graph_solve",
           "donna_core.partition.graph_milp", "donna_core.partition.graph_heuristic",
           "donna_core.partition.graph_latency"]
_ctx_lock = threading.Lock()
_ctx = None


def _context():
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _ctx = ctx
        return _ctx


class IsolatedError(RuntimeError):
    """The isolated computation failed (out of memory, too slow, crashed, or raised); the message says which."""


class Cancelled(Exception):
    """The computation was superseded by a newer request."""


def _address_space_bytes() -> int:
    """Current virtual size of this process (the child inherits it, so the limit is added on top)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: no baseline known
        return 0


def _child(conn, fn, args, memory_bytes):
    try:
        if memory_bytes:
            import resource

            limit = _address_space_bytes() + int(memory_bytes)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        conn.send(("ok", fn(*args)))
    except MemoryError:
        conn.send(("memory", ""))
    except BaseException as exc:  # report anything else as one line; the parent decides what to show
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_isolated(fn: Callable, *args, memory_bytes: int = DEFAULT_MEMORY_BYTES, timeout_s: float | None = None,
                 is_stale: Callable[[], bool] = lambda: False):
    """``fn(*args)`` in a child process allowed ``memory_bytes`` more address space than it starts with.

    Raises :class:`Cancelled` when ``is_stale()`` turns true (the child is killed), :class:`IsolatedError` on
    memory exhaustion, timeout, a crash or an exception in ``fn`` (whose type and message are kept). ``fn`` must be
    a module-level function; ``fn``, ``args`` and the result must be picklable.
    """
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args, memory_bytes), daemon=True)
    t0 = time.monotonic()
    proc.start()
    send.close()
    try:
        while not recv.poll(POLL_S):
            if is_stale():
                raise Cancelled()
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise IsolatedError(f"stopped after {timeout_s:g} s (time limit)")
            if not proc.is_alive() and not recv.poll(0):
                raise IsolatedError(f"the solver process died (exit code {proc.exitcode})")
        try:
            status, value = recv.recv()
        except EOFError:
            raise IsolatedError(f"the solver process died (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if status == "memory":
        raise IsolatedError(f"needed more than {memory_bytes / 1e9:.3g} GB of memory (limit)")
    if status == "error":
        raise IsolatedError(value)
    return value


class LatestOnly:
    """Run submitted jobs one at a time on a worker thread, dropping every job superseded before it started.

    A job is ``fn(is_stale)``; ``is_stale()`` is true once a newer job was submitted. With ``inline=True`` jobs
    run synchronously in the caller (tests, scripts). Exceptions go to ``on_error(text)``.
    """

    def __init__(self, on_error: Callable[[str], None] | None = None, inline: bool = False):
        self._cond = threading.Condition()
        self._pending: tuple[int, Callable] | None = None
        self._gen = 0
        self._running = False
        self._on_error = on_error or (lambda text: None)
        self._inline = inline
        self._thread: threading.Thread | None = None

    def submit(self, fn: Callable[[Callable[[], bool]], None]) -> None:
        with self._cond:
            self._gen += 1
            gen = self._gen
            if self._inline:
                self._pending = None
            else:
                self._pending = (gen, fn)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="donna-explorer", daemon=True)
                    self._thread.start()
                self._cond.notify_all()
                return
        self._run(gen, fn)

    def _stale(self, gen: int) -> Callable[[], bool]:
        return lambda: self._gen != gen

    def _run(self, gen: int, fn: Callable) -> None:
        try:
            fn(self._stale(gen))
        except Cancelled:
            pass
        except Exception as exc:  # a job must never kill the worker; show the error as one line instead
            self._on_error(f"{type(exc).__name__}: {exc}")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None:
                    self._cond.wait()
                gen, fn = self._pending
                self._pending = None
                self._running = True
            try:
                self._run(gen, fn)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until no job is pending or running; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._running or self._pending is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True
