"""The Datasette application that serves a kaplit database (read-only by default)."""

from __future__ import annotations

from pathlib import Path

from datasette.app import Datasette
from datasette.utils import parse_metadata

from kaplit import __version__
from kaplit.config import METADATA, PLUGINS, STATIC, TEMPLATES

SETTINGS = {
    "sql_time_limit_ms": 3000,
    "max_returned_rows": 2000,
    "default_page_size": 50,
    "facet_time_limit_ms": 500,
    "allow_download": True,
}


def load_metadata(database_name: str = "kaplit") -> dict:
    """metadata.yml, with its `kaplit` database block applied to whatever the file is called."""
    metadata = parse_metadata(METADATA.read_text())
    databases = metadata.get("databases", {})
    if "kaplit" in databases and database_name != "kaplit":
        databases[database_name] = databases.pop("kaplit")
    return metadata


def make_datasette(db_path, mutable: bool = False) -> Datasette:
    """Immutable unless `mutable`: Datasette then never writes and can cache counts."""
    db_path = str(Path(db_path))
    return Datasette(
        files=[db_path] if mutable else [],
        immutables=[] if mutable else [db_path],
        metadata=load_metadata(Path(db_path).stem),
        template_dir=str(TEMPLATES),
        plugins_dir=str(PLUGINS),
        static_mounts=[("kaplit-static", str(STATIC))],
        settings=SETTINGS,
        version_note=f"kaplit {__version__}",
    )


def serve(db_path, host: str, port: int, mutable: bool = False):
    import asyncio

    import uvicorn

    ds = make_datasette(db_path, mutable=mutable)
    asyncio.run(ds.invoke_startup())
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning")
