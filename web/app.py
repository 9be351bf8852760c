"""The Datasette application that serves a kaplit database (read-only by default)."""

from __future__ import annotations

import contextvars
import ctypes
import functools
import json
import os
import re
import signal
import socket
import sys
import tempfile
import urllib.parse
from pathlib import Path

from datasette.app import Datasette
from datasette.utils import MultiParams, parse_metadata
from datasette.utils.asgi import Request

from kaplit import __version__
from kaplit.config import METADATA, STATIC, TEMPLATES
from kaplit.pipeline.tagging.taxonomy import STUDY_COLUMNS_FROM_TAGS
from kaplit.web.database import KaplitDatabase
from kaplit.web.page_studies import TABLE_PAGE_REQUEST
from kaplit.web.plugins.balance import make_table
from kaplit.web.plugins.sql_lane import SQL_THREADS
from kaplit.web.urls import is_html_request

SETTINGS = {
    "sql_time_limit_ms": 3000,
    "max_returned_rows": 2000,
    "default_page_size": 50,
    "facet_time_limit_ms": 500,
    "suggest_facets": False,
    "allow_download": True,
    "num_sql_threads": SQL_THREADS,  # ad-hoc SQL may hold LANE of them (web/plugins/sql_lane.py)
}


_SERVED = "KAPLIT_SERVED"  # what `serve` tells its worker processes
_SHARED_MEMORY = "/dev/shm" if Path("/dev/shm").is_dir() else None
_PR_SET_PDEATHSIG = 1  # prctl(2)


def _parsed_args(request) -> MultiParams:
    """Request.args parsed once per request: Datasette 0.65 parses the query string again at every
    access, some fifty times for a studies page. (Kept per query string: a scope may be reused.)"""
    query = request.query_string
    parsed = request.scope.get("kaplit_args")
    if parsed is None or parsed[0] != query:
        args = MultiParams(urllib.parse.parse_qs(query, keep_blank_values=True))
        parsed = request.scope["kaplit_args"] = (query, args)
    return parsed[1]


Request.args = property(_parsed_args)


def load_metadata(database_name: str = "kaplit") -> dict:
    """metadata.yml, with its `kaplit` database block applied to whatever the file is called, and
    the description of each `studies` column the tagger fills taken from its declaration
    (pipeline/tagging/taxonomy.py: STUDY_COLUMNS_FROM_TAGS), where it is written once."""
    metadata = parse_metadata(METADATA.read_text())
    databases = metadata.get("databases", {})
    studies = databases.get("kaplit", {}).get("tables", {}).get("studies")
    if studies is not None:
        studies.setdefault("columns", {}).update({c.name: c.description for c in STUDY_COLUMNS_FROM_TAGS})
    if "kaplit" in databases and database_name != "kaplit":
        databases[database_name] = databases.pop("kaplit")
    return metadata


_VISITOR_SQL = re.compile(rb"(^|&)sql=")
# the databases a request started with: it sees them to its end, whatever is switched meanwhile
_PINNED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("kaplit_databases", default=None)


class KaplitDatasette(Datasette):
    """Datasette, with the database of a request fixed when it starts (a release switched in
    while it runs serves the requests that start after: every response comes wholly from one
    release), a schema read once, and links that work on any host."""

    _schemas_read = False  # Datasette re-reads every database's schema version at every request

    @property
    def databases(self) -> dict:
        pinned = _PINNED.get()
        return pinned if pinned is not None else self.__dict__.get("_kaplit_databases", {})

    @databases.setter
    def databases(self, value: dict):
        self.__dict__["_kaplit_databases"] = value

    def app(self):
        served = super().app()

        async def pinned(scope, receive, send):
            token = _PINNED.set(self.databases)
            own_sql = TABLE_PAGE_REQUEST.set(not _VISITOR_SQL.search(scope.get("query_string", b"")))
            try:
                await served(scope, receive, _with_release_header(send, self.databases))
            finally:
                TABLE_PAGE_REQUEST.reset(own_sql)
                _PINNED.reset(token)

        return pinned

    def replace_database(self, name: str, database):
        """Serve `database` under `name` from the next request on (one assignment)."""
        database.name, database.route = name, name
        self._schemas_read = False
        self.databases = {**self.__dict__["_kaplit_databases"], name: database}

    async def refresh_schemas(self):
        """Once while every served file is immutable (their schemas cannot change): a request
        then makes no statement it does not need, and each statement is a wait for a thread."""
        if self._schemas_read:
            return
        await super().refresh_schemas()
        self._schemas_read = all(not db.is_mutable for name, db in self.databases.items() if name != "_internal")

    def add_database(self, *args, **kwargs):
        self._schemas_read = False
        return super().add_database(*args, **kwargs)

    def remove_database(self, name):
        self._schemas_read = False
        super().remove_database(name)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 (one Datasette per process, kept to its end)
    def _table_permission_allows(self, database, table):
        """Read from the metadata, which is fixed when kaplit starts: Datasette 0.65 deep-copies
        all of it for every table page."""
        return super()._table_permission_allows(database, table)

    def absolute_url(self, request, path):
        """Links in HTML pages stay on whatever host and port the page was served from (behind a
        proxy too); data formats (JSON `next_url`, feeds, CSV link cells) keep absolute addresses
        for the programs that read them, built from the request's own host."""
        if is_html_request(request):
            return path if path.startswith("/") else urllib.parse.urljoin(request.path, path)
        return super().absolute_url(request, path)


