"""The two ends of a pipeline cut inside a stage process: a :class:`Receiver` and a :class:`Sender` thread.

Each moves a fixed number of one-buffer messages (see :mod:`donna_core.runtime.wire`) over ``torch.distributed``
point-to-point calls, through a bounded queue, so that communication overlaps the stage's compute as the cost
model assumes; each keeps the timestamps the report needs. An error in a thread goes to ``on_error(what, exc)``,
which must end the process (a thread blocked in gloo cannot be joined); ``stop()`` ends a thread between messages.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from .wire import LinkShaper

OnError = Callable[[str, BaseException], None]
_STOP = object()  # queue sentinel: a Sender waiting for its next message ends


class Receiver:
    """Receives ``n`` buffers of ``nbytes`` from rank ``src`` into a queue of at most ``depth`` buffers.

    ``log``: per message (receive posted, receive completed), wall clock.
    """

    def __init__(self, src: int, nbytes: int, n: int, depth: int, on_error: OnError):
        self.src, self.nbytes, self.n, self.on_error = src, nbytes, n, on_error
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.log: list[tuple[float, float]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import torch
        import torch.distributed as dist

        try:
            for _ in range(self.n):
                if self._stopped.is_set():
                    return
                buf = torch.empty(self.nbytes, dtype=torch.uint8)
                t0 = time.time()
                dist.recv(buf, src=self.src)
                self.log.append((t0, time.time()))
                self.queue.put(buf)
        except BaseException as exc:
            self.on_error("receiving", exc)

    def start(self) -> None:
        self._thread.start()

    def get(self):
        return self.queue.get()

    def join(self) -> None:
        self._thread.join()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stopped.set()
        self._thread.join(timeout_s)


class Sender:
    """Sends ``n`` buffers to rank ``dst``, each held until ``shaper`` releases it (an emulated link).

    ``log``: per message (ready, release, send called, send returned, start on the link), wall clock; the
    start is when the emulated link (or shared channel) began carrying it (= ready when unshaped).
    """

    def __init__(self, dst: int, n: int, depth: int, shaper: LinkShaper, on_error: OnError):
        self.dst, self.n, self.shaper, self.on_error = dst, n, shaper, on_error
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.log: list[tuple[float, float, float, float, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import torch.distributed as dist

        try:
            for _ in range(self.n):
                item = self.queue.get()
                if item is _STOP:
                    return
                buf, t_ready = item
                start, release = self.shaper.reserve(t_ready, buf.numel())
                delay = release - time.time()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.time()
                dist.send(buf, dst=self.dst)
                self.log.append((t_ready, release, t0, time.time(), start))
        except BaseException as exc:
            self.on_error("sending", exc)

    def start(self) -> None:
        self._thread.start()

    def put(self, buf, t_ready: float) -> None:
        self.queue.put((buf, t_ready))

    def join(self) -> None:
        self._thread.join()

    def stop(self, timeout_s: float = 1.0) -> None:
        try:
            self.queue.put_nowait(_STOP)
        except queue.Full:  # busy sending: it ends when the process does
            pass
        self._thread.join(timeout_s)
