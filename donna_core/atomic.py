"""Atomic file writes: a reader sees either the old file or the whole new one, never a torn write."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | os.PathLike, data: bytes, parents: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and ``os.replace``
    (creating the directory first unless ``parents`` is False)."""
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # Leave the previous version intact and no temp litter behind.
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # a failed write (full disk) does not say which file; the caller's message should
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str, parents: bool = True) -> Path:
    """Atomically write UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"), parents)


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2, parents: bool = True) -> Path:
    """Atomically write ``obj`` as JSON (NaN/inf rejected so the file stays standard JSON)."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n", parents)


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` (JSON ``null``): RFC 8259 has no Infinity/NaN, and
    a throughput is infinite exactly when every cost is 0."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
