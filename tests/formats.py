"""The formats the tests run over, derived from stet's one list (``stet.formats.FORMATS``).

``FORMATS`` names one format each (``csv``, ..., ``postgresql``), ``FILE_FORMATS`` the
ones kept in files, ``TEAR`` those whose appends can be torn (their class is
``TornTails``). These are stet's own formats, taken when this module is first imported:
a format a test registers (``tsvformat``) is added by the tests that run over it.
"""

from __future__ import annotations

import importlib
import os

import stet.formats
from stet.formats.base import StoreFormat, TornTails

__all__ = ["FILE_FORMATS", "FORMATS", "TEAR", "format_class", "prelude"]


def format_class(name: str) -> type[StoreFormat]:
    """The class of a format by its name (``csv``, ``postgresql``, ``tsv``)."""
    registered = stet.formats.FORMATS
    key = f".{name}" if f".{name}" in registered else f"{name}://"
    cls = registered[key].cls
    if isinstance(cls, str):
        module, _, attribute = cls.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
    assert isinstance(cls, type)
    return cls


def prelude(store: object) -> str:
    """The line a program in a fresh interpreter needs before it opens ``store``: the
    import that registers its format, when a test module defines it ("" for stet's own)."""
    extension = os.path.splitext(str(store))[1].lower()
    registration = stet.formats.FORMATS.get(extension)
    if registration is None or isinstance(registration.cls, str):
        return ""
    return f"import {registration.cls.__module__}\n"


FORMATS = stet.formats.format_names()
FILE_FORMATS = stet.formats.format_names(urls=False)
TEAR = [name for name in FILE_FORMATS if issubclass(format_class(name), TornTails)]