def _with_release_header(send, databases: dict):
    """`x-kaplit-release`: the release (db/releases.py) every response was made from."""
    releases = ",".join(db.release for db in databases.values() if getattr(db, "release", None))

    async def sending(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-kaplit-release", releases.encode())]}
        await send(message)

    return sending


def make_datasette(db_path, mutable: bool = False) -> Datasette:
    """Immutable unless `mutable`: Datasette then never writes and can cache counts. The database
    is named after `db_path` and opened where it points (a release, db/releases.py)."""
    name = Path(db_path).stem
    ds = KaplitDatasette(
        metadata=load_metadata(name),
        template_dir=str(TEMPLATES),
        static_mounts=[("kaplit-static", str(STATIC))],
        settings=SETTINGS,
        version_note=f"kaplit {__version__}",
    )
    ds.remove_database("_memory")  # Datasette adds it when given no files; kaplit serves one
    ds.add_database(KaplitDatabase(ds, str(Path(db_path).resolve()), is_mutable=mutable), name=name)
    return ds


def serve(db_path, host: str, port: int, mutable: bool = False, workers: int = 1):
    """Serve with uvicorn, in `workers` processes sharing the port. One Python process renders
    one page at a time (its SQLite threads wait for the same interpreter lock), so one worker per
    core is what lets a studies page and a visitor's next click run at once."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if workers == 1:
        uvicorn.run(served_app(db_path, mutable), host=host, port=port, log_level="warning")
        return
    with tempfile.TemporaryDirectory(prefix="kaplit-serve-", dir=_SHARED_MEMORY) as folder:
        shares = Path(folder) / "connections"
        make_table(shares)
        os.environ[_SERVED] = json.dumps({"db_path": str(db_path), "mutable": mutable, "workers": workers,
                                          "shares": str(shares)})
        config = uvicorn.Config("kaplit.web.app:worker_app", factory=True, workers=workers, log_level="warning")
        Multiprocess(config, sockets=[_listening_socket(host, port)]).run()


def served_app(db_path, mutable: bool = False, workers: int = 1, shares: str | None = None):
    """The ASGI application of one serving process, following the database's releases unless
    mutable (web/plugins/releases.py). Between several, the SQL lane is shared out
    (web/plugins/sql_lane.py) and so are the connections (`shares`, web/plugins/balance.py)."""
    ds = make_datasette(db_path, mutable=mutable)
    if not mutable:
        ds.kaplit_pointer = Path(db_path)
    ds.kaplit_workers = workers
    ds.kaplit_shares = Path(shares) if shares else None
    return ds.app()


def _listening_socket(host: str, port: int) -> socket.socket:
    """The workers' shared socket, made as a TCP socket by name: uvicorn makes its own with
    protocol 0, on whose connections asyncio then leaves Nagle's algorithm on, and every response
    waits some 40 ms for the client's delayed acknowledgement."""
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                            proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_app():
    """A worker process's application: uvicorn starts each worker afresh and calls this."""
    _end_with_parent()
    return served_app(**json.loads(os.environ[_SERVED]))


def _end_with_parent():
    """A worker outlives a killed `kaplit serve` otherwise, holding its port (Linux only)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
