"""Sub-commands other than train; each imports its heavy modules only when it runs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the non-training sub-commands to the `colorgan` parser."""
