"""The served site in a real headless Chromium (Debian's `chromium`, installed by .ci/run),
driven by Playwright over `kaplit serve` on 127.0.0.1. Screenshots go to tests/artifacts/
(or $KAPLIT_ARTIFACTS)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KAPLIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying Google's hosts on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("KAPLIT_ARTIFACTS") or Path(__file__).parent / "artifacts")
PTSD = "Post-traumatic stress disorder (PTSD)"
HOST = "kaplit.test"  # a host name of the tests' own, mapped to 127.0.0.1 for Chromium alone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(site_db):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "kaplit", "serve", "--db", str(site_db), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"kaplit serve did not start: {process.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (or set KAPLIT_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A page that records JavaScript errors, console errors and dialogs (alert() from hostile
    markup would open one), and saves a full-page screenshot when the test ends."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.problems = []
    tab.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
    tab.on("console", lambda message: message.type == "error" and tab.problems.append(f"console: {message.text}"))
    tab.on("dialog", lambda dialog: (tab.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def test_landing_page_shows_search_evidence_map_and_chart(page, server):
    page.goto(server + "/")
    assert page.get_by_role("heading", name="Evidence map").is_visible()
    assert page.locator("table.evidence-map tbody tr").count() >= 10
    assert page.locator("form.kaplit-search input[name=q]").is_visible()
    assert page.locator("svg.year-chart polyline").count() == 6
    assert page.locator("section.latest").first.is_visible()
    assert page.problems == []


def test_two_clicks_from_landing_to_a_ptsd_rct(page, server):
    page.goto(server + "/")
    row = page.locator("table.evidence-map tbody tr", has=page.locator("th", has_text=PTSD))
    rct_column = [h.strip() for h in page.locator("table.evidence-map thead th").all_inner_texts()].index("RCTs")
    cell = row.locator("td").nth(rct_column - 1).locator("a:not(.uncertain)")
    expected = int(cell.inner_text().replace(",", ""))
    cell.click()
    page.wait_for_load_state()
    assert f"{expected} row" in page.locator("h3").first.inner_text()
    page.locator("td.col-title a").first.click()
    page.wait_for_load_state()
    assert "/article/" in page.url
    assert page.locator("h1.article-title").is_visible()
    assert PTSD in page.locator("section.study-tags").inner_text()
    assert page.problems == []


def test_article_page_highlights_evidence_and_links_out(page, server):
    page.goto(server + "/article/27797938")
    assert page.locator("h1.article-title i", has_text="TERT").is_visible()
    assert page.locator("section.abstract mark").count() >= 1
    assert page.locator("section.abstract mark").first.is_visible()
    assert page.get_by_role("link", name="PubMed").get_attribute("href") == "https://pubmed.ncbi.nlm.nih.gov/27797938/"
    assert page.locator(".section-label").all_inner_texts() == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert page.problems == []


def test_hostile_record_renders_inert_with_a_retraction_banner(page, server):
    page.goto(server + "/article/990000101")  # hand-written fixture with script, onclick, onerror
    assert page.locator("div.banner-danger").is_visible()
    page.locator("h1.article-title i").click()  # carried onclick="alert(...)" in the record
    page.locator("section.abstract b").hover()  # carried onmouseover
    assert page.locator("section.content script, section.content img").count() == 0
    assert "<script>alert('escaped')</script>" in page.locator("section.abstract").inner_text()
    assert page.problems == []


def test_search_box_finds_studies(page, server):
    page.goto(server + "/")
    page.fill("form.kaplit-search input[name=q]", "esketamine")
    page.press("form.kaplit-search input[name=q]", "Enter")
    page.wait_for_load_state()
    titles = page.locator("td.col-title a").all_inner_texts()
    assert len(titles) > 20 and "esketamine" in titles[0].lower()
    assert page.problems == []


WALK_LIMIT = 300


def test_every_link_stays_on_the_host_and_port_it_was_served_from(browser, server):
    """From the landing page, the studies page unfiltered and filtered, an article page and
    /taxonomy, every same-site link a page offers points at the host and port the visitor used
    and answers 200: facets, "Next page", exports, articles (breadth first, 60 pages from each)."""
    port = server.rsplit(":", 1)[1]
    origin = f"http://{HOST}:{port}"
    context = browser.new_context()
    tab = context.new_page()
    starts = ["/", "/kaplit/studies?_sort_desc=pub_date",
              f"/kaplit/studies?conditions__arraycontains={PTSD}&routes__arraycontains=Intravenous",
              "/article/32412700", "/taxonomy"]
    seen, failures = set(), []
    for start in starts:
        queue, walked = [origin + start], 0
        while queue and walked < WALK_LIMIT // len(starts):
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            walked += 1
            failures += _visit(tab, url, server, origin, queue, seen)
    context.close()
    assert not failures, failures[:10]
    assert len(seen) >= 200
    assert any("_next=" in url for url in seen) and any("/article/" in url for url in seen)
    assert any(url.endswith(".ris") or ".ris?" in url for url in seen)


def _visit(tab, url, server, origin, queue, seen) -> list:
    """Fetch one page; queue the same-site links it offers (a first "Next page" ahead of the
    rest); the problems found."""
    if DOWNLOAD.search(url.split("?")[0]):  # a browser saves these: fetch them as a program would
        status, body = _download(url, server)
        return [] if status == 200 and b"http://localhost" not in body else [(url, status)]
    response = tab.goto(url)
    if response.status != 200:
        return [(url, response.status)]
    if "text/html" not in (response.headers.get("content-type") or ""):
        return []
    problems = []
    for href in tab.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
        target = href.split("#")[0]
        if target.startswith(("http://localhost", "http://127.0.0.1")):
            problems.append((url, f"links to {target}"))
        elif target.startswith(origin) and target not in seen:
            if "_next=" in target and "_next=" not in url:
                queue.insert(0, target)
            else:
                queue.append(target)
    return problems


DOWNLOAD = re.compile(r"\.(csv|ris|bib|atom|json|db)$")


def _download(url: str, server: str) -> tuple[int, bytes]:
    """GET `url` from the test server, keeping the host name the visitor used."""
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(server + parts.path + ("?" + parts.query if parts.query else ""),
                                     headers={"Host": parts.netloc})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_choosing_a_condition_then_a_route_facet(page, server):
    """A clinician narrows the studies list by clicking facets (no URL typed)."""
    page.goto(server + "/kaplit/studies")
    with page.expect_navigation():  # a click starts the navigation; wait until the new page loaded
        page.click(f"a[href*='conditions__arraycontains=']:has-text('{PTSD}')")
    with page.expect_navigation():
        page.click("a[href*='routes__arraycontains=Intravenous']")
    assert "conditions__arraycontains" in page.url and "routes__arraycontains=Intravenous" in page.url
    shown = page.eval_on_selector_all("td.col-routes", "cells => cells.map(c => c.textContent)")
    assert shown and all("Intravenous" in cell for cell in shown)
