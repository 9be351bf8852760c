"""User settings for crawling: command-line options, then environment, then a config file.

The config file is `--config FILE`, else `./kaplit.toml`, else `~/.config/kaplit/config.toml`:

    [ncbi]
    api_key = "..."          # or NCBI_API_KEY
    email = "you@example.org"  # or NCBI_EMAIL
    eutils_url = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"

    [crawl]
    query = "..."            # default: crawler/query.py
    batch_size = 1000
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from kaplit.reach import EUTILS_URL

ALLOWED = {"ncbi": {"api_key": str, "email": str, "eutils_url": str}, "crawl": {"query": str, "batch_size": int}}


class ConfigError(ValueError):
    pass


def config_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    for candidate in (Path("kaplit.toml"), Path.home() / ".config" / "kaplit" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | None = None) -> dict:
    path = config_path(explicit)
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    for section, values in data.items():
        if section not in ALLOWED or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}] (allowed: {', '.join(ALLOWED)})")
        for key, value in values.items():
            kind = ALLOWED[section].get(key)
            if kind is None:
                raise ConfigError(f"{path}: unknown setting {section}.{key}")
            if not isinstance(value, kind):
                raise ConfigError(f"{path}: {section}.{key} must be a {kind.__name__}")
    return data


def resolve(options: dict, config: dict) -> dict:
    """Merge command-line options (None when not given) over environment over config file."""
    ncbi, crawl = config.get("ncbi", {}), config.get("crawl", {})
    return {
        "api_key": options.get("api_key") or os.environ.get("NCBI_API_KEY") or ncbi.get("api_key"),
        "email": options.get("email") or os.environ.get("NCBI_EMAIL") or ncbi.get("email"),
        "eutils_url": options.get("eutils_url") or ncbi.get("eutils_url") or EUTILS_URL,
        "query": options.get("query") or crawl.get("query"),
        "batch_size": options.get("batch_size") or crawl.get("batch_size") or 1000,
    }
