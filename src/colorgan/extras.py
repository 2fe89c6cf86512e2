"""Optional parts (the pip extras): a missing one is a one-line error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ValueError):
    """An optional dependency is not installed."""


def import_extra(module: str, extra: str, what: str) -> ModuleType:
    """`module`, or MissingExtra naming `what` needs it and the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{what} needs {module}: pip install 'colorgan[{extra}]'") from None
