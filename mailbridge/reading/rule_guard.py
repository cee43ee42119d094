"""One reading rule's failure must not lose the other fields: :func:`guard`.

Why a module of its own: the field reader (``fields.py``) and the reading of the last sighting
and the return (``seen_and_returned.py``) run many small rules over hostile text, and each rule
is run through the same guard, so a rule that raises on odd input yields "not stated" for its
own fact only. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def guard(fn: Callable[[], T], default: T) -> T:
    """``fn()``, or ``default`` when it raises."""
    try:
        return fn()
    except Exception:  # one bad rule must not lose the other fields
        return default
