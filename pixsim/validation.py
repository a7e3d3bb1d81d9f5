"""Argument checks for pixsim's entry points: each fails with a ValueError naming the argument,
the value received and what was expected.

pixsim checks values where they come in: ``TrainConfig.validate`` (command line, papermill, YAML),
profiles, the robustness specs and the public functions a user calls directly. Calls between
pixsim's own modules pass values that were checked there and are not checked again.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

__all__ = ["int_at_least", "finite_number"]


def int_at_least(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not bool) ``>= minimum``.

    Raises:
        ValueError: ``"<name> must be an integer >= <minimum>, got <value!r>"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def finite_number(value: Any, name: str, expected: str = "a finite number",
                  accept: Callable[[float], bool] | None = None) -> float:
    """``value`` as a ``float`` if it is a finite real number (not bool) that ``accept`` (if
    given) takes.

    Raises:
        ValueError: ``"<name> must be <expected>, got <value!r>"``.
    """
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (accept is None or accept(float(value))))
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)
