"""The `kaplit` command line: thin commands over pipeline/, db/, crawler/ and web/."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import sys
from pathlib import Path

import click

from kaplit import __version__
from kaplit.config import DEFAULT_DB, snapshot_dir

_DB_OPTION = click.option(
    "--db", "db_path", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
    help="SQLite database file (created if missing).",
)


# commands that write the database in place: never a release that may be served
WRITING_COMMANDS = {"build", "crawl", "ingest", "retag"}


def _refuse_served_release(db_path):
    from kaplit.db.releases import Releases

    releases = Releases(Path(db_path))
    current = releases.current()
    if current is not None and current.parent == releases.folder.resolve():
        fail(f"{db_path} points to a release ({current.name}) that `kaplit serve` may be serving, and a served "
             f"file is never written: `kaplit update --db {db_path}` crawls into the next release, "
             f"`--from FILES` ingests files into it.")


def fail(message: str, code: int = 1):
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


INDEXING_OPTION = click.option(
    "--indexing", type=click.Path(file_okay=False), default=None,
    help="A folder of PubMed XML or MEDLINE files whose records lend the gold records their MeSH headings and "
         "keywords by PMID, as production tags them [default: the snapshot, ../shared/pubmed/snapshot]. Pass an "
         "empty string for the text alone.")


def DB_OPTION(command):
    """The --db option, and a clear message instead of a traceback when SQLite fails on it.
    Every write is a transaction, so what was committed before the failure is still there."""
    @functools.wraps(command)
    def run(*args, db_path, **kwargs):
        if command.__name__ in WRITING_COMMANDS:
            _refuse_served_release(db_path)
        try:
            return command(*args, db_path=db_path, **kwargs)
        except sqlite3.DatabaseError as error:
            fail(database_failure(db_path, error))

    return _DB_OPTION(run)


def database_failure(db_path, error: sqlite3.DatabaseError) -> str:
    text = str(error)
    if "full" in text:
        return (f"{db_path}: the disk is full ({text}). The unfinished transaction was rolled back; "
                f"everything committed before it is intact. Free some space and run the command again.")
    if "malformed" in text or "not a database" in text:
        return f"{db_path}: the database file is damaged ({text}); `kaplit check --db {db_path}` says more."
    return f"{db_path}: SQLite error: {text}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kaplit")
def cli():
    """kaplit: a living evidence base for ketamine and ketamine-assisted psychotherapy research.

    \b
    Typical use:
      kaplit build --db kaplit.db      # crawl PubMed, or load the offline snapshot
      kaplit serve --db kaplit.db      # browse at http://127.0.0.1:8001
      kaplit update --db kaplit.db     # while it is served: the next release, switched in
      kaplit ingest FILES... --db kaplit.db
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@DB_OPTION
@click.option("--strict", is_flag=True, help="Reject a whole file if any record in it is unusable.")
@click.option("--no-tag", is_flag=True,
              help="Do not tag the new articles now (bulk loads: run `kaplit retag` afterwards).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Parser processes (0: parse in this process) [default: one per core for inputs "
                   "over 16 MB, else 0].")
def ingest(paths, db_path, strict, no_tag, workers):
    """Load PubMed XML (.xml, .xml.gz; efetch, baseline and update files) and MEDLINE
    exports (.nbib, .txt) from PATHS (files or folders) into the database.

    Each file is written in one transaction: a broken file is reported and nothing from it is
    kept, while the other files still load. Records already stored are left alone unless the
    file holds a newer revision. A record that cannot be used (no PMID, an implausible abstract,
    markup nested hundreds deep) is skipped and named. Exits 1 if any file or record was rejected.
    """
    from kaplit.db.schema import open_db
    from kaplit.pipeline.parse.sources import SourceError, discover

    try:
        files = discover(paths)
    except SourceError as error:
        fail(str(error))
    if not files:
        fail("no PubMed XML or MEDLINE files found in " + ", ".join(paths))
    db = open_db(db_path)
    report = _run_ingest(db, files, source=" ".join(paths), strict=strict, workers=workers)
    _print_ingest_summary(report, db_path)
    if not no_tag:
        _retag(db)
    db.close()
    if not report.ok or report.counts.rejected:
        sys.exit(1)


