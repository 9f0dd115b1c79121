"""Store formats, one module each, chosen by the store path's extension."""

from __future__ import annotations

import importlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import StoreFormat

__all__ = ["FORMATS", "SCHEMES", "is_url", "open_format", "redacted", "url_passwords"]

# extension -> (module, class, the extra that installs what it needs, or "")
FORMATS: dict[str, tuple[str, str, str]] = {
    ".csv": ("csvfile", "CsvFile", ""),
    ".jsonl": ("jsonlines", "JsonLinesFile", ""),
    ".json": ("jsonarray", "JsonArrayFile", ""),
    ".sqlite": ("sqlitefile", "SqliteFile", ""),
    ".db": ("sqlitefile", "SqliteFile", ""),
    ".parquet": ("parquetdir", "ParquetDir", "parquet"),
}
# URL scheme -> the same, for stores on a server
SCHEMES: dict[str, tuple[str, str, str]] = {
    "postgresql": ("postgres", "PostgresTable", "postgres"),
    "postgres": ("postgres", "PostgresTable", "postgres"),
}


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
        scheme = path.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            raise ValueError(
                f"stet cannot open the store {name!r}: it knows no {scheme}:// stores. "
                f"Use a file path, or one of: {', '.join(f'{s}://' for s in SCHEMES)}"
            )
        module_name, class_name, extra = SCHEMES[scheme]
        extension = f"{scheme}://"
    else:
        extension = os.path.splitext(path)[1].lower()
        try:
            module_name, class_name, extra = FORMATS[extension]
        except KeyError:
            supported = ", ".join(FORMATS)
            raise ValueError(
                f"stet cannot tell the format of the store {name!r}: its extension "
                f"{extension or '(none)'} is not one stet knows. Use one of: {supported}, "
                "or a postgresql:// URL"
            ) from None
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as error:
        if not extra or error.name == f"{__name__}.{module_name}":
            raise
        raise ImportError(
            f"stet needs {error.name} for {extension} stores like {name!r}, and it is not "
            f'installed. Install it with: pip install "stet[{extra}]"',
            name=error.name,
        ) from None
    format_class: type[StoreFormat] = getattr(module, class_name)
    return format_class(path, name)
