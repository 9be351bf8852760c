"""Ad-hoc SQL in its own lane, through `kaplit serve` on loopback : heavy
queries from several clients at once fill the lane and the rest are answered 429 with
Retry-After, while pages nobody asked for before stay fast; when the load stops, SQL runs again."""

from __future__ import annotations

import http.client
import itertools
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from tests.test_browser import free_port

HEAVY = "with recursive n(x) as (select 1 union all select x + 1 from n) select count(*) from n"


@pytest.fixture(scope="module")
def cold_server(site_db):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "kaplit", "serve", "--db", str(site_db), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while get(port, "/-/versions.json")[0] != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(process.stdout.read().decode()[-2000:])
        time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(10)


def get(port, path, source="127.0.0.1") -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, time.monotonic() - started
    except OSError:
        return 0, {}, time.monotonic() - started


def sql(query) -> str:
    return "/kaplit.json?" + urllib.parse.urlencode({"sql": query})


def test_heavy_sql_waits_in_its_lane_and_pages_stay_fast(cold_server):
    port = cold_server
    answers: list[tuple[int, dict, float]] = []

    def heavy(source):
        for _ in range(3):
            answers.append(get(port, sql(HEAVY), source))

    clients = [threading.Thread(target=heavy, args=(f"127.0.0.{n}",)) for n in range(2, 6) for _ in range(2)]
    for client in clients:
        client.start()
    time.sleep(0.3)  # the lane is full by now
    pages = []
    years = itertools.count(1960)  # a page nobody asked for before, each time
    while any(c.is_alive() for c in clients):
        status, _, seconds = get(port, f"/kaplit/studies?conditions__arraycontains=Depression&year__gte={next(years)}")
        pages.append((status, seconds))
    for client in clients:
        client.join()
    statuses = [status for status, _, _ in answers]
    assert statuses.count(429) >= 6 and all(h.get("retry-after") == "3" for s, h, _ in answers if s == 429)
    assert set(statuses) <= {400, 429}  # 400: stopped at the 3 s time limit, as it should be
    assert pages and all(status == 200 for status, _ in pages)
    assert max(seconds for _, seconds in pages) < 1.0, pages
    assert get(port, sql("select count(*) from studies"), "127.0.0.2")[0] == 200  # the lane is free again
