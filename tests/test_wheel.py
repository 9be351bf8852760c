"""kaplit as a user installs it: a wheel built from the checkout, installed into a fresh virtual
environment outside it, loads records and serves them (metadata.yml, templates, static files and
weights are package data; everything installs under the one name `kaplit`).

The environment gets the wheel alone (`--no-deps`); its dependencies are read from the test
environment's site-packages through a .pth line, which imports them but runs none of that
folder's own .pth files (so the checkout's editable install stays out of it).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

from tests.test_browser import free_port

REPO = Path(__file__).resolve().parents[1]


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result


def test_the_wheel_installs_alone_and_serves(tmp_path, efetch_dir):
    run(sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "--quiet", "--wheel-dir", tmp_path / "dist")
    wheel = next((tmp_path / "dist").glob("kaplit-*.whl"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    assert sorted(p.name for p in site.iterdir() if p.suffix != ".pth" and not p.name.startswith("_")) == [
        "kaplit", f"{wheel.name.split('-py3')[0]}.dist-info"]

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run(python, "-c", "import kaplit.web, kaplit.db; print(kaplit.web.__file__)", cwd=work).stdout
    assert where.startswith(str(site))
    run(venv / "bin" / "kaplit", "ingest", efetch_dir / "metapub", "--db", "k.db", cwd=work)
    port = free_port()
    server = subprocess.Popen([venv / "bin" / "kaplit", "serve", "--db", "k.db", "--port", str(port)], cwd=work,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/", server).count("evidence-map") >= 1
        assert "Ketamine" in _get(base + "/article/38011560", server)
        assert "38011560" in _get(base + "/k/search.json?_shape=array&q=ketamine", server)
    finally:
        server.terminate()
        server.wait(10)


def _get(url, server, seconds=30) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode()
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"kaplit serve failed: {server.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
