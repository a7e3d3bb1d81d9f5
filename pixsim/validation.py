"""Argument checks shared across pixsim: each fails with a ValueError naming the argument, the
value received and what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np


def int_at_least(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not bool) ``>= minimum``.

    Raises:
        ValueError: ``"<name> must be an integer >= <minimum>, got <value!r>"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
