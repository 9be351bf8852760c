"""Split a PubMed XML byte stream into chunks of whole records, so that workers can parse them.

A PubMed file is a root element (PubmedArticleSet, PubmedBookArticleSet, or a lone record) whose
children are independent records. We find record boundaries with a byte-level regex (C speed,
no parsing), cut the stream into chunks of about `size` bytes that each hold whole records, and
check the parts no chunk covers: the prolog (XML declaration, DOCTYPE, root start tag) and the
closing root tag, whose absence means a truncated file. Each chunk carries the line number it
starts at, so parse errors still name the line in the original file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from lxml import etree

RECORD_START = re.compile(rb"<(?:PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>/]")
FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
DECLARED_ENCODING = re.compile(rb"\s*<\?xml[^>]*?encoding=[\"']([A-Za-z0-9._-]+)")
RECORD_MARKERS = (b"<PubmedArticle>", b"<PubmedArticle ", b"<PubmedBookArticle>", b"<PubmedBookArticle ",
                  b"<DeleteCitation>", b"<DeleteCitation ")
SET_TAGS = (b"PubmedArticleSet", b"PubmedBookArticleSet")
RECORD_TAGS = (b"PubmedArticle", b"PubmedBookArticle", b"DeleteCitation")
BLOCK = 1 << 20
CHUNK_SIZE = 2 << 20
PROLOG_LIMIT = 16 << 20


class XMLError(ValueError):
    """The file is not readable PubMed XML; `line` says where, when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message, self.line = message, line


@dataclass(slots=True)
class Chunk:
    """Whole records, without the root element around them: either the bytes themselves or,
    for an uncompressed file, where they are (path, offset, length), so that a worker reads
    them from the page cache instead of through a pipe."""

    data: bytes | None
    first_line: int | None  # line of the file where the records start (None: count on demand)
    encoding: str | None = None  # the XML declaration's, when not UTF-8
    path: str | None = None
    offset: int = 0
    length: int = 0

    def load(self) -> bytes:
        if self.data is None:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                self.data = handle.read(self.length)
        return self.data

    def line_base(self) -> int:
        if self.first_line is None:
            self.first_line = 1 + _count_newlines(self.path, self.offset)
        return self.first_line


def _count_newlines(path, end: int) -> int:
    count = 0
    with open(path, "rb") as handle:
        while handle.tell() < end:
            block = handle.read(min(BLOCK, end - handle.tell()))
            if not block:
                break
            count += block.count(b"\n")
    return count


