"""Run a notebook under papermill so that its executed copy is reproducible from any checkout.

Used by ``scripts/make_figures.py`` (and any other papermill runner of the project). Three things make a rerun
with unchanged inputs leave ``git status`` clean:

* paths handed to the notebook are relative to the notebook's folder (its working directory), never absolute;
* volatile metadata is stripped from the executed copy: papermill's timestamps/durations and input/output
  paths, nbclient's per-cell ``execution`` times, the kernelspec's display name (it names the interpreter's
  prefix), and the random id papermill gives the injected-parameters cell;
* progress bars are dropped from the outputs (tqdm's widget bars carry random model ids and its text bars
  carry rates and elapsed times); they mean nothing in a static copy;
* the kernel talks over IPC sockets in a private temporary folder (no TCP port, hence no "running over TCP
  without encryption" warning per notebook).

The kernel is guaranteed to be this interpreter (:func:`venv_kernel`), so a ``python3`` kernelspec elsewhere on
the machine (e.g. in ``~/.local``) cannot hijack the run.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "python3"
_VOLATILE_CELL_KEYS = ("execution",)
_VOLATILE_PAPERMILL_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path")
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_TQDM_TEXT = re.compile(r"\[\d+:\d+(?::\d+)?<[^\]]*(?:it/s|s/it|\?)[^\]]*\]")


def _is_progress_output(out: dict) -> bool:
    if _WIDGET_MIME in out.get("data", {}):
        return True
    return out.get("output_type") == "stream" and out.get("name") == "stderr" and bool(_TQDM_TEXT.search(
        out.get("text", "")))


@contextlib.contextmanager
def venv_kernel(name: str = KERNEL_NAME):
    """Make kernel ``name`` resolve to this interpreter for the duration of the block.

    A kernelspec that runs ``sys.executable`` is written to a temporary directory that is put first on
    JUPYTER_PATH (which jupyter_client searches before the user and system directories).
    """
    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="donna-kernel-") as tmp:
        kdir = Path(tmp) / "kernels" / name
        kdir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)", "language": "python"}
        (kdir / "kernel.json").write_text(json.dumps(spec))
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield spec
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


def _ipc_kernel_manager(socket_dir: str):
    """An AsyncKernelManager class whose kernels listen on IPC sockets under ``socket_dir``."""
    from jupyter_client import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.transport = "ipc"
            self.ip = str(Path(socket_dir) / "kernel")

    return IPCKernelManager


def relative_to_notebook(path: str | Path | None, notebooks_dir: Path) -> str | None:
    """``path`` as the notebook (running in ``notebooks_dir``) should see it: relative, POSIX separators."""
    if path is None:
        return None
    return Path(os.path.relpath(Path(path).resolve(), notebooks_dir.resolve())).as_posix()


def normalize_executed(nb: dict, name: str) -> dict:
    """Strip what changes from run to run or machine to machine from an executed notebook (in place)."""
    meta = nb.setdefault("metadata", {})
    pm = meta.get("papermill", {})
    for k in _VOLATILE_PAPERMILL_KEYS:
        pm.pop(k, None)
    meta.pop("widgets", None)
    ks = meta.get("kernelspec")
    if isinstance(ks, dict):
        ks["display_name"] = "Python 3 (ipykernel)"
    for i, cell in enumerate(nb.get("cells", [])):
        cm = cell.get("metadata", {})
        for k in _VOLATILE_CELL_KEYS:
            cm.pop(k, None)
        cpm = cm.get("papermill")
        if isinstance(cpm, dict):
            for k in _VOLATILE_PAPERMILL_KEYS:
                cpm.pop(k, None)
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if not _is_progress_output(o)]
        if "injected-parameters" in cm.get("tags", []):
            cell["id"] = f"{name}-injected-parameters"
    return nb


def run_notebook(name: str, outdir: Path, parameters: dict, notebooks_dir: Path) -> Path:
    """Execute ``notebooks_dir/<name>.ipynb`` with ``parameters``; the executed copy goes to ``outdir/<name>.ipynb``.

    The copy appears whole or not at all; a failing run is kept as ``<name>.FAILED.ipynb`` for inspection.
    """
    import nbformat
    import papermill as pm

    from ..atomic import write_text_atomic

    src = notebooks_dir / f"{name}.ipynb"
    if not src.is_file():
        raise FileNotFoundError(f"notebook {src} does not exist")
    outdir.mkdir(parents=True, exist_ok=True)
    dst = outdir / f"{name}.ipynb"
    with tempfile.TemporaryDirectory(prefix="donna-nb-") as tmpdir:
        tmp = Path(tmpdir) / f"{name}.ipynb"
        try:
            with venv_kernel():
                pm.execute_notebook(str(src), str(tmp), parameters=parameters, kernel_name=KERNEL_NAME,
                                    cwd=str(notebooks_dir), progress_bar=False, log_output=False,
                                    kernel_manager_class=_ipc_kernel_manager(tmpdir))
        except Exception:
            if tmp.exists():
                os.replace(tmp, outdir / f"{name}.FAILED.ipynb")
            raise
        nb = normalize_executed(nbformat.read(tmp, as_version=4), name)
        write_text_atomic(dst, nbformat.writes(nb) + "\n")
    return dst
