"""Lazy re-exports for the wings' ``__init__`` (PEP 562), so ``import donna_core.partition`` stays cheap.

A wing names its public entry points once; a submodule (and its heavy imports: torch, pandas, matplotlib) is
loaded only when one of its names is first used. ``donna solve`` therefore never pays for torch.
"""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """``exports`` maps public name -> submodule (relative to ``package``); returns ``(__getattr__, __dir__)``."""
    def __getattr__(name: str):
        try:
            sub = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(f"{package}.{sub}"), name)

    def __dir__() -> list:
        return sorted(exports)

    return __getattr__, __dir__