def split_file(path, size: int = CHUNK_SIZE):
    """Like `split`, for an uncompressed file: reads only a window before each cut (to find
    the last record start there) and yields Chunks that name their byte range instead of
    carrying the bytes."""
    with open(path, "rb") as handle:
        fd = handle.fileno()
        total = os.fstat(fd).st_size
        head = os.pread(fd, PROLOG_LIMIT, 0)
        root, start = _root_tag(head), RECORD_START.search(head)
        if total <= 2 * size or root not in SET_TAGS or start is None:
            yield from split(handle, size)  # small, a lone record, or not PubMed: the general path
            return
        _check_document(head[:start.start()] + b"</" + root + b">", root)
        encoding = _declared_encoding(head)
        tail_start = max(0, total - 4096)
        closing = _closing_tag(os.pread(fd, 4096, tail_start), root)
        end = tail_start + closing.start() if closing else total
        position = start.start()
        while end - position > size:
            cut = _cut_before(fd, position + size // 2, position + size, end)
            yield Chunk(None, None, encoding, str(path), position, cut - position)
            position = cut
        yield Chunk(None, None, encoding, str(path), position, end - position)
        if closing is None:
            raise _truncated(root, 1 + _count_newlines(path, total))


def _cut_before(fd, low: int, high: int, end: int) -> int:
    """The last record start in [low, high), or further on for a record larger than a chunk."""
    while low < end:
        found = _last_marker(os.pread(fd, high - low, low))
        if found > 0:
            return low + found
        low, high = high, min(end, high + (high - low))
    return end


def split(stream, size: int = CHUNK_SIZE):
    """Yield Chunks of whole records from a binary stream of PubMed XML.

    Raises XMLError for an empty or broken prolog, a root element that is not PubMed's (an HTML
    page, an E-utilities error, another XML format), or a missing closing root tag.
    """
    buffer, eof = b"", False
    while not eof and len(buffer) < PROLOG_LIMIT and not RECORD_START.search(buffer):
        block = stream.read(min(BLOCK, size))
        eof = not block
        buffer += block
    root = _root_tag(buffer)
    start = RECORD_START.search(buffer)
    encoding = _declared_encoding(buffer)
    if root in RECORD_TAGS:
        yield _single_record(buffer, stream, start.start(), encoding)
        return
    if root not in SET_TAGS or start is None:
        if eof:
            _check_document(buffer, root)  # raises unless it is an empty record set
            return
        raise XMLError(f"not PubMed XML: no records in the first {PROLOG_LIMIT >> 20} MB "
                       f"(root element <{(root or b'?').decode(errors='replace')}>)")
    _check_document(buffer[:start.start()] + b"</" + root + b">", root)
    line = 1 + buffer.count(b"\n", 0, start.start())
    buffer = buffer[start.start():]
    while not eof:
        while len(buffer) < size and not eof:
            block = stream.read(min(BLOCK, size))
            eof = not block
            buffer += block
        if eof:
            break
        cut = _last_record_start(buffer)
        if cut <= 0:  # one record larger than the chunk size: keep reading
            size *= 2
            continue
        yield Chunk(buffer[:cut], line, encoding)
        line += buffer.count(b"\n", 0, cut)
        buffer = buffer[cut:]
    yield from _last_chunk(buffer, line, root, encoding)


def _declared_encoding(buffer: bytes) -> str | None:
    match = DECLARED_ENCODING.match(buffer)
    if not match or match.group(1).lower() in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return None
    return match.group(1).decode()


def _root_tag(buffer: bytes) -> bytes | None:
    position = 0
    while True:
        match = FIRST_TAG.search(buffer, position)
        if match is None:
            return None
        before = buffer[match.start() - 1:match.start()] if match.start() else b""
        if before not in (b"?", b"!"):
            return match.group(1)
        position = match.end()


def _check_document(document: bytes, root):
    """Parse the prolog (closed by us) or a whole small document; raise unless it is a set."""
    if not document.strip():
        raise XMLError("empty file")
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False, huge_tree=True)
    try:
        tree = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise XMLError(f"broken XML: {error.msg}", error.lineno) from None
    if root in SET_TAGS:
        return  # an empty set: valid, no records
    if tree.tag in ("eFetchResult", "eSearchResult", "ERROR") or tree.find(".//ERROR") is not None:
        message = " ".join("".join(tree.itertext()).split()) or "no message"
        raise XMLError(f"an E-utilities error response, not records: {message[:300]}", tree.sourceline)
    raise XMLError(f"not PubMed XML: the root element is <{tree.tag}>", tree.sourceline)


def _single_record(buffer: bytes, stream, start: int, encoding) -> Chunk:
    """A document whose root is one record (PubmedArticle / PubmedBookArticle): small by nature."""
    rest = stream.read()
    while rest:
        buffer += rest
        rest = stream.read()
    return Chunk(buffer[start:], 1 + buffer.count(b"\n", 0, start), encoding)


def _last_record_start(buffer: bytes) -> int:
    """Offset of the last record start in the buffer, looked for in its second half first
    (bytes.rfind: much cheaper than a regex)."""
    cut = _last_marker(buffer, len(buffer) // 2)
    return cut if cut > 0 else _last_marker(buffer)


def _last_marker(data: bytes, start: int = 0) -> int:
    return max(data.rfind(marker, start) for marker in RECORD_MARKERS)


def _closing_tag(data: bytes, root: bytes):
    return re.search(rb"</" + re.escape(root) + rb">\s*\Z", data)


def _truncated(root: bytes, line: int) -> XMLError:
    return XMLError(f"the file ends without </{root.decode()}> (truncated?)", line)


def _last_chunk(buffer: bytes, line: int, root: bytes, encoding):
    closing = _closing_tag(buffer, root)
    if closing is None:
        yield Chunk(buffer, line, encoding)  # the parser reports where the records break off...
        raise _truncated(root, line + buffer.count(b"\n"))
    yield Chunk(buffer[:closing.start()], line, encoding)
