"""Store formats, one module each, chosen by the store path's extension."""

from __future__ import annotations

import importlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import StoreFormat

__all__ = ["FORMATS", "SCHEMES", "is_url", "open_format", "redacted"]

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
    """A location as messages may show it: a URL without its password.

    The password goes from the user part (``user:secret@host``, any number of hosts)
    and from the query (``?password=secret``).
    """
    if not is_url(location):
        return location
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(location)
    user, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}{at}{hosts}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = parts.query
    if any(key == "password" for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs if key != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


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
