"""A sweep's grid: its combinations, each with the key of the run it is.

A grid is a dict of axes (``{"alpha": [0.1, 0.2], "seed": range(3)}``: every combination,
the first axis varying slowest, as in nested loops) or an iterable of dicts (explicit
combinations). Keys of a dict of axes are built from the keys of each axis value,
computed once per value, so scanning a grid of a million points for what is not done
yet takes a fraction of a second.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Mapping

from ._values import UnsupportedValueError, key_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Iterator, Sequence
    from typing import Any

    # a combination's values (in grid order, or as the dict the grid listed) and its key
    Pair = tuple[tuple[Any, ...] | Mapping[str, Any], bytes]

__all__ = ["Grid"]


class Grid:
    """The combinations of a grid, for a function whose key is ``key_names``.

    Args:
        grid: a dict of axes or an iterable of dicts.
        owner: how errors name the caller (``stet.sweep(simulate)``).
        parameters: the names a combination may give (None: any).
        required: parameters without a default, which every combination must give.
        key_names: the parameters that identify a run, in key order.
        default_keys: each key parameter's default's key (None: no default).
    """

    def __init__(
        self,
        grid: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]],
        owner: str,
        parameters: Sequence[str] | None,
        required: Sequence[str],
        key_names: Sequence[str],
        default_keys: Sequence[bytes | None],
    ) -> None:
        self.owner = owner
        self.parameters = parameters
        self.required = required
        self.key_names = tuple(key_names)
        self.default_keys = tuple(default_keys)
        if isinstance(grid, Mapping):
            self.axes: list[tuple[str, list[Any]]] | None = [
                (name, self._axis(name, values)) for name, values in grid.items()
            ]
            self._axis_names = [name for name, _ in self.axes]
            self._check_names(self._axis_names)
            self.combinations: list[Mapping[str, Any]] = []
        elif isinstance(grid, Iterable) and not isinstance(grid, str | bytes):
            self.axes = None
            self._axis_names = []
            self.combinations = list(grid)
            for combination in self.combinations:
                if not isinstance(combination, Mapping):
                    raise TypeError(
                        f"{owner}: a grid given as a list holds dicts of parameter values, "
                        f"not {combination!r}; or give a dict of axes, "
                        "{'alpha': [0.1, 0.2], 'seed': range(3)}"
                    )
                self._check_names(list(combination))
        else:
            raise TypeError(
                f"{owner}: the grid is a dict of axes ({{'alpha': [0.1, 0.2], 'seed': "
                f"range(3)}}) or a list of dicts of parameter values, not {grid!r}"
            )

    @property
    def names(self) -> list[str]:
        """Every parameter the grid gives, in order of first appearance."""
        if self.axes is not None:
            return [name for name, _ in self.axes]
        seen: dict[str, None] = {}
        for combination in self.combinations:
            seen.update(dict.fromkeys(combination))
        return list(seen)

    def scan(self, done: Container[bytes]) -> tuple[int, list[Pair]]:
        """How many distinct runs the grid holds, and those whose key is not in ``done``.

        Each run left is ``(values, key)``; :meth:`kwargs` makes its keyword arguments.
        A run that the grid gives twice (an axis outside the key, a repeated value)
        counts once, as its first combination.
        """
        if self.axes is None:
            runs = list(self._listed_runs())
            return len(runs), [run for run in runs if run[1] not in done]
        return self._scan_axes(self.axes, done)

    def kwargs(self, values: tuple[Any, ...] | Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a combination that :meth:`scan` gave."""
        if isinstance(values, Mapping):
            return dict(values)
        return dict(zip(self._axis_names, values, strict=True))

    def _axis(self, name: str, values: Any) -> list[Any]:
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise TypeError(
                f"{self.owner}: grid axis {name!r} must be a list of values, not {values!r}; "
                f"for a single value write [{values!r}]"
            )
        return list(values)

    def _check_names(self, names: list[str]) -> None:
        parameters = self.parameters
        if parameters is not None:
            unknown = [n for n in names if n not in parameters]
            if unknown:
                raise ValueError(
                    f"{self.owner}: the grid names {', '.join(map(repr, unknown))}, which "
                    f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'}; "
                    f"its parameters are: {', '.join(parameters) or '(none)'}"
                )
        missing = [n for n in self.required if n not in names]
        if missing:
            raise TypeError(
                f"{self.owner}: the grid gives no value for {', '.join(map(repr, missing))}, "
                f"which {'has' if len(missing) == 1 else 'have'} no default; add "
                f"{'it' if len(missing) == 1 else 'them'} to the grid"
            )

    def _key_part(self, name: str, value: Any) -> bytes:
        try:
            return key_of(value)
        except UnsupportedValueError as error:
            raise TypeError(
                f"{self.owner}: grid value {value!r} of {name!r} cannot be part of a run's "
                f"key: {error}. Leave {name!r} out of the key with "
                f"@stet.once(ignore=[{name!r}]), or give values stet compares exactly "
                "(numbers, strings, bools, None, tuples, lists, dicts, NumPy arrays, enums, "
                "paths, dates, dataclasses)"
            ) from None

    def _default_key(self, position: int) -> bytes:
        default = self.default_keys[position]
        if default is None:
            name = self.key_names[position]
            raise TypeError(
                f"{self.owner}: the grid gives no value for {name!r}, which has no default "
                "stet can compare; add it to the grid"
            )
        return default

    def _scan_axes(
        self, axes: list[tuple[str, list[Any]]], done: Container[bytes]
    ) -> tuple[int, list[Pair]]:
        """:meth:`scan` of a dict of axes, looping in C where no run repeats."""
        names = [name for name, _ in axes]
        parts: list[list[bytes]] = []
        for name, values in axes:
            if name in self.key_names:
                parts.append([self._key_part(name, v) for v in values])
            else:
                parts.append([b""] * len(values))  # not part of the key
        # the key joins the parts in key order; parameters left to their default add theirs
        order: list[int] = []
        for position, name in enumerate(self.key_names):
            if name in names:
                order.append(names.index(name))
            else:
                order.append(len(parts))
                parts.append([self._default_key(position)])  # one value: the order holds
        keys: Iterator[bytes]
        if not order:
            keys = itertools.repeat(b"", math.prod(map(len, parts)))  # no key: one run
        elif len(order) == 1:
            keys = map(operator.itemgetter(order[0]), itertools.product(*parts))
        else:
            keys = map(b"".join, map(operator.itemgetter(*order), itertools.product(*parts)))
        combinations = itertools.product(*[values for _, values in axes])
        # a run repeats only when an axis is not part of the key, or repeats a value
        repeats = len(parts) > len(order) or any(
            len(set(parts[i])) < len(parts[i]) for i in set(order)
        )
        if repeats:
            total = 0
            pending = []
            for total, pair in enumerate(_unique(zip(combinations, keys, strict=True)), 1):  # noqa: B007
                if pair[1] not in done:
                    pending.append(pair)
            return total, pending
        listed = list(keys)
        left = map(operator.not_, map(done.__contains__, listed))
        return len(listed), list(itertools.compress(zip(combinations, listed, strict=True), left))

    def _listed_runs(self) -> Iterator[Pair]:
        seen: set[bytes] = set()
        for combination in self.combinations:
            parts = []
            for position, name in enumerate(self.key_names):
                if name in combination:
                    parts.append(self._key_part(name, combination[name]))
                else:
                    parts.append(self._default_key(position))
            key = b"".join(parts)
            if key not in seen:
                seen.add(key)
                yield combination, key


def _unique(pairs: Iterator[Pair]) -> Iterator[Pair]:
    seen: set[bytes] = set()
    for pair in pairs:
        if pair[1] not in seen:
            seen.add(pair[1])
            yield pair
