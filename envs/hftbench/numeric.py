"""What counts as a number in HFTBench's configuration, orders and actions.

NumPy scalars are numbers (``np.float32(50.0)``, ``np.int64(100)``); booleans are not, although
Python's ``bool`` subclasses ``int``: ``short_limit_shares=True`` is a mistake, not a 1.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def is_real(value: object) -> bool:
    """``True`` for a finite real number (Python or NumPy), ``False`` for bools, NaN and infinities."""
    return (
        isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) and math.isfinite(value)  # type: ignore[arg-type]
    )


def is_integer(value: object) -> bool:
    """``True`` for an integer (Python or NumPy), ``False`` for bools and for floats, even ``2.0``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def as_decimal_float(value: float) -> float:
    """``value`` as the Python float of its shortest decimal form in its own precision.

    ``np.float32(100.01)`` is 100.01000213623047 as a Python float, 0.02 ticks off a 0.01 grid;
    its shortest decimal form (``"100.01"``) is what the caller meant.
    """
    if isinstance(value, np.floating) and value.dtype != np.float64:
        return float(np.format_float_positional(value, unique=True, trim="-"))
    return float(value)
