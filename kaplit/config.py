"""Where things are: the repository's own files and the shared data beside it.

The shared data folder comes from `KAPLIT_SHARED` (default: `../shared` next to the repository,
then `../shared` next to the working directory); the offline snapshot from `KAPLIT_SNAPSHOT`
(default: `<shared>/pubmed/snapshot`).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout (installed from a wheel: site-packages)
WEB = Path(str(files("kaplit.web")))  # web/ in a checkout, kaplit/web/ installed: the package data
METADATA = WEB / "metadata.yml"  # in a checkout a link to the top-level metadata.yml
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
DEFAULT_DB = "kaplit.db"


def shared_dir() -> Path:
    if os.environ.get("KAPLIT_SHARED"):
        return Path(os.environ["KAPLIT_SHARED"])
    for candidate in (REPO_ROOT.parent / "shared", Path.cwd().parent / "shared"):
        if candidate.is_dir():
            return candidate
    in_checkout = (REPO_ROOT / "pyproject.toml").is_file()  # not so when installed from a wheel
    return (REPO_ROOT if in_checkout else Path.cwd()).parent / "shared"


def snapshot_dir() -> Path:
    if os.environ.get("KAPLIT_SNAPSHOT"):
        return Path(os.environ["KAPLIT_SNAPSHOT"])
    return shared_dir() / "pubmed" / "snapshot"