def _run_ingest(db, files, source, strict=False, workers=None):
    from kaplit.db.ingest import ingest_paths

    total = sum(f.stat().st_size for f in files)
    with click.progressbar(length=total, label=f"Ingesting {len(files)} file(s)", file=sys.stderr,
                           show_pos=False, show_percent=True, show_eta=True) as bar:
        return ingest_paths(db, files, source=source, version=__version__, on_read=bar.update,
                            strict=strict, workers=workers)


def _print_ingest_summary(report, db_path):
    c = report.counts
    click.echo(
        f"{report.files_ok} file(s) ingested into {db_path}: {c.added} added, {c.updated} updated, "
        f"{c.unchanged} unchanged, {c.older_skipped} superseded, {c.deleted} deleted, "
        f"{c.rejected} records rejected."
    )
    for reason in c.rejections[:20]:
        click.secho(f"  skipped record: {reason}", fg="yellow", err=True)
    if len(c.rejections) > 20:
        click.secho(f"  ... and {len(c.rejections) - 20} more", fg="yellow", err=True)
    for failure in report.failures:
        click.secho(f"Rejected file {failure.path}: {failure.reason}", fg="red", err=True)


@cli.command()
@DB_OPTION
@click.option("--snapshot", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of PubMed XML to build from when PubMed is unreachable "
                   "[default: $KAPLIT_SNAPSHOT or ../shared/pubmed/snapshot].")
@click.option("--offline", is_flag=True, help="Do not try PubMed; build from the snapshot.")
@click.option("--eutils-url", default=None, help="E-utilities base URL [default: NCBI's, or the config file's].")
def build(db_path, snapshot, offline, eutils_url):
    """Build or refresh the database: crawl PubMed when it answers, otherwise load the snapshot."""
    from kaplit.db.schema import open_db
    from kaplit.pipeline.parse.sources import discover
    from kaplit.reach import pubmed_reachable

    settings = _crawl_settings({"eutils_url": eutils_url})
    if not offline and pubmed_reachable(settings["eutils_url"]):
        click.echo(f"PubMed answers at {settings['eutils_url']}: crawling into {db_path}.")
        report = _run_crawl(db_path, settings)
        if report.error:
            fail(report.error)
        _print_crawl_summary(report, db_path)
        _retag_file(db_path)
        return
    folder = Path(snapshot) if snapshot else snapshot_dir()
    if not folder.is_dir():
        fail(f"PubMed is unreachable and there is no snapshot at {folder} (set KAPLIT_SNAPSHOT).")
    click.echo(f"PubMed is {'skipped (--offline)' if offline else 'unreachable'}: "
               f"building {db_path} from the snapshot in {folder}.")
    db = open_db(db_path)
    report = _run_ingest(db, discover([folder]), source=f"snapshot:{folder}")
    _print_ingest_summary(report, db_path)
    _retag(db)
    db.close()
    if not report.ok or report.counts.rejected:
        sys.exit(1)


@cli.command()
@DB_OPTION
@click.option("--query", default=None,
              help="PubMed query [default: the curated ketamine/KAP query, see crawler/query.py].")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Records entered or revised on or after this date [default: since the last successful crawl].")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Up to this date [default: today].")
@click.option("--eutils-url", default=None, help="E-utilities base URL [default: NCBI's].")
@click.option("--api-key", default=None, help="NCBI API key (allows 10 requests/s) [env: NCBI_API_KEY].")
@click.option("--email", default=None, help="Contact e-mail sent to NCBI [env: NCBI_EMAIL].")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=None,
              help="Records per efetch request [default: 1000].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file [default: ./kaplit.toml or ~/.config/kaplit/config.toml].")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=None,
              help="Seconds to wait for one response before retrying it [default: 120].")
@click.option("--verbose", is_flag=True, help="Show Scrapy's log (requests, retries).")
def crawl(db_path, query, since, until, eutils_url, api_key, email, batch_size, config_file, timeout, verbose):
    """Fetch PubMed records for the query into the database, politely (at most 3 requests/s,
    10 with an API key), resuming from the last successful crawl."""
    settings = _crawl_settings(locals())
    report = _run_crawl(db_path, settings, since.date() if since else None, until.date() if until else None,
                        verbose, timeout)
    if report.error:
        fail(report.error + " The database was not changed.")
    _print_crawl_summary(report, db_path)
    _retag_file(db_path)
    if report.outcome.failed_ids or report.outcome.missing_ids:
        sys.exit(1)


