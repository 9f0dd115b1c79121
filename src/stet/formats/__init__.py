"""Store formats, one module each, chosen by the store path's extension or URL scheme.

``FORMATS`` is the one list of formats: ``open_format``, the command line's help, the
docs' test and the tests' format lists all derive from it. A format is a
:class:`~stet.formats.base.StoreFormat`; :func:`register` adds one::

    stet.formats.register(".tsv", TsvFile)
"""

from __future__ import annotations

import importlib
import os
from typing import NamedTuple

from .base import StoreFormat

__all__ = [
    "FORMATS",
    "Registration",
    "extensions",
    "format_names",
    "is_url",
    "open_format",
    "redacted",
    "register",
    "url_passwords",
]


class Registration(NamedTuple):
    """One registered format: what opens the stores of one extension or URL scheme."""

    extension: str  # ".csv", or a URL scheme with its "://": "postgresql://"
    cls: type[StoreFormat] | str  # the class, or "module:Class" to import on first use
    extra: str  # the extra that installs what it needs ("stet[parquet]"), or ""


# extension or "scheme://" -> its registration, in the order registered
FORMATS: dict[str, Registration] = {}


def register(extension: str, cls: type[StoreFormat] | str, extra: str = "") -> None:
    """Open the stores whose path ends in ``extension`` (``".tsv"``), or whose URL has
    the scheme ``extension`` (``"duckdb://"``), with the format ``cls``.

    ``cls`` is a :class:`~stet.formats.base.StoreFormat` subclass, or ``"module:Class"``
    to import when a store of that format is first opened; ``extra`` names the
    package extra that installs what that import needs (for its message). Registering
    an extension again replaces its format.
    """
    key = extension.lower()
    if not (key.startswith(".") and len(key) > 1) and not key.endswith("://"):
        raise ValueError(
            f"stet.formats.register: {extension!r} is neither an extension ('.tsv') nor "
            "a URL scheme ('duckdb://')"
        )
    if isinstance(cls, str) and ":" not in cls:
        raise ValueError(f"stet.formats.register: {cls!r} is not 'module:Class'")
    FORMATS[key] = Registration(key, cls, extra)


def extensions(urls: bool = True) -> list[str]:
    """Every registered extension (``.csv``, ``.db``, ...), then, with ``urls``, every
    URL scheme (``postgresql://``), in the order registered."""
    return [key for key in FORMATS if urls or not key.endswith("://")]


def format_names(urls: bool = True) -> list[str]:
    """One name per registered format, its first extension or scheme without the dot
    or ``://`` (``csv``, ..., ``postgresql``); ``urls=False``: file formats only."""
    names: dict[object, str] = {}
    for key, registration in FORMATS.items():
        if urls or not key.endswith("://"):
            names.setdefault(registration.cls, key.strip(".").removesuffix("://"))
    return list(names.values())


_HERE = __name__
register(".csv", f"{_HERE}.csvfile:CsvFile")
register(".jsonl", f"{_HERE}.jsonlines:JsonLinesFile")
register(".json", f"{_HERE}.jsonarray:JsonArrayFile")
register(".sqlite", f"{_HERE}.sqlitefile:SqliteFile")
register(".db", f"{_HERE}.sqlitefile:SqliteFile")
register(".parquet", f"{_HERE}.parquetdir:ParquetDir", "parquet")
register("postgresql://", f"{_HERE}.postgres:PostgresTable", "postgres")
register("postgres://", f"{_HERE}.postgres:PostgresTable", "postgres")


def is_url(location: str) -> bool:
    """Whether a store location is a server's URL (``postgresql://...``), not a path."""
    return "://" in location


