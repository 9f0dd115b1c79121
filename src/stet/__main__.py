"""``python -m stet``: the ``stet`` command line (see ``stet.cli``)."""

from .cli import main

raise SystemExit(main())
