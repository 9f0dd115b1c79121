"""Store formats, one module each, chosen by the store path's extension."""

from __future__ import annotations

import importlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import StoreFormat

__all__ = ["FORMATS", "open_format"]

# extension -> (module, class, the extra that installs what it needs, or "")
FORMATS: dict[str, tuple[str, str, str]] = {
    ".csv": ("csvfile", "CsvFile", ""),
    ".jsonl": ("jsonlines", "JsonLinesFile", ""),
    ".json": ("jsonarray", "JsonArrayFile", ""),
    ".sqlite": ("sqlitefile", "SqliteFile", ""),
    ".db": ("sqlitefile", "SqliteFile", ""),
    ".parquet": ("parquetdir", "ParquetDir", "parquet"),
}


def open_format(path: str, name: str) -> StoreFormat:
    """The format object for a store path, by its extension."""
    extension = os.path.splitext(path)[1].lower()
    try:
        module_name, class_name, extra = FORMATS[extension]
    except KeyError:
        supported = ", ".join(FORMATS)
        raise ValueError(
            f"stet cannot tell the format of the store {name!r}: its extension "
            f"{extension or '(none)'} is not one stet knows. Use one of: {supported}"
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
