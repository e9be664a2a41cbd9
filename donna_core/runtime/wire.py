"""What crosses a cut, and how an emulated link paces it.

Every value live across a cut is packed into ONE uint8 buffer per input, so a cut costs one message, as the
cost model charges one transfer per cut (``latency + bytes / bandwidth``). Both ends derive the layout
(names, dtypes, shapes) from the same units on the same example input, so no header is sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..partition.media import Medium, message_time


class WireError(ValueError):
    """A value live across a cut cannot be sent (not a tensor) or a buffer does not match its layout."""


@dataclass(frozen=True)
class Slot:
    name: str
    dtype: str  # str(torch.dtype), e.g. "torch.float32": JSON-friendly
    shape: tuple[int, ...]
    nbytes: int


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name.split(".", 1)[1])


def layout_of(env: dict[str, Any], names: Sequence[str]) -> list[Slot]:
    """Layout of the values ``names`` in ``env`` (the live-out of a unit)."""
    slots = []
    for n in names:
        v = env[n]
        if not isinstance(v, torch.Tensor):
            raise WireError(f"value {n!r} live across the cut is a {type(v).__name__}, not a tensor; "
                            "the runtime only sends tensors")
        slots.append(Slot(n, str(v.dtype), tuple(v.shape), v.numel() * v.element_size()))
    return slots


def layout_bytes(layout: Sequence[Slot]) -> int:
    return sum(s.nbytes for s in layout)


def pack(env: dict[str, Any], layout: Sequence[Slot]) -> torch.Tensor:
    """One contiguous uint8 buffer holding the layout's values in order (no copy for a single tensor)."""
    parts = [env[s.name].detach().contiguous().reshape(-1).view(torch.uint8) for s in layout]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def unpack(buf: torch.Tensor, layout: Sequence[Slot]) -> dict[str, torch.Tensor]:
    if buf.numel() != layout_bytes(layout):
        raise WireError(f"received {buf.numel()} bytes but the cut carries {layout_bytes(layout)}")
    out, off = {}, 0
    for s in layout:
        dt = _dtype(s.dtype)
        chunk = buf[off: off + s.nbytes]
        itemsize = torch.empty((), dtype=dt).element_size()
        if off % itemsize:  # reinterpreting needs an aligned offset; copy only in that rare case
            chunk = chunk.clone()
        out[s.name] = chunk.view(dt).view(s.shape)
        off += s.nbytes
    return out


def emulated_seconds(nbytes: float, bandwidth_Bps: float, latency_s: float = 0.0, time_curve=None) -> float:
    """Time one message occupies an emulated link: the cost model's own rule (``media.message_time``: the
    line ``latency_s + bytes / bandwidth``, or the medium's measured ``time_curve``)."""
    if time_curve is None:
        return latency_s + nbytes / bandwidth_Bps
    return float(message_time(Medium(bandwidth_Bps, 0.0, latency_s=latency_s,
                                     time_curve=tuple(map(tuple, time_curve))), nbytes))


class SharedChannel:
    """One emulated channel that every sender on a shared medium takes turns on, across stage processes.

    The channel's state is one number, the wall-clock time it is next free, kept in a file inside the run's
    temporary directory (created and removed by the launcher; a stage never creates a directory). A sender
    reserves the interval ``[max(ready, free), max(ready, free) + t)`` under ``fcntl.flock`` on that file, so
    intervals of concurrent senders never overlap: the channel's busy time is the sum of its messages' times,
    as the cost model charges a shared medium. The lock is held only while reserving, not while the message
    is held: a sender that slept on the lock would add its own wake-up delay (ms on a loaded host) to the
    channel's busy time, which the model does not have.
    """

    def __init__(self, path: str):
        self.path = path

    def reserve(self, ready_t: float, seconds: float) -> float:
        """Start of the next free interval of ``seconds`` from ``ready_t``; marks it taken."""
        import fcntl
        import os

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 64, 0).decode().strip()
            free = float(raw) if raw else float("-inf")
            start = max(ready_t, free)
            text = repr(start + seconds).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, text, 0)
            return start
        finally:
            os.close(fd)  # releases the lock


class StoreChannel:
    """The same channel for stages on several hosts (torchrun): its next-free time is a key of the run's c10d
    key-value store (the ``TCPStore`` every stage already reaches at ``MASTER_ADDR:MASTER_PORT``), reserved by
    compare-and-set, so two senders never take overlapping intervals whichever host they run on. Times are
    each host's wall clock: the hosts' clocks must be in sync, as for end-to-end latency across hosts.

    A reservation reads nothing first: it proposes an interval after the last value it saw and, when another
    sender got there first, retries after the value the store returned. Each proposal carries the sender and a
    counter, so two senders never write the same value and a success is unambiguous.
    """

    def __init__(self, store, medium: str, sender: str, namespace: str = ""):
        self.store = store
        self.key = f"donna/channel/{namespace}/{medium}"
        self.sender = sender
        self._seen = b""
        self._n = 0

    def reserve(self, ready_t: float, seconds: float) -> float:
        expected = self._seen
        while True:
            free = float(expected.split(b"|", 1)[0]) if expected else float("-inf")
            start = max(ready_t, free)
            self._n += 1
            desired = f"{start + seconds!r}|{self.sender}|{self._n}".encode()
            got = self.store.compare_set(self.key, expected, desired)
            if got == desired:
                self._seen = desired
                return start
            # the store answers the expected value itself when the key does not exist: start from empty
            expected = b"" if got == expected else got


def channel_path(lock_dir: str, medium: str) -> str:
    """The file of a shared medium's channel in the run's directory (the name is escaped: media are data)."""
    import os
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"%{ord(m.group()):02x}", medium)
    if not os.path.isdir(lock_dir):
        raise RuntimeError(f"run directory {lock_dir} of the shared medium {medium!r} does not exist (the "
                           "launcher has ended the run, or the stages run on several hosts)")
    return os.path.join(lock_dir, f"channel-{safe}.lock")


class LinkShaper:
    """A serial emulated link: message k is released at ``max(ready_k, release_{k-1}) + time(bytes_k)``.

    The link carries one message at a time (the cost model's transfer term is per message), so a message that
    becomes ready while the previous one is still "on the wire" queues behind it. With a ``channel`` (a shared
    medium) the interval is reserved on the channel instead, which all the medium's senders share.
    ``bandwidth_Bps`` None = unshaped (released immediately).
    """

    def __init__(self, bandwidth_Bps: float | None, latency_s: float = 0.0, time_curve=None,
                 channel: SharedChannel | None = None):
        self.bandwidth_Bps = bandwidth_Bps
        self.latency_s = latency_s
        self.time_curve = time_curve
        self.channel = channel
        self._free_at = float("-inf")

    def reserve(self, ready_t: float, nbytes: int) -> tuple[float, float]:
        """``(start, release)`` of the message on the link (both ``ready_t`` when unshaped)."""
        if self.bandwidth_Bps is None:
            return ready_t, ready_t
        t = emulated_seconds(nbytes, self.bandwidth_Bps, self.latency_s, self.time_curve)
        ready = max(ready_t, self._free_at)
        start = self.channel.reserve(ready, t) if self.channel is not None else ready
        self._free_at = start + t
        return start, self._free_at

    def release_time(self, ready_t: float, nbytes: int) -> float:
        return self.reserve(ready_t, nbytes)[1]
