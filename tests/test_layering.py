"""The package's wings depend on each other one way only: parse every import and check it.

partition ← profiling ← devices ← {experiments, runtime, cli}; the root modules (atomic, lazy, untrusted) are leaves any
wing may use. A wing may also import its own modules. No module imports another module's ``_private`` names.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "donna_core"
ROOT_MODULES = {"atomic", "config", "host", "lazy", "untrusted"}
# wing -> the wings it may import (besides itself and the root modules)
ALLOWED = {
    "partition": set(),
    "profiling": {"partition"},
    "devices": {"partition", "profiling"},
    "experiments": {"partition", "profiling", "devices"},
    "runtime": {"partition", "profiling", "devices"},
    "cli": {"partition", "profiling", "devices", "experiments", "runtime"},
}


def _modules():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _wing(path: Path, pkg: Path = PKG) -> str:
    rel = path.relative_to(pkg).parts
    return rel[0] if len(rel) > 1 else ""


def _targets(path: Path, pkg: Path = PKG):
    """(lineno, absolute dotted target inside donna_core, imported names) for every donna_core import."""
    tree = ast.parse(path.read_text(), str(path))
    pkg_parts = ["donna_core", *path.relative_to(pkg).parts[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "donna_core":
                continue
            names = [a.name for a in node.names]
            if node.module is None or mod.count(".") == 1 and mod.split(".")[1] in ALLOWED:
                # "from . import x" / "from donna_core.partition import x": x may be a submodule
                for n in names:
                    yield node.lineno, f"{mod}.{n}", [n]
            else:
                yield node.lineno, mod, names
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "donna_core":
                    yield node.lineno, a.name, []


def _target_wing(dotted: str) -> str:
    parts = dotted.split(".")
    if len(parts) < 2 or parts[1] in ROOT_MODULES:
        return ""
    return parts[1] if parts[1] in ALLOWED else "?"


def test_every_module_lives_in_a_known_wing():
    for path in _modules():
        w = _wing(path)
        assert w in ALLOWED or (w == "" and path.stem in ROOT_MODULES | {"__init__"}), \
            f"{path.relative_to(PKG)}: not in a wing of the layout (docs/ARCHITECTURE.md)"


def _violations(path: Path, pkg: Path = PKG) -> list[str]:
    me, where = _wing(path, pkg), path.relative_to(pkg)
    out = []
    for lineno, target, names in _targets(path, pkg):
        tw = _target_wing(target)
        if tw == "?":
            out.append(f"{where}:{lineno} imports unknown {target}")
        elif me == "" and tw != "":
            out.append(f"{where}:{lineno}: root module imports wing {tw}")
        elif me != "" and tw not in {"", me} | ALLOWED[me]:
            out.append(f"{where}:{lineno}: {me} must not import {tw} ({target})")
        private = [n for n in names if n.startswith("_")]
        if private:
            out.append(f"{where}:{lineno} imports private names {private} from {target}")
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layering(path):
    assert _violations(path) == []


def test_the_checker_sees_a_violation(tmp_path):
    """The check above can fail: an upward import and a private import in a partition module are reported."""
    pkg = tmp_path / "donna_core"
    fake = pkg / "partition" / "problem.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..experiments.scenarios import sweep\nfrom .exact import _hidden\nfrom ..atomic import x\n")
    v = _violations(fake, pkg)
    assert len(v) == 2 and "partition must not import experiments" in v[0] and "_hidden" in v[1]
