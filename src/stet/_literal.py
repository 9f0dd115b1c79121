"""Read the Python-literal text of containers and arrays back into plain values.

The writer is ``_values``'s (``text_of``). Imported only when a cell holds such text, so
``import stet`` does not load ``ast``.
"""

from __future__ import annotations

import ast
import math

from ._plain import ArrayValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._plain import Plain

__all__ = ["read_literal", "read_result_literal"]


def read_literal(text: str) -> Plain:
    """The plain value a literal cell holds; ``ValueError`` or ``SyntaxError`` if none."""
    plain: Plain = _read_literal(ast.parse(text, mode="eval").body)
    return plain


def read_result_literal(text: str) -> Any:
    """A result cell's literal: as :func:`read_literal`, but lists stay lists."""
    return _read_literal(ast.parse(text, mode="eval").body, lists=True)


_NAMED_FLOATS = {"nan": math.nan, "inf": math.inf}
_NAMED_CONSTANTS: dict[str, Plain] = {"None": None, "True": True, "False": False}


def _read_literal(node: ast.expr, lists: bool = False) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | None):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _NAMED_FLOATS:
            return _NAMED_FLOATS[node.id]
        if node.id in _NAMED_CONSTANTS:
            return _NAMED_CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _read_literal(node.operand, lists)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.List) and lists:
        return [_read_literal(item, lists) for item in node.elts]
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_read_literal(item, lists) for item in node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {
            _read_literal(k, lists): _read_literal(v, lists)  # type: ignore[arg-type]
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "array"
        and len(node.args) == 1
    ):
        return _read_array(node)
    raise ValueError(f"not a stet literal: {ast.unparse(node)}")


def _read_array(node: ast.Call) -> ArrayValue:
    nested = _read_literal(node.args[0])
    shape: list[int] = []
    probe: Plain = nested
    while isinstance(probe, tuple):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    for keyword in node.keywords:
        if keyword.arg != "shape":
            raise ValueError("unknown array() keyword")
        given = _read_literal(keyword.value)
        if not isinstance(given, tuple):
            raise ValueError("array shape must be a tuple")
        shape = [int(n) for n in given]
    flat: list[Plain] = []

    def collect(item: Plain, depth: int) -> None:
        if depth == len(shape):
            flat.append(item)
            return
        if not isinstance(item, tuple) or len(item) != shape[depth]:
            raise ValueError("ragged array literal")
        for sub in item:
            collect(sub, depth + 1)

    if math.prod(shape) == 0:
        return ArrayValue(tuple(shape), ())
    collect(nested, 0)
    return ArrayValue(tuple(shape), tuple(flat))
