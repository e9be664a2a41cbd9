"""``make app`` (scripts/serve_app.py) prints its URL only once the server answers, and stops the server with it."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_url_is_printed_when_the_server_answers():
    pytest.importorskip("voila")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "serve_app.py")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://\S+/)", line)
        assert m, f"no URL in {line!r}"
        # the very first request after the line is answered (probe a static file: the page would start a kernel)
        with urllib.request.urlopen(m.group(1) + "voila/static/voila.js", timeout=5) as r:
            assert r.status == 200
        port = int(re.search(r":(\d+)/", m.group(1)).group(1))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=1)
        except OSError:
            break
        time.sleep(0.3)
    else:
        pytest.fail("the Voila server outlived serve_app.py")
