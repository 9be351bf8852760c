"""Cutting PubMed XML into chunks of whole records (for worker processes)."""

from __future__ import annotations

import gzip
import io

import pytest

from kaplit.pipeline.parse.chunks import XMLError, split
from kaplit.pipeline.parse.pubmed_xml import parse_chunk


def snapshot_bytes(shared):
    return gzip.decompress((shared / "pubmed" / "snapshot" / "ketamine" / "ketamine-001.xml.gz").read_bytes())


def test_chunks_hold_whole_records_and_know_their_lines(shared):
    data = snapshot_bytes(shared)
    size = 100_000
    chunks = list(split(io.BytesIO(data), size=size))
    assert len(chunks) > 5
    lines = data.split(b"\n")
    total = 0
    for chunk in chunks:
        assert len(chunk.data) <= 2 * size  # bounded, whatever the file size
        assert chunk.data.lstrip().startswith(b"<PubmedArticle")
        assert lines[chunk.first_line - 1].lstrip().startswith(chunk.data.lstrip().split(b"\n")[0][:40])
        total += sum(1 for _ in parse_chunk(chunk))
    assert total == 500


def test_same_records_whatever_the_chunk_size(shared):
    data = snapshot_bytes(shared)
    small = [a.pmid for c in split(io.BytesIO(data), size=50_000) for a in parse_chunk(c)]
    large = [a.pmid for c in split(io.BytesIO(data)) for a in parse_chunk(c)]
    assert small == large and len(small) == 500


def test_missing_closing_tag_is_reported_as_truncation(shared):
    data = snapshot_bytes(shared)
    cut = data[: data.rindex(b"</PubmedArticle>") + len(b"</PubmedArticle>")]
    with pytest.raises(XMLError) as caught:
        for chunk in split(io.BytesIO(cut), size=50_000):
            list(parse_chunk(chunk))
    assert "ends without </PubmedArticleSet>" in str(caught.value)
    assert caught.value.line == cut.count(b"\n") + 1


def test_file_ranges_and_stream_give_the_same_records(tmp_path, shared):
    data = snapshot_bytes(shared)
    path = tmp_path / "snapshot.xml"
    path.write_bytes(data)
    from kaplit.pipeline.parse.chunks import split_file

    by_range = list(split_file(path, size=100_000))
    assert all(c.data is None for c in by_range)  # byte ranges, read by whoever parses them
    streamed = [a.pmid for c in split(io.BytesIO(data), size=100_000) for a in parse_chunk(c)]
    assert [a.pmid for c in by_range for a in parse_chunk(c)] == streamed
    assert by_range[3].line_base() == 1 + data[: by_range[3].offset].count(b"\n")


def test_truncated_file_by_range_reports_the_last_line(tmp_path, shared):
    data = snapshot_bytes(shared)
    path = tmp_path / "cut.xml"
    cut = data[: int(len(data) * 0.7)]
    path.write_bytes(cut)
    from kaplit.pipeline.parse.chunks import split_file

    with pytest.raises(XMLError) as caught:
        for chunk in split_file(path, size=100_000):
            list(parse_chunk(chunk))
    assert caught.value.line == cut.count(b"\n") + 1
