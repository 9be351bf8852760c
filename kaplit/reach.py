"""Is NCBI E-utilities reachable from here? (A quick check before choosing crawl vs snapshot.)"""

from __future__ import annotations

import urllib.error
import urllib.request

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


def pubmed_reachable(base_url: str = EUTILS_URL, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/einfo.fcgi?db=pubmed", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if with an error status
    except (urllib.error.URLError, OSError, ValueError):
        return False
