"""`kaplit serve` in worker processes: every worker answers on the one port, ready; kept-alive
connections are shared out evenly between them; none outlives the server, not even a server
killed outright."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kaplit.web.plugins.balance import ACTIVE_SECONDS, Connections, Shares, make_table
from tests.test_browser import free_port
from tests.test_sql_lane import get


def status(port) -> dict | None:
    import http.client

    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/-/kaplit.json")
        return json.loads(connection.getresponse().read())
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting for a parent that reaps it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.fixture
def two_workers(site_db):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "kaplit", "serve", "--db", str(site_db), "--port", str(port),
                                "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while len(workers) < 2:  # each new connection goes to whichever worker accepts it first
        answer = status(port)
        if answer:
            assert answer["ready"] and answer["studies"] > 2000
            workers.add(answer["worker"])
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"two workers did not answer: {process.stdout.read().decode()[-2000:]}")
        time.sleep(0.05)
    yield process, port, workers
    process.kill()
    process.wait(10)


def test_one_worker_is_the_server_itself(site_db):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "kaplit", "serve", "--db", str(site_db), "--port", str(port),
                                "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while (answer := status(port)) is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer and answer["ready"] and answer["worker"] == process.pid
        assert get(port, "/kaplit/studies?conditions__arraycontains=Depression")[0] == 200
    finally:
        process.terminate()
        process.wait(10)


def test_two_workers_serve_the_same_database_on_one_port(two_workers):
    process, port, workers = two_workers
    assert process.pid not in workers
    assert get(port, "/kaplit/studies?conditions__arraycontains=Depression")[0] == 200


def test_workers_end_with_a_killed_server(two_workers):
    process, port, workers = two_workers
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
    assert status(port) is None  # the port is closed, not held by an orphan


def test_four_kept_alive_connections_end_up_two_on_each_worker(two_workers):
    import http.client

    _, port, workers = two_workers
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(4)]
    for connection in connections:  # at once: whichever worker wakes first often accepts all four
        connection.connect()
    until = time.monotonic() + 3 * ACTIVE_SECONDS  # the fixture's own connections are forgotten by then
    while time.monotonic() < until:  # http.client connects again after a `Connection: close`
        answered = []
        for connection in connections:
            connection.request("GET", "/-/kaplit.json")
            answered.append(json.loads(connection.getresponse().read())["worker"])
    assert sorted(Counter(answered).values()) == [2, 2] and set(answered) == workers


def test_a_worker_over_its_share_closes_a_connection(tmp_path):
    """Two workers' tables in one process: the one with three connections of four lets one go."""
    make_table(tmp_path / "shares")
    busy, idle = Connections(Shares(tmp_path / "shares")), Connections(Shares(tmp_path / "shares"))
    assert idle.answering(("127.0.0.1", 4000))
    assert all(busy.answering(("127.0.0.1", port)) for port in (5000, 5001))
    assert not busy.answering(("127.0.0.1", 5002))  # 3 here, 1 there: over ceil(4 / 2)
    assert busy.answering(("127.0.0.1", 5000)) and len(busy.seen) == 2
