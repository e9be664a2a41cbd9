"""Interchangeable devices, grouped into classes so the exact search grows with prod(class size + 1), not 2^D.

Two devices are interchangeable when they have the same type (hence the same profile, memory and allowed
units), the same medium (hence bandwidth, energy per bit and latency) to every *other* device, and neither is
the input source. Swapping two such devices in any plan gives a
plan with identical costs, so a plan only needs to say how many members of each class it uses and in which
order; the members are used in index order (the canonical, lowest-index-first representative).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import Problem


@dataclass(frozen=True)
class DeviceClasses:
    members: tuple[tuple[int, ...], ...]   # device indices of each class, ascending; classes ordered by first member
    sizes: np.ndarray                       # (K,)
    strides: np.ndarray                     # mixed-radix strides to encode a count vector as one integer
    counts: np.ndarray                      # (M, K): every count vector, row = its integer code
    n_used: np.ndarray                      # (M,): number of stages (devices used) of each count vector

    @property
    def K(self) -> int:
        return len(self.members)

    @property
    def M(self) -> int:
        return len(self.counts)


def _interchangeable(p: Problem, a: int, b: int) -> bool:
    if p.device_type[a] != p.device_type[b] or p.source in (a, b):
        return False
    others = [x for x in range(p.D) if x not in (a, b)]
    # the medium name fixes bandwidth, energy and latency; the arrays are compared too, so that a class never
    # merges devices whose links differ in any of them, whatever the names say
    return all(p.link_medium[a][x] == p.link_medium[b][x] for x in others) and all(
        np.array_equal(arr[a, others], arr[b, others]) and np.array_equal(arr[others, a], arr[others, b])
        for arr in (p.link_bw, p.link_epb, p.link_lat))


def class_members(p: Problem) -> tuple[tuple[int, ...], ...]:
    """Device indices of each class (ascending; classes ordered by first member), without the count-vector
    table: the size guard estimates that table's size from these alone."""
    classes: list[list[int]] = []
    for d in range(p.D):
        for cls in classes:
            # require interchangeability with every member, so a class never mixes incompatible devices
            if all(_interchangeable(p, d, m) for m in cls):
                cls.append(d)
                break
        else:
            classes.append([d])
    return tuple(tuple(c) for c in classes)


def device_classes(p: Problem) -> DeviceClasses:
    classes = class_members(p)
    sizes = np.array([len(c) for c in classes], dtype=np.int64)
    strides = np.concatenate([[1], np.cumprod(sizes + 1)[:-1]]).astype(np.int64)
    M = int(np.prod(sizes + 1))
    codes = np.arange(M, dtype=np.int64)
    counts = (codes[:, None] // strides[None, :]) % (sizes + 1)[None, :]
    return DeviceClasses(classes, sizes, strides, counts, counts.sum(axis=1))
