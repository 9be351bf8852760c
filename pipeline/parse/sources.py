"""Finding input files and reading records from them, whatever their format.

Accepted: PubMed XML (efetch responses, baseline/update files, single PubmedArticle or
PubmedBookArticle documents) and MEDLINE/"PubMed format" exports (.nbib, .txt), each optionally
gzipped. The format is sniffed from the content, not the name. Every problem with a file surfaces
as `SourceError(path, reason)`.
"""

from __future__ import annotations

import gzip
import io
import zlib
from contextlib import contextmanager
from pathlib import Path

from kaplit.pipeline.parse import medline, pubmed_xml
from kaplit.pipeline.parse.chunks import XMLError

SUFFIXES = (".xml", ".xml.gz", ".nbib", ".nbib.gz", ".txt", ".txt.gz", ".medline")
GZIP_MAGIC = b"\x1f\x8b"


class SourceError(Exception):
    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def discover(paths) -> list[Path]:
    """Files named directly, plus every supported file below named folders, in sorted order."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(SUFFIXES) and not p.name.startswith(".")
            ))
        elif path.exists():
            files.append(path)
        else:
            raise SourceError(path, "no such file or folder")
    return files


class CountingReader(io.RawIOBase):
    """Counts the bytes read from the underlying (possibly compressed) file, for progress bars."""

    def __init__(self, raw, on_read=None):
        self.raw, self.on_read = raw, on_read

    def readable(self):
        return True

    def readinto(self, buffer):
        count = self.raw.readinto(buffer)
        if count and self.on_read:
            self.on_read(count)
        return count


@contextmanager
def source_errors(path):
    """Turn every low-level failure while reading `path` into a SourceError naming it."""
    try:
        yield
    except SourceError:
        raise
    except XMLError as error:
        raise SourceError(path, str(error)) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise SourceError(path, f"broken gzip data ({error})") from None
    except UnicodeDecodeError as error:
        raise SourceError(path, f"not valid UTF-8 text at byte {error.start}") from None
    except OSError as error:
        raise SourceError(path, f"cannot read ({error.strerror or error})") from None


@contextmanager
def open_source(path: Path, on_read=None):
    """Open a file (gunzipping if needed) and sniff its format: yields (kind, binary stream,
    compressed) with kind "xml" or "medline". Use inside `source_errors(path)`."""
    with open(path, "rb") as raw:
        stream = io.BufferedReader(CountingReader(raw, on_read), 1 << 16)
        compressed = stream.peek(2)[:2] == GZIP_MAGIC
        if compressed:
            stream = io.BufferedReader(gzip.GzipFile(fileobj=stream), 1 << 16)
        yield _sniff(stream, path), stream, compressed


def _sniff(stream, path) -> str:
    head = stream.peek(4096)[:4096]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise SourceError(path, "UTF-16 text: PubMed XML and MEDLINE files are UTF-8 (convert it first)")
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise SourceError(path, "empty file")
    if head.startswith(b"<"):
        return "xml"
    first_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if medline.looks_like_medline(first_line):
        return "medline"
    raise SourceError(path, f"neither PubMed XML nor MEDLINE format (first line: {first_line[:60]!r})")


def medline_records(stream):
    return medline.iter_records(io.TextIOWrapper(stream, encoding="utf-8"))


def read_records(path: Path, on_read=None):
    """Yield Article / Deletion / Rejected objects from one file, in this process; raise
    SourceError if the file is unusable."""
    with source_errors(path), open_source(path, on_read) as (kind, stream, _):
        yield from pubmed_xml.iter_records(stream) if kind == "xml" else medline_records(stream)
