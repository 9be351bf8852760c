"""A stand-in for NCBI E-utilities (esearch + efetch for db=pubmed) on 127.0.0.1.

PubMed cannot be reached from here, so the crawler is tested over real HTTP against this server.
It serves the real records in ../shared/pubmed (replicated with fresh PMIDs up to `--records`),
speaks enough of the protocol for the crawler (history server WebEnv/query_key, retstart/retmax,
the 10,000-id limit of esearch, mindate/maxdate with datetype edat/mdat, id lists by GET or POST)
and injects faults on request: 429 with Retry-After, 500/502/503, slow answers, truncated bodies,
`<ERROR>` bodies and dropped connections. Records arrive over time on request: a POST to
`/control/grow?new=N&revised=M` adds N records entered today and revises M stored ones today
(new DateRevised, a marked title), as NLM's daily updates would.

What it does not do is search: every record matches every query (a query containing "[invalid"
returns NCBI's error for a malformed query). Records without dates get deterministic entrez
(EDAT) and modification (MDAT) dates spread over 1990 to 2025.

    python testing/standin.py --port 8765 --records 30000 --fault-rate 0.2 --log requests.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def shared_dir() -> Path:
    """The shared data folder: $KAPLIT_SHARED, else ../shared beside this checkout."""
    return Path(os.environ.get("KAPLIT_SHARED") or Path(__file__).resolve().parents[2] / "shared")

ESEARCH_LIMIT = 10_000
FIRST_PMID = 800_000_000
FAULTS = ("429", "500", "502", "503", "slow", "truncated", "error_body", "drop")
VARYING_PARAMS = ("WebEnv", "mindate", "maxdate")  # left out of the key a fault is drawn by
EARLIEST, LATEST = date(1990, 1, 1), date(2025, 12, 31)
_RECORD = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>|<PubmedArticle\s.*?</PubmedArticle>", re.S)
_FIRST_PMID = re.compile(rb"<PMID[^>]*>\d+</PMID>")


@dataclass(slots=True)
class Record:
    pmid: int
    edat: date
    mdat: date
    xml: bytes


def real_records(root: Path) -> list[bytes]:
    """Every PubmedArticle in the XML files below root, as bytes, in a stable order."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.name.endswith(".xml"):
            data = path.read_bytes()
        elif path.name.endswith(".xml.gz"):
            data = gzip.decompress(path.read_bytes())
        else:
            continue
        found.extend(_RECORD.findall(data))
    return found


