"""The arrays the exact solver holds at once, by shape: one list read by the solver (to allocate) and by the
size guard (to estimate before allocating), so the two cannot drift apart.

Symbols: ``M`` count vectors, ``K`` device classes, ``T`` device types (rows of the profile tables), ``L1 =
L + 1``. Every element is 8 bytes (float64 or int64). Shapes are Python ints, so sizes never overflow.

* every mode: the scalar DP's five ``M x K x L1`` tables (value, partial bottleneck, sequence key, previous
  cut, previous class), the dense-rank temporaries of the sequence keys (about two more), the windows of
  feasible starts per type (``T x L1``, two thresholds plus the stage counts) and the candidate chunk of one
  DP target (``CHUNK`` entries, about eight arrays);
* the front and 0 < alpha < 1 add the dense stage tables (``2 x T x L1 x L1``; the completion bounds need
  every stage), the completion tables (``M x L1`` twice, ``M x K x L1``) with their ``L1 x L1`` temporaries,
  one label per state at least, and the second level's candidate labels (``n_level2``, counted by the guard
  from the stage windows before any bound narrows them: an upper bound on that level, which the search
  itself re-checks with the true count before allocating);
* 0 < alpha < 1 also the joint completion bound: ``N_THETAS`` masked stage tables per type and ``N_THETAS``
  tables ``M x L1``.
"""
from __future__ import annotations

from .exact_labels import LABEL_FIELDS      # one Pareto label: the fields of exact_labels.Labels

CHUNK = 1 << 20             # candidate entries (source classes x starts x ends) built at once per DP target
N_THETAS = 8                # bottleneck thresholds of the joint completion bound at 0 < alpha < 1
LABEL_COPIES = 3            # candidates are built, merged and sorted: about three copies at once
ITEM = 8                    # bytes per element


def exact_arrays(M: int, K: int, T: int, L: int, alpha: float | None, n_level2: int = 0,
                 extended: bool = False) -> dict[str, tuple[int, tuple[int, ...]]]:
    """``name -> (how many, shape)`` of the arrays held at once by the exact solver at ``alpha`` (None: the
    Pareto front); ``extended`` (shared media or message CPU costs): the label search runs at every alpha."""
    L1 = L + 1
    out = {
        "dp tables": (5, (M, K, L1)),
        "rank temporaries": (2, (M, K, L1)),
        "start windows": (3, (T, L1)),
        "candidate chunk": (8, (CHUNK,)),
    }
    if alpha is None or 0.0 < alpha < 1.0 or extended:
        out.update({
            "stage tables": (2, (T, L1, L1)),
            "completion tables": (2, (M, L1)),
            "completion by class": (1, (M, K, L1)),
            "completion temporaries": (2, (L1, L1)),
            "labels, one per state": (LABEL_FIELDS, (M, K, L1)),
            "second-level candidates": (LABEL_FIELDS * LABEL_COPIES, (n_level2,)),
        })
    if alpha is not None and 0.0 < alpha < 1.0:
        out.update({
            "joint bound stage tables": (N_THETAS, (T, L1, L1)),
            "joint bound tables": (N_THETAS, (M, L1)),
        })
    return out


def array_shapes(M: int, K: int, T: int, L: int) -> dict[str, tuple[int, ...]]:
    """``name -> shape`` of one array of every kind :func:`exact_arrays` lists (in any mode): the shapes the
    solver allocates with."""
    return {name: shape for name, (_, shape) in exact_arrays(M, K, T, L, 0.5, 0).items()}


def total_bytes(arrays: dict[str, tuple[int, tuple[int, ...]]]) -> int:
    total = 0
    for n, shape in arrays.values():
        size = n
        for s in shape:
            size *= s
        total += size
    return ITEM * total