def _retag(db, everything=False):
    from kaplit.db.tags import retag

    with click.progressbar(length=1, label="Tagging", file=sys.stderr) as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)

        count = retag(db, everything=everything, on_progress=progress)
    click.echo(f"{count} article(s) tagged.")


def _retag_file(db_path):
    from pathlib import Path

    from kaplit.db.schema import open_db

    if Path(db_path).exists():
        db = open_db(db_path)
        _retag(db)
        db.close()


@cli.command()
@DB_OPTION
@click.option("--all", "everything", is_flag=True,
              help="Re-tag every article, not only new, revised or out-of-date ones.")
def retag(db_path, everything):
    """Tag the stored articles again (after a tagger update), without fetching anything."""
    from kaplit.db.schema import open_db

    if not Path(db_path).exists():
        fail(f"{db_path} does not exist.")
    db = open_db(db_path)
    _retag(db, everything)
    db.close()


@cli.command()
@DB_OPTION
def check(db_path):
    """Check a database file: SQLite integrity, foreign keys, full-text index; and list what the
    records themselves contradict (one ORCID given to differently named authors)."""
    from kaplit.db.release import author_conflicts
    from kaplit.db.release import check as check_db

    problems = check_db(db_path)
    for problem in problems:
        click.secho(problem, fg="red", err=True)
    if problems:
        sys.exit(1)
    for conflict in author_conflicts(db_path):
        click.secho(f"note: {conflict}; each article shows the name its record gives", fg="yellow")
    click.echo(f"{db_path}: ok")


@cli.command("publish-snapshot")
@DB_OPTION
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Folder to write to.")
def publish_snapshot(db_path, out_dir):
    """Write a compacted copy of the database with a manifest (counts per table, dates, queries,
    tagger and software versions, SHA-256) so that a researcher can cite exactly this data."""
    from kaplit.db.release import check as check_db
    from kaplit.db.release import publish

    problems = check_db(db_path)
    if problems:
        fail("; ".join(problems))
    target, manifest = publish(db_path, out_dir, __version__)
    click.echo(f"Wrote {target} and {manifest}")


@cli.command("tag")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), required=True,
              help="JSON lines with id, title, abstract (optional: publication_types, mesh, keywords, "
                   "each a list of strings).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="JSON lines to write; a file appears only once every line is tagged.")
