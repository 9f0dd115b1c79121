"""The outside-in tests import ``outside`` (tests/outside.py) and the shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
