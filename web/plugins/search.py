"""Search that accepts what people type (web/search.py): Datasette's table search and the
`search` canned query both call the SQL function `escape_fts`, which kaplit defines as its own
`fts_query`; an FTS5 query that still cannot run (`_searchmode=raw`) gets a message saying what to
change."""

from datasette import hookimpl
from datasette.handle_exception import handle_exception as default_handler
from datasette.views.base import DatasetteError

from kaplit.web.search import fts_query

RAW_SEARCH_HINT = (
    "The search could not run: {error}. With _searchmode=raw the words are read as FTS5 query "
    "syntax; leave _searchmode out to search for the words as typed.")


@hookimpl(trylast=True)  # after Datasette's own escape_fts, so that this one is the one defined
def prepare_connection(conn):
    conn.create_function("escape_fts", 1, fts_query, deterministic=True)


@hookimpl(tryfirst=True)
def handle_exception(datasette, request, exception):
    if (isinstance(exception, DatasetteError) and "_search" in "".join(request.args)
            and str(exception.message).startswith(("fts5:", "unterminated string", "no such column"))):
        error = str(exception.message).removeprefix("fts5: ")
        friendly = DatasetteError(RAW_SEARCH_HINT.format(error=error), title="Search not understood",
                                  status=400)
        return default_handler(datasette, request, friendly)
    return None
