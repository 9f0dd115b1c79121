"""What every entry point of stet takes when it is not told otherwise."""

from __future__ import annotations

__all__ = ["DEFAULT_STORE"]

DEFAULT_STORE = "_stet_store.csv"  # in the working directory