def tag_command(input_file, output_path):
    """Tag abstracts from a JSONL file: each output line has the id, the tags with their
    evidence, and `labels` per task of the PsyNamic annotation."""
    import json

    from kaplit.pipeline.tagging.tagger import Tagger

    tagger = Tagger()
    with whole_or_nothing(output_path) as output:
        for number, line in enumerate(input_file, start=1):
            if not line.strip():
                continue
            where = f"{input_file.name} line {number}"
            try:
                row = json.loads(line)
            except ValueError as error:
                fail(f"{where}: not JSON ({error})")
            if not isinstance(row, dict) or "id" not in row:
                fail(f"{where}: not a JSON object with an id, title and abstract")
            indexed = [row.get(key) or [] for key in ("publication_types", "mesh", "keywords")]
            texts = [row.get(key) for key in ("title", "abstract")]
            if not all(isinstance(terms, list) and all(isinstance(t, str) for t in terms) for terms in indexed):
                fail(f"{where}: publication_types, mesh and keywords must be lists of strings")
            if not all(text is None or isinstance(text, str) for text in texts):
                fail(f"{where}: title and abstract must be strings")
            tagged = tagger.tag_record(*texts, *indexed)
            tags, labels = tagged.tags, tagged.labels
            output.write(json.dumps({
                "id": row["id"],
                "tags": [{"facet": t.facet, "value": t.value, "source": t.source, "matched": t.matched,
                          "start": t.start, "end": t.end, "rule": t.rule} for t in tags],
                "labels": labels,
            }, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def whole_or_nothing(path: str):
    """A text file to write that appears at `path` only once complete: written beside it as
    `.partial` and moved into place, removed if writing stops half-way. "-" is standard output."""
    if path == "-":
        yield sys.stdout
        return
    target = Path(path)
    part = target.with_name(target.name + ".partial")
    try:
        with open(part, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


@cli.command()
@click.option("--gold", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Gold labels as JSON lines (optionally gzipped), like ../shared/gold/dev.jsonl.gz.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Model file to write [default: the tagger's own, pipeline/tagging/weights/linear.json].")
@INDEXING_OPTION
def train(gold, out_file, indexing):
    """Fit the tagger's linear layer on human labels (needs scikit-learn: pip install kaplit[train]).

    Cross-validates first, keeps the layer only for the labels where it beats the rules, and
    prints the cross-validated weighted F1 (rules alone vs combined) per task, and beside it the
    nested figure (every choice made again without the records scored). Deterministic: the same
    gold file gives the same model file."""
    import json

    from kaplit.pipeline.tagging.evaluate import GoldError
    from kaplit.pipeline.tagging.linear import WEIGHTS
    from kaplit.pipeline.tagging.train import train as fit_layer

    try:
        model = fit_layer(gold, _gold_indexing(indexing))
    except ImportError as error:
        fail(f"training needs scikit-learn ({error}); install it with: pip install 'kaplit[train]'")
    except GoldError as error:
        fail(str(error))
    target = Path(out_file) if out_file else WEIGHTS
    target.parent.mkdir(parents=True, exist_ok=True)
    with whole_or_nothing(str(target)) as output:
        output.write(json.dumps(model, ensure_ascii=False, sort_keys=True) + "\n")
    nested = model["nested_cross_validated_weighted_f1"]
    for task, scores in model["cross_validated_weighted_f1"].items():
        taken = len(model["decides"].get(task, []))
        low, high = scores["combined_95"]
        click.echo(f"{task:24s} cross-validated F1: rules {scores['rules']:.3f}  combined {scores['combined']:.3f} "
                   f"(95% {low:.3f}-{high:.3f})  nested {nested[task]:.3f}  "
                   f"({taken} label(s) decided by the linear layer)")
    for design, chosen in model["cross_validated_certain_designs"].items():
        listed = model["nested_certain_designs"][design]
        click.echo(f"{design}: listed as certain from p >= {chosen['threshold']:.2f}: nested precision "
                   f"{listed['precision']:.3f} ({listed['listed']} listed, {listed['held_back']} held back; "
                   f"{listed['precision_of_all']:.3f} for all it was given)")
    click.echo(f"Wrote {target}")


@cli.command("eval")
@click.option("--gold", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Gold labels as JSON lines (optionally gzipped), like ../shared/gold/dev.jsonl.gz.")
@click.option("--per-label", is_flag=True, help="Also print every label's scores.")
@INDEXING_OPTION
def eval_command(gold, per_label, indexing):
    """Score the tagger against human labels: weighted F1, precision and recall per task."""
    from kaplit.pipeline.tagging.evaluate import GoldError, evaluate_file, trained_on

    try:
        results = evaluate_file(gold, _gold_indexing(indexing))
    except GoldError as error:
        fail(str(error))
    if not any(count for _, _, count, _ in results.values()):
        fail(f"{gold}: no record carries labels of any task")
    if trained_on(gold):
        click.secho(f"Note: the linear layer was trained on {gold}, so these scores are optimistic; "
                    f"`kaplit train --gold {gold}` prints cross-validated ones.", fg="yellow", err=True)
    for task, (weighted, labels, count, (low, high)) in results.items():
        click.echo(f"{task:24s} F1 {weighted.f1:.3f} (95% {low:.3f}-{high:.3f})  P {weighted.precision:.3f}  "
                   f"R {weighted.recall:.3f}  (n={count})")
        if per_label:
            for label, score in sorted(labels.items(), key=lambda item: -item[1].support):
                click.echo(f"    {label:40s} F1 {score.f1:.2f}  P {score.precision:.2f}  R {score.recall:.2f}  "
                           f"support {score.support}")


def _gold_indexing(folder: str | None) -> dict:
    """PMID → MeSH headings and keywords from a folder of records (the snapshot by default)."""
    from kaplit.config import snapshot_dir
    from kaplit.pipeline.parse.sources import SourceError
    from kaplit.pipeline.tagging.evaluate import indexing_by_pmid

    if folder == "":
        return {}
    if folder is None and not snapshot_dir().is_dir():
        click.secho(f"Note: no snapshot at {snapshot_dir()}: the gold records are tagged from their text alone",
                    fg="yellow", err=True)
        return {}
    try:
        return indexing_by_pmid(Path(folder) if folder else snapshot_dir())
    except SourceError as error:
        fail(f"--indexing: {error}")


def _crawl_settings(options):
    from kaplit.crawler.query import DEFAULT_QUERY
    from kaplit.settings import ConfigError, load_config, resolve

    try:
        settings = resolve(options, load_config(options.get("config_file")))
    except ConfigError as error:
        fail(f"bad config: {error}")
    settings["query"] = settings["query"] or DEFAULT_QUERY
    return settings


def _run_crawl(db_path, settings, since=None, until=None, verbose=False, timeout=None):
    from kaplit.crawler.run import plan, run_crawl

    windows = plan(db_path, settings["query"], since, until)
    bar = _Progress()
    report = run_crawl(db_path, settings["query"], settings["eutils_url"], windows,
                       api_key=settings["api_key"], email=settings["email"],
                       batch_size=settings["batch_size"], on_progress=bar.update, version=__version__,
                       verbose=verbose, timeout=timeout)
    bar.close()
    return report


class _Progress:
    """"fetched X of Y records" on one line of the terminal (silent when not a terminal)."""

    def __init__(self):
        self.shown = sys.stderr.isatty()

    def update(self, fetched, expected):
        if self.shown:
            click.echo(f"\rFetched {fetched:,} of {expected:,} records", nl=False, err=True)

    def close(self):
        if self.shown:
            click.echo("", err=True)


def _print_crawl_summary(report, db_path):
    c, o = report.counts, report.outcome
    click.echo(
        f"Crawled {db_path} in {report.seconds:.0f} s: {report.requests} requests "
        f"({report.retries} retries); {c.added} added, {c.updated} updated, {c.unchanged} unchanged, "
        f"{c.deleted} deleted; {o.skipped_known} already up to date."
    )
    lost = sorted(o.failed_ids | o.missing_ids)
    if lost:
        click.secho(f"{len(lost)} ids could not be fetched: {', '.join(map(str, lost[:50]))}"
                    + (" ..." if len(lost) > 50 else ""), fg="red", err=True)
    for window, count in o.incomplete_windows:
        click.secho(f"{window.datetype} {window.low}: {count} records on one day; only the first "
                    "10,000 could be listed.", fg="yellow", err=True)


@cli.command()
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--mutable", is_flag=True,
              help="Open the database read-write (default: immutable, never written).")
@click.option("--workers", type=click.IntRange(1, 16), default=None,
              help="Processes serving pages at once [default: one per CPU core, at most 4].")
def serve(db_path, host, port, mutable, workers):
    """Serve the database with Datasette (read-only by default)."""
    if not Path(db_path).exists():
        fail(f"{db_path} does not exist; run `kaplit build --db {db_path}` first.")
    from kaplit.db.schema import pending_migrations
    from kaplit.web.app import serve as serve_datasette

    pending = pending_migrations(db_path)
    if pending is None:
        fail(f"{db_path} is not a kaplit database; `kaplit build --db FILE` makes one.")
    if pending:
        fail(f"{db_path} was made by an older kaplit and lacks {', '.join(pending)}; "
             f"`kaplit retag --db {db_path}` brings it up to date (a served file is never written).")

    click.echo(f"Serving {db_path} at http://{host}:{port}/ (Ctrl+C to stop)")
    serve_datasette(db_path, host=host, port=port, mutable=mutable,
                    workers=workers or min(os.cpu_count() or 1, 4))


@cli.command()
@DB_OPTION
@click.option("--eutils-url", default=None, help="E-utilities base URL [default: NCBI's, or the config file's].")
@click.option("--from", "from_files", multiple=True, type=click.Path(exists=True, dir_okay=True),
              help="Ingest these PubMed XML files or folders (baseline/update files) instead of crawling.")
@click.option("--keep", type=click.IntRange(2, 100), default=3, show_default=True,
              help="Releases kept on disk, the served one included (the others are for `kaplit rollback`).")
@click.option("--every", type=str, default=None,
              help="Keep running and update again every such interval (24h, 6h, 30m), each in its own process.")
@click.option("--query", default=None, help="PubMed query [default: the curated ketamine/KAP query].")
@click.option("--api-key", default=None, help="NCBI API key (allows 10 requests/s) [env: NCBI_API_KEY].")
@click.option("--email", default=None, help="Contact e-mail sent to NCBI [env: NCBI_EMAIL].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file [default: ./kaplit.toml or ~/.config/kaplit/config.toml].")
def update(db_path, eutils_url, from_files, keep, every, query, api_key, email, config_file):
    """Bring a database up to date while it is served: build the next release beside it (a copy,
    then an incremental crawl or the files, re-tagging, summaries and checks), then switch to it
    atomically. `kaplit serve` follows the switch without a restart. A failed or interrupted
    update leaves the served release as it was. Creates the database (a first full crawl) when
    it does not exist."""
    if every:
        _update_every(_interval(every))
        return
    from kaplit.pipeline.parse.sources import discover
    from kaplit.update import UpdateFailed
    from kaplit.update import update as run_update

    settings = _crawl_settings({"eutils_url": eutils_url, "query": query, "api_key": api_key, "email": email,
                                "config_file": config_file, "batch_size": None})
    files = discover([Path(f) for f in from_files]) if from_files else None

    def crawl(release_path):
        return _run_crawl(release_path, settings)

    try:
        report = run_update(Path(db_path), crawl=crawl, files=files, keep=keep,
                            on_stage=lambda stage: click.echo(f"update: {stage}"))
    except UpdateFailed as failure:
        fail(f"{db_path}: update not switched in: {failure}")
    _print_update(db_path, report)
    if report.lost_ids:
        click.secho(f"{len(report.lost_ids)} ids could not be fetched (the next update tries again): "
                    f"{', '.join(map(str, report.lost_ids[:50]))}", fg="yellow", err=True)


def _print_update(db_path, report):
    c = report.changes
    if report.release == report.previous:
        click.echo(f"{db_path} is up to date: nothing added, revised or deleted since release {report.release} "
                   f"({report.requests} requests).")
        return
    timings = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in report.seconds.items())
    click.echo(f"{db_path} now serves release {report.release} (was {report.previous or 'none'}): "
               f"{c.get('added', 0)} added, {c.get('revised', 0)} revised, {c.get('deleted', 0)} deleted; "
               f"{report.requests} requests; {timings}.")
    if report.pruned:
        click.echo(f"Removed old release(s): {', '.join(report.pruned)}")


def _interval(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        fail(f"--every {text}: give a number and a unit, e.g. 24h, 6h or 30m")
    if seconds < 60:
        fail(f"--every {text}: at least a minute between updates")
    return seconds


def _update_every(seconds: float):
    """Run `kaplit update` (these arguments without --every) now and then every `seconds`, each in
    its own process; a failed update is reported and the next one runs on schedule."""
    import subprocess
    import time

    arguments = _without_every(sys.argv[1:])
    while True:
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "kaplit", *arguments])
        if code:
            click.secho(f"update exited with {code}; the next one runs as scheduled.", fg="yellow", err=True)
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))


def _without_every(arguments: list[str]) -> list[str]:
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--every":
            skip = True
        elif not argument.startswith("--every="):
            kept.append(argument)
    return kept


@cli.command()
@DB_OPTION
@click.option("--to", "to_release", default=None, help="The release to serve [default: the one before the current].")
def rollback(db_path, to_release):
    """Serve the previous release again (`kaplit serve` follows without a restart)."""
    from kaplit.db.releases import ReleaseError
    from kaplit.update import rollback as run_rollback

    try:
        was, now = run_rollback(Path(db_path), to_release)
    except ReleaseError as error:
        fail(str(error))
    click.echo(f"{db_path} now serves release {now} (was {was}).")


@cli.command()
@DB_OPTION
def releases(db_path):
    """List the releases of a database kept on disk, the served one marked."""
    from kaplit.db.releases import Releases, release_name

    kept = Releases(Path(db_path))
    current = kept.current()
    if not kept.all():
        click.echo(f"{db_path} has no releases yet (`kaplit update --db {db_path}` makes the first).")
    for path in kept.all():
        marker = "*" if current and path == current else " "
        click.echo(f"{marker} {release_name(path)}  {path.stat().st_size / 2**20:,.0f} MB")
