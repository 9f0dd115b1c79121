"""The example from stet's announcement, as a script.

    python examples/quickstart.py

It makes ``_stet_store.csv`` in the current directory (with two small files beside it,
``_stet_store.csv.lock`` and ``_stet_store.csv.owner``) and prints what the announcement
shows. Each call sleeps for 1 s, standing in for a real calculation; set the environment
variable ``STET_QUICKSTART_SLEEP`` (in seconds, e.g. ``0.1``) for a shorter one.
"""

import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import stet

SLEEP = float(os.environ.get("STET_QUICKSTART_SLEEP", "1"))
STORE = Path(stet.DEFAULT_STORE)  # "_stet_store.csv", where @stet.once records by default
COLUMNS = "alpha,beta,_stet_timestamp"


def start_clean() -> None:
    """Remove a store left here by an earlier run of this script, so the first loop runs.

    A store with other columns is somebody's real work: leave it alone and stop.
    """
    if not STORE.exists():
        return
    with STORE.open(encoding="utf-8") as file:
        header = file.readline().strip()
    if header not in ("", COLUMNS):
        sys.exit(
            f"quickstart: {STORE} here holds other runs (columns {header}); "
            "run the quickstart in another directory"
        )
    STORE.unlink()
    Path(f"{STORE}.owner").unlink(missing_ok=True)


def wall_time(seconds: float) -> str:
    """Elapsed time as Jupyter's %%time shows it: ``4.05 s``, ``5.67 ms``."""
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1000:.3g} ms"


start_clean()


@stet.once
def calculation(alpha, beta):
    time.sleep(SLEEP)


parameter_space = list(itertools.product(np.linspace(0, 1, 2), repeat=2))


def sweep() -> None:
    """The announcement's loop, timed."""
    start = time.perf_counter()
    for alpha, beta in parameter_space:
        calculation(alpha, beta)
    print(f"Wall time: {wall_time(time.perf_counter() - start)}")


# The first run calls calculation four times.
sweep()

# Running again, stet skips the values that have been run once.
sweep()

# Resetting clears the store, so everything runs again. (From a terminal, a plain
# stet.reset() asks "Clear all 4 runs from _stet_store.csv? [y/N]" first; the
# quickstart says confirm=False so it runs straight through, as in a notebook.)
stet.reset(confirm=False)
sweep()

# The store is a readable CSV file.
df = pd.read_csv("_stet_store.csv")
print(df)

# For long experiments, check how far it has got.
stet.status()
