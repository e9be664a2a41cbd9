"""argparse types shared by the sub-commands: each parses with :mod:`..untrusted`'s strict number rules and
refuses a bad value with one line naming what was expected."""
from __future__ import annotations

import argparse

from ..untrusted import parse_float, parse_int


def alpha_arg(text: str) -> float:
    """argparse type for --alpha (shared by the sub-commands)."""
    try:
        a = parse_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= a <= 1.0:
        raise argparse.ArgumentTypeError(f"alpha must be in [0, 1], got {text}")
    return a


def seconds_arg(what: str):
    """argparse type for a positive, finite number of seconds; errors name ``what``."""
    def parse(text: str) -> float:
        try:
            t = parse_float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number of seconds, got {text!r}") from None
        if not (t > 0 and t < float("inf")):
            raise argparse.ArgumentTypeError(f"{what} must be > 0 seconds, got {text}")
        return t
    return parse


def int_at_least(lo: int):
    """argparse type: a plain integer >= ``lo`` (``1_0``, ``inf``, ``-5`` for a count are refused here)."""
    def parse(text: str) -> int:
        try:
            v = parse_int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {v}")
        return v
    return parse


def size_arg(text: str) -> int:
    """A message size in bytes: a plain decimal (1e6 allowed) with a whole, positive, finite value."""
    try:
        v = parse_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in bytes, got {text!r}") from None
    if not (1 <= v < float("inf")) or not v.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number of bytes >= 1, got {text!r}")
    return int(v)
