"""Start the explorer's servers (Voilà app, JupyterLab) and a headless Chromium for tests and benchmarks.

Used by scripts/serve_app.py (`make app`), tests/experiments/test_browser.py and scripts/bench_explorer.py. Every
server runs in its own process group on a
free port and is stopped (that group only) when its ``with`` block ends, also on errors.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ... import config

REPO = config.ROOT
NOTEBOOK = REPO / "notebooks" / "05_explore.ipynb"
# the app's Voilà template (share/jupyter/voila/templates/donna: no CDN stylesheets) and the notebook cell tag it
# leaves out (the notebook's static example, which is not part of the app)
JUPYTER_SHARE = REPO / "share" / "jupyter"
APP_TEMPLATE = "donna"
APP_HIDDEN_TAG = "hide-in-app"
CHROMIUM = os.environ.get("DONNA_CHROMIUM", "/usr/bin/chromium")
# As root Chromium needs --no-sandbox; without the background-networking flags it keeps opening outbound
# connections (component updates, sync) that this machine refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def browser_missing() -> str | None:
    """Why the browser tools cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set DONNA_CHROMIUM)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}; log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer {url} within {timeout_s:g} s; log:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # the group we created: the server and its kernels
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextlib.contextmanager
def _server(argv: list[str], url: str, probe: str, workdir: Path, timeout_s: float):
    env = dict(os.environ)
    # the kernel must import this checkout's donna_core, whatever is installed
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # and run on this interpreter: a "python3" kernelspec elsewhere (e.g. ~/.local) must not take over
    kdir = workdir / "jupyter" / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    env["JUPYTER_PATH"] = app_jupyter_path(str(workdir / "jupyter") + (os.pathsep + env["JUPYTER_PATH"]
                                                                        if env.get("JUPYTER_PATH") else ""))
    log = workdir / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_http(probe, proc, log, timeout_s)
        yield url
    finally:
        _stop(proc)


def voila_argv(notebook: Path, port: int, ip: str = "127.0.0.1") -> list[str]:
    """The command serving ``notebook`` as the explorer app (``make app`` and the tests run this one)."""
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", f"--Voila.ip={ip}",
            "--Voila.open_browser=False", f"--template={APP_TEMPLATE}",
            f"--TagRemovePreprocessor.remove_cell_tags={APP_HIDDEN_TAG}"]


def app_jupyter_path(extra: str | None = None) -> str:
    """JUPYTER_PATH with the app's template directory first (Voilà looks templates up there)."""
    return os.pathsep.join([str(JUPYTER_SHARE)] + ([extra] if extra else []))


@contextlib.contextmanager
def voila_app(notebook: Path = NOTEBOOK, timeout_s: float = 90.0):
    """Serve ``notebook`` with Voilà; yields the app's URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="donna-voila-") as tmp:
        argv = voila_argv(notebook, port)
        # probe a static file: requesting the app page itself would start a kernel
        with _server(argv, f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/voila/static/voila.js",
                     Path(tmp), timeout_s) as url:
            yield url


@contextlib.contextmanager
def jupyter_lab(notebook: Path = NOTEBOOK, timeout_s: float = 120.0):
    """JupyterLab on a copy of ``notebook`` (autosave must not touch the tracked file).

    Yields (notebook URL, path of the copy). Saves go through scripts/jupyter_config.py (outputs stripped).
    """
    port = free_port()
    token = os.urandom(12).hex()
    with tempfile.TemporaryDirectory(prefix="donna-lab-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        shutil.copy(notebook, root / notebook.name)
        argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                f"--config={REPO / 'scripts' / 'jupyter_config.py'}", "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        base = f"http://127.0.0.1:{port}"
        with _server(argv, f"{base}/lab/tree/{notebook.name}?token={token}", f"{base}/api/status?token={token}",
                     Path(tmp), timeout_s) as url:
            yield url, root / notebook.name


@contextlib.contextmanager
def chromium(viewport=(1400, 1000)):
    """A headless system Chromium through Playwright; yields (browser, context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield browser, context
        finally:
            browser.close()
