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


class LinkShaper:
    """A serial emulated link: message k is released at ``max(ready_k, release_{k-1}) + latency + bytes/bw``.

    The link carries one message at a time (the cost model's transfer term is per message and links are not
    shared), so a message that becomes ready while the previous one is still "on the wire" queues behind it.
    ``bandwidth_Bps`` None = unshaped (released immediately).
    """

    def __init__(self, bandwidth_Bps: float | None, latency_s: float = 0.0, time_curve=None):
        self.bandwidth_Bps = bandwidth_Bps
        self.latency_s = latency_s
        self.time_curve = time_curve
        self._free_at = float("-inf")

    def release_time(self, ready_t: float, nbytes: int) -> float:
        if self.bandwidth_Bps is None:
            return ready_t
        start = max(ready_t, self._free_at)
        self._free_at = start + emulated_seconds(nbytes, self.bandwidth_Bps, self.latency_s, self.time_curve)
        return self._free_at
