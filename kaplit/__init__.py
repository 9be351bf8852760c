"""kaplit: a living evidence base for ketamine and ketamine-assisted psychotherapy research."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kaplit")
except PackageNotFoundError:  # running from a source tree that was not pip-installed
    __version__ = "0.0.0+source"