def redacted(location: str) -> str:
    """A location as messages may show it: a URL without its passwords.

    This is stet's one redaction of a store's location: every message, status line,
    ``repr`` and exception that names a store shows it through here. The password goes
    from the user part (``user:secret@host``, any number of hosts, also when the
    password holds an ``@``, ``/``, ``?`` or ``#`` the URL should have percent-encoded)
    and from the query (``?password=secret``, ``sslpassword=``, however its key is
    spelled or percent-encoded). A location that is not a URL but holds libpq's
    ``password=secret`` shows ``password=***``.
    """
    if not is_url(location):  # a path; or libpq's form, "host=db password=secret", mistaken for one
        if "password" not in location.lower():
            return location
        import re

        return re.sub(_LIBPQ_PASSWORD, r"\1***", location, flags=re.IGNORECASE)
    scheme, _, rest = location.partition("://")
    user, password, after = _credentials(rest)
    if password:
        rest = f"{user}{after}"
    head, question, query = rest.partition("?")
    if question:
        kept = [p for p in query.split("&") if _query_key(p) not in _SECRET_PARAMETERS]
        rest = f"{head}?{'&'.join(kept)}" if kept else head
    return f"{scheme}://{rest}"


_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
# a password in libpq's key=value form: the keyword, then a word or a quoted value
_LIBPQ_PASSWORD = r"(?<!\S)((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)"


def url_passwords(location: str) -> tuple[str, list[str]]:
    """A URL's passwords as it spells them (percent-encoded): its user part's ("" when it
    has none), and its query's (``password=``, ``sslpassword=``)."""
    user, password, after = _credentials(location.partition("://")[2])
    query = (after or user).partition("?")[2]  # without a password, user is all of it
    pairs = [p.partition("=") for p in query.split("&")]
    return password[1:], [value for key, _, value in pairs if _query_key(key) in _SECRET_PARAMETERS]


def _credentials(rest: str) -> tuple[str, str, str]:
    """A URL's text after ``scheme://`` as (user, ``:password`` or "", ``@host...``).

    The credentials end at the last ``@`` before the query that follows the first ``@``:
    a password may hold ``@``, ``/``, ``?`` or ``#`` as is, and a query value may hold an
    ``@``. A part before that ``@`` without a ``:`` holds no password.
    """
    first = rest.find("@")
    if first < 0:
        return rest, "", ""
    question = rest.find("?", first)
    at = rest.rfind("@", 0, question if question >= 0 else len(rest))
    user, colon, password = rest[:at].partition(":")
    if not colon:
        return rest, "", ""
    return user, f":{password}", rest[at:]


def _query_key(segment: str) -> str:
    from urllib.parse import unquote

    return unquote(segment.partition("=")[0]).strip().lower()


def open_format(path: str, name: str) -> StoreFormat:
    """The format object for a store path, by its extension, or a URL, by its scheme."""
    if is_url(path):
        key = path.split("://", 1)[0].lower() + "://"
        if key not in FORMATS:
            schemes = [k for k in FORMATS if k.endswith("://")]
            raise ValueError(
                f"stet cannot open the store {name!r}: it knows no {key} stores. "
                f"Use a file path, or one of: {', '.join(schemes)}"
            )
    else:
        key = os.path.splitext(path)[1].lower()
        if key not in FORMATS:
            supported = ", ".join(extensions(urls=False))
            raise ValueError(
                f"stet cannot tell the format of the store {name!r}: its extension "
                f"{key or '(none)'} is not one stet knows. Use one of: {supported}, "
                "or a postgresql:// URL"
            )
    _, cls, extra = FORMATS[key]
    if isinstance(cls, str):
        cls = _imported(cls, key, extra, name)
    return cls(path, name)


def _imported(target: str, key: str, extra: str, name: str) -> type[StoreFormat]:
    """The class ``module:Class`` names; a clear error when its extra is not installed."""
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if not extra or error.name == module_name:
            raise
        raise ImportError(
            f"stet needs {error.name} for {key} stores like {name!r}, and it is not "
            f'installed. Install it with: pip install "stet[{extra}]"',
            name=error.name,
        ) from None
    cls: type[StoreFormat] = getattr(module, class_name)
    return cls