def build_corpus(count: int, extra_today: int = 0, revised_today: int = 0, today: date | None = None,
                 source: Path | None = None) -> list[Record]:
    """`count` records with dates spread over 1990-2025, plus `extra_today` entered today; the
    first `revised_today` records get today's MDAT (as if NLM had revised them)."""
    today = today or date.today()
    templates = real_records(source or shared_dir() / "pubmed")
    span = (LATEST - EARLIEST).days
    records = []
    for index in range(count + extra_today):
        pmid = FIRST_PMID + index
        xml = _FIRST_PMID.sub(f'<PMID Version="1">{pmid}</PMID>'.encode(), templates[index % len(templates)], count=1)
        edat = today if index >= count else EARLIEST + timedelta(days=index * span // max(count, 1))
        mdat = min(edat + timedelta(days=pmid % 400), LATEST) if index < count else today
        if index < revised_today:
            mdat = today
            xml = _revised(xml, today)
        records.append(Record(pmid, edat, mdat, xml))
    return records


def _revised(xml: bytes, today: date) -> bytes:
    """The record as NLM might revise it: a marked title and today's DateRevised."""
    stamp = (f"<DateRevised><Year>{today.year}</Year><Month>{today.month:02d}</Month>"
             f"<Day>{today.day:02d}</Day></DateRevised>")
    xml = re.sub(rb"<ArticleTitle>", b"<ArticleTitle>[Revised] ", xml, count=1)
    if b"<DateRevised>" in xml:
        return re.sub(rb"<DateRevised>.*?</DateRevised>", stamp.encode(), xml, count=1, flags=re.S)
    return _FIRST_PMID.sub(lambda m: m.group(0) + stamp.encode(), xml, count=1)


class EutilsState:
    def __init__(self, records: list[Record], fault_rate: float = 0.0, seed: int = 1,
                 slow_seconds: float = 3.0, log_path: Path | None = None, unfetchable: int = 0):
        self.records = records
        # listed by esearch, never returned by efetch (as with records deleted in between)
        self.unfetchable = {r.pmid for r in records[:unfetchable]}
        self.by_pmid = {r.pmid: r for r in records}
        self.revised: set[int] = set()
        self.histories: dict[str, list[int]] = {}
        self.fault_rate, self.slow_seconds, self.seed = fault_rate, slow_seconds, seed
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.log = open(log_path, "a", buffering=1) if log_path else None

    def pick_fault(self, key: str) -> str | None:
        """Decided by (seed, request, attempt), not arrival order, so runs are reproducible."""
        with self.lock:
            attempt = self.attempts.get(key, 0)
            self.attempts[key] = attempt + 1
        draw = random.Random(f"{self.seed}:{key}:{attempt}")
        return draw.choice(FAULTS) if draw.random() < self.fault_rate else None

    def grow(self, new: int, revised: int, today: date | None = None) -> dict:
        """Add `new` records entered today (the next PMIDs, real records as templates) and revise
        the first `revised` records not revised yet."""
        today = today or date.today()
        with self.lock:
            templates = [r.xml for r in self.records[: max(1, min(len(self.records), 5000))]]
            first = max(r.pmid for r in self.records) + 1 if self.records else FIRST_PMID
            for offset in range(new):
                pmid = first + offset
                xml = _FIRST_PMID.sub(f'<PMID Version="1">{pmid}</PMID>'.encode(),
                                      templates[pmid % len(templates)], count=1)
                record = Record(pmid, today, today, xml)
                self.records.append(record)
                self.by_pmid[pmid] = record
            candidates = [r for r in self.records if r.pmid not in self.revised and r.edat < today]
            for record in candidates[:revised]:
                record.mdat, record.xml = today, _revised(record.xml, today)
                self.revised.add(record.pmid)
        return {"added": new, "revised": min(revised, len(candidates)), "records": len(self.records)}

    def note(self, entry: dict):
        if self.log:
            with self.lock:
                self.log.write(json.dumps(entry) + "\n")

    def search(self, params: dict) -> tuple[int, list[int], str]:
        field = "mdat" if params.get("datetype", "edat") == "mdat" else "edat"
        low = _parse_date(params.get("mindate"), EARLIEST.replace(year=1800))
        high = _parse_date(params.get("maxdate"), date(3000, 1, 1))
        ids = [r.pmid for r in self.records if low <= getattr(r, field) <= high]
        ids.sort(reverse=True)  # PubMed lists newest PMIDs first
        with self.lock:
            web_env = f"MCID_{len(self.histories) + 1:08d}"
            self.histories[web_env] = ids[:ESEARCH_LIMIT]
        return len(ids), ids, web_env


def _parse_date(value: str | None, default: date) -> date:
    if not value:
        return default
    parts = [int(p) for p in re.split(r"[/-]", value.strip()) if p]
    parts += [1] * (3 - len(parts))
    return date(*parts[:3])


class Handler(BaseHTTPRequestHandler):
    server_version = "standin-eutils/1.0"
    state: EutilsState  # set on the subclass made by `serve`

    def log_message(self, *args):  # quiet: the JSON log is the record
        pass

    def do_GET(self):
        self._answer(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

    def do_POST(self):
        if self.path.startswith("/control/grow"):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            grown = self.state.grow(int(query.get("new", ["0"])[0]), int(query.get("revised", ["0"])[0]))
            return self._send(200, json.dumps(grown).encode(), "application/json")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        params.update(urllib.parse.parse_qs(body))
        self._answer(params)

    def _answer(self, raw_params):
        params = {k: v[-1] for k, v in raw_params.items()}
        endpoint = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        # (not the dates: a crawl's window ends today, and the same run must draw the same faults tomorrow)
        key = endpoint + repr(sorted((k, v) for k, v in params.items() if k not in VARYING_PARAMS))
        fault = self.state.pick_fault(key) if endpoint in ("esearch.fcgi", "efetch.fcgi") else None
        self.state.note({"t": time.time(), "endpoint": endpoint, "method": self.command,
                         "fault": fault, "params": {k: v for k, v in params.items() if k != "id"},
                         "ids": len(params.get("id", "").split(",")) if params.get("id") else 0})
        if fault in ("429", "500", "502", "503"):
            headers = {"Retry-After": "1"} if fault == "429" else {}
            return self._send(int(fault), b"<html><body>busy</body></html>", "text/html", headers)
        if fault == "drop":
            self.close_connection = True
            return self.connection.shutdown(2)
        if fault == "slow":
            time.sleep(self.state.slow_seconds)
        if endpoint == "esearch.fcgi":
            body = self._esearch(params)
        elif endpoint == "efetch.fcgi":
            body = self._efetch(params)
        elif endpoint == "einfo.fcgi":
            body = b"<eInfoResult><DbList><DbName>pubmed</DbName></DbList></eInfoResult>"
        else:
            return self._send(404, b"not found", "text/plain")
        if fault == "error_body":
            body = b'<?xml version="1.0"?>\n<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>'
        if fault == "truncated":
            body = body[: len(body) // 2]
        self._send(200, body, "text/xml")

    def _esearch(self, params) -> bytes:
        term = params.get("term", "")
        if "[invalid" in term:
            return (b'<?xml version="1.0"?>\n<eSearchResult><ERROR>Invalid query: unknown field '
                    b'tag "[invalid]"</ERROR></eSearchResult>')
        count, ids, web_env = self.state.search(params)
        retmax = min(int(params.get("retmax", 20)), ESEARCH_LIMIT)
        retstart = int(params.get("retstart", 0))
        shown = ids[retstart:retstart + retmax] if retstart < ESEARCH_LIMIT else []
        id_xml = "".join(f"<Id>{i}</Id>" for i in shown)
        history = f"<QueryKey>1</QueryKey><WebEnv>{web_env}</WebEnv>" if params.get("usehistory") == "y" else ""
        return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult><Count>{count}</Count>'
                f"<RetMax>{len(shown)}</RetMax><RetStart>{retstart}</RetStart>{history}"
                f"<IdList>{id_xml}</IdList><TranslationSet/></eSearchResult>").encode()

    def _efetch(self, params) -> bytes:
        if params.get("id"):
            ids = [int(i) for i in params["id"].split(",") if i.strip().isdigit()]
        else:
            history = self.state.histories.get(params.get("WebEnv", ""))
            if history is None:
                return b'<?xml version="1.0"?>\n<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>'
            retstart, retmax = int(params.get("retstart", 0)), int(params.get("retmax", 20))
            if retstart >= ESEARCH_LIMIT:
                return (b'<?xml version="1.0"?>\n<eFetchResult><ERROR>Search Backend failed: retstart '
                        b'beyond 9999 is not allowed</ERROR></eFetchResult>')
            ids = history[retstart:retstart + min(retmax, 10_000)]
        records = [self.state.by_pmid[i].xml for i in ids
                   if i in self.state.by_pmid and i not in self.state.unfetchable]
        return (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
                b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
                b"<PubmedArticleSet>\n" + b"\n".join(records) + b"\n</PubmedArticleSet>\n")

    def _send(self, status, body: bytes, content_type: str, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def serve(state: EutilsState, port: int = 0) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1 in a background thread; returns the server (port in .server_port)."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class StandIn:
    """This server in a process of its own on a free port, for tests and benchmarks, logging
    every request to a JSON-lines file."""

    def __init__(self, tmp: Path, *args: str):
        import subprocess
        import sys

        self.log = tmp / f"requests-{time.monotonic_ns()}.jsonl"
        self.process = subprocess.Popen([sys.executable, __file__, "--port", "0", "--log", str(self.log), *args],
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("http://127.0.0.1:"), line
        self.url = line.split()[0]

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def reset_log(self):
        self.log.write_text("")

    def grow(self, new: int, revised: int) -> dict:
        """New records entered today and stored ones revised today (POST /control/grow)."""
        import urllib.request

        root = self.url.split("/entrez/")[0]
        request = urllib.request.Request(f"{root}/control/grow?new={new}&revised={revised}", method="POST")
        return json.loads(urllib.request.urlopen(request, timeout=30).read())

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--extra-today", type=int, default=0, help="records entered today, on top")
    parser.add_argument("--revised-today", type=int, default=0, help="records whose MDAT is today")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--log", type=Path, default=None, help="append one JSON line per request")
    parser.add_argument("--unfetchable", type=int, default=0, help="records esearch lists but efetch never returns")
    args = parser.parse_args()
    records = build_corpus(args.records, args.extra_today, args.revised_today)
    state = EutilsState(records, args.fault_rate, args.seed, args.slow_seconds, args.log, args.unfetchable)
    server = serve(state, args.port)
    print(f"http://127.0.0.1:{server.server_port}/entrez/eutils/ serving {len(records)} records", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
