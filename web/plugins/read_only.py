"""No write endpoints: every request other than GET, HEAD or OPTIONS is refused with 405
before Datasette sees it (Datasette itself answers some POSTs with a server error, and its
canned queries accept POST)."""

from datasette import hookimpl

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MESSAGE = b"This kaplit site is read-only.\n"


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def read_only(scope, receive, send):
            if scope["type"] != "http" or scope["method"] in READ_METHODS:
                return await app(scope, receive, send)
            await send({"type": "http.response.start", "status": 405, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"GET, HEAD, OPTIONS")]})
            await send({"type": "http.response.body", "body": MESSAGE})

        return read_only

    return wrap
